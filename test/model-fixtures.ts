import * as tf from '@tensorflow/tfjs';
import {
  createModel,
  createTransformer,
  sequenceLoss,
  type ClassificationBatch,
  type DecoderOnly,
  type EncoderOnly,
  type LanguageModelBatch,
  type MaskedLanguageModelBatch,
  type Transformer,
  type TransformerConfigInput,
} from '../src/index.js';
import type { DecoderConfigInput, EncoderConfigInput } from '../src/config.js';
import { randomArray, rng } from './helpers.js';

/** Anything with named weights: a layer or a model of any family. */
interface HasWeights {
  namedWeights(): [string, tf.LayerVariable][];
}

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
export function randomizeWeights(model: HasWeights, seed: number, scale = 0.5): void {
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

/** Analytic gradients of `f` with respect to every weight, by weight path (zeros where f does not reach a weight). */
export function analyticGradients(model: HasWeights, f: () => tf.Scalar): Map<string, number[]> {
  const named = model.namedWeights();
  const vars = named.map(([, v]) => v.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(f, vars);
  const out = new Map<string, number[]>();
  for (const [path, v] of named) {
    const g = grads[(v.read() as tf.Variable).name];
    out.set(path, g === undefined ? new Array<number>(v.read().size).fill(0) : Array.from(g.dataSync()));
  }
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

/** A decoder-only model small enough for finite differences (vocabulary 9, pad 0, bos 1, eos 2). */
export const TINY_DECODER = { arch: 'decoder', vocabSize: 9, dModel: 8, numHeads: 2, numLayers: 1, dFF: 12, dropout: 0, maxLen: 8 } as const;

/** An encoder-only model small enough for finite differences, with a 3-class [CLS] classifier; id 8 is [MASK]. */
export const TINY_ENCODER = { arch: 'encoder', vocabSize: 9, dModel: 8, numHeads: 2, numLayers: 1, dFF: 12, dropout: 0, maxLen: 8, numClasses: 3 } as const;

export function tinyDecoder(overrides: Partial<Omit<DecoderConfigInput, 'arch'>> = {}, seed = 3): DecoderOnly {
  const model = createModel({ ...TINY_DECODER, ...overrides });
  randomizeWeights(model, seed + 100);
  return model;
}

export function tinyEncoder(overrides: Partial<Omit<EncoderConfigInput, 'arch'>> = {}, seed = 3): EncoderOnly {
  const model = createModel({ ...TINY_ENCODER, ...overrides });
  randomizeWeights(model, seed + 100);
  return model;
}

/**
 * A causal LM batch written out by hand: [bos 3 4 | 5 6 7 eos] with the prompt "3 4" not scored,
 * and [bos | 3 5 eos] padded. targets[t] is the id after input[t]; 0 (pad) where nothing is scored.
 */
export function tinyLanguageModelBatch(): LanguageModelBatch {
  return {
    kind: 'lm',
    ids: tf.tensor2d([[1, 3, 4, 5, 6, 7], [1, 3, 5, 0, 0, 0]], undefined, 'int32'),
    targets: tf.tensor2d([[0, 0, 5, 6, 7, 2], [3, 5, 2, 0, 0, 0]], undefined, 'int32'),
  };
}

/** A masked-LM batch by hand: [CLS] … eos with [MASK] (8) or a swapped token at the scored positions, and padding. */
export function tinyMaskedBatch(): MaskedLanguageModelBatch {
  return {
    kind: 'masked-lm',
    ids: tf.tensor2d([[1, 7, 8, 3, 4, 2], [1, 5, 8, 6, 2, 0]], undefined, 'int32'),
    targets: tf.tensor2d([[0, 0, 6, 0, 5, 0], [0, 0, 3, 0, 0, 0]], undefined, 'int32'),
  };
}

/** A classification batch by hand: [CLS] … eos, padded, with labels 2 and 0. */
export function tinyClassificationBatch(): ClassificationBatch {
  return {
    kind: 'classify',
    ids: tf.tensor2d([[1, 7, 3, 4, 2], [1, 5, 6, 2, 0]], undefined, 'int32'),
    labels: tf.tensor1d([2, 0], 'int32'),
  };
}
