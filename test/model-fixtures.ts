import * as tf from '@tensorflow/tfjs';
import { createTransformer, sequenceLoss, type Transformer, type TransformerConfigInput } from '../src/index.js';
import { randomArray, rng } from './helpers.js';

/** A model small enough for finite differences on the pure-JS backend. */
export const TINY: TransformerConfigInput = {
  srcVocabSize: 7,
  tgtVocabSize: 6,
  dModel: 8,
  numHeads: 2,
  numEncoderLayers: 1,
  numDecoderLayers: 1,
  dFF: 12,
  dropout: 0,
  maxLen: 8,
};

/** A fixed batch with padding in both source and target (pad = 0). */
export function tinyBatch() {
  return {
    src: [
      [3, 4, 5, 6, 0],
      [2, 2, 6, 0, 0],
    ],
    tgtIn: [
      [1, 3, 4, 5],
      [1, 2, 0, 0],
    ],
    tgtOut: [
      [3, 4, 5, 2],
      [2, 2, 0, 0],
    ],
  };
}

/** Replace every weight with seeded random values (biases and norms included). */
export function randomizeWeights(model: Transformer, seed: number, scale = 0.5): void {
  const random = rng(seed);
  for (const [, v] of model.namedWeights()) {
    const t = tf.tidy(() => tf.mul(tf.tensor(randomArray(v.shape as number[], random) as number[], v.shape as number[]), scale));
    v.write(t);
    t.dispose();
  }
}

/** The loss of the tiny batch as a scalar (label smoothing on, to cover it). */
export function tinyLoss(model: Transformer): tf.Scalar {
  const b = tinyBatch();
  return tf.tidy(() => {
    const src = tf.tensor2d(b.src, undefined, 'int32');
    const tgtIn = tf.tensor2d(b.tgtIn, undefined, 'int32');
    const tgtOut = tf.tensor2d(b.tgtOut, undefined, 'int32');
    return sequenceLoss(model.forward(src, tgtIn), tgtOut, { labelSmoothing: 0.1 });
  });
}

export function tinyModel(overrides: Partial<TransformerConfigInput> = {}, seed = 3): Transformer {
  const model = createTransformer({ ...TINY, ...overrides }, { seed });
  randomizeWeights(model, seed + 100);
  return model;
}

/** Analytic gradients of `f` with respect to every weight, by weight path. */
export function analyticGradients(model: Transformer, f: () => tf.Scalar): Map<string, number[]> {
  const named = model.namedWeights();
  const vars = named.map(([, v]) => v.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(f, vars);
  const out = new Map<string, number[]>();
  for (const [path, v] of named) out.set(path, Array.from(grads[(v.read() as tf.Variable).name]!.dataSync()));
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}
