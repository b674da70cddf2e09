import * as tf from '@tensorflow/tfjs';
import type { DecoderConfigInput } from '../src/config.js';
import { createModel, type DecoderOnly, type Model } from '../src/index.js';
import { randomArray, rng } from './helpers.js';

/** A decoder-only model small enough for many full re-runs per test. */
export const TINY_DECODER: DecoderConfigInput = { arch: 'decoder', vocabSize: 13, dModel: 16, numHeads: 4, numLayers: 2, dFF: 24, maxLen: 14, dropout: 0 };

/** The tiny decoder with every weight (biases and norms included) replaced by seeded random values, so no row is flat. */
export function tinyDecoder(overrides: Partial<DecoderConfigInput> = {}, seed = 3, scale = 0.7): DecoderOnly {
  const model = createModel({ ...TINY_DECODER, ...overrides, arch: 'decoder' }, { seed });
  randomizeWeights(model, seed + 100, scale);
  return model;
}

export function randomizeWeights(model: Model, seed: number, scale = 0.5): void {
  const random = rng(seed);
  for (const [, v] of model.namedWeights()) {
    const t = tf.tidy(() => tf.mul(tf.tensor(randomArray(v.shape as number[], random) as number[], v.shape as number[]), scale));
    v.write(t);
    t.dispose();
  }
}

/** Next-token logits of the whole sequence in one forward pass, [row][position][token]. */
export function fullLogits(model: DecoderOnly, rows: readonly (readonly number[])[]): number[][][] {
  return tf.tidy(() => model.forward(tf.tensor2d(rows.map((r) => [...r]), undefined, 'int32')).arraySync() as number[][][]);
}

/** Softmax of one row in plain numbers (the reference the library's probabilities are checked against). */
export function plainSoftmax(row: readonly number[]): number[] {
  const max = Math.max(...row);
  const e = row.map((x) => Math.exp(x - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Index of the largest value among the ids not in `skip`; ties to the lowest id. */
export function plainArgmax(row: readonly number[], skip: readonly number[] = []): number {
  let best = -1;
  row.forEach((x, i) => {
    if (!skip.includes(i) && (best < 0 || x > row[best]!)) best = i;
  });
  return best;
}
