import * as tf from '@tensorflow/tfjs';

let nextSeed: (() => number) | undefined;

/**
 * Make dropout masks reproducible: after `seedDropout(s)`, the i-th dropout call draws its mask from
 * seed s + i. The trainer reseeds before every step (from the run seed and the step number), so a
 * run — and a resumed run — sees the same masks. `undefined` returns to unseeded masks.
 */
export function seedDropout(seed: number | undefined): void {
  if (seed === undefined) {
    nextSeed = undefined;
    return;
  }
  let counter = 0;
  nextSeed = () => seed + counter++;
}

/** Inverted dropout during training only: zero a fraction `rate` of x and scale the rest by 1/(1 − rate). */
export function dropout(x: tf.Tensor, rate: number, training: boolean | undefined): tf.Tensor {
  return training === true && rate > 0 ? tf.dropout(x, rate, undefined, nextSeed?.()) : x;
}
