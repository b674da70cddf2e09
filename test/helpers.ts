import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect } from 'vitest';
import { setBackend, type ConcreteBackend } from '../src/index.js';

/** The backends every numerical test runs on (the native one is not installable here). */
export const BACKENDS: ConcreteBackend[] = ['cpu', 'wasm'];

/** A describe block per backend, with that backend active inside it. */
export function describeEachBackend(name: string, body: (backend: ConcreteBackend) => void): void {
  for (const backend of BACKENDS) {
    describe(`${name} [${backend}]`, () => {
      beforeAll(async () => {
        await setBackend(backend);
      });
      body(backend);
    });
  }
}

/** Small deterministic PRNG (mulberry32) for test inputs. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A nested array of uniform values in [-1, 1) with the given shape. */
export function randomArray(shape: number[], random: () => number): NestedArray {
  if (shape.length === 0) return random() * 2 - 1;
  return Array.from({ length: shape[0]! }, () => randomArray(shape.slice(1), random));
}
export type NestedArray = number | NestedArray[];

export function randomTensor(shape: number[], random: () => number): tf.Tensor {
  return tf.tensor(randomArray(shape, random) as number[], shape);
}

export function randomIds(shape: [number, number], vocab: number, random: () => number, min = 1): tf.Tensor2D {
  return tf.tensor2d(
    Array.from({ length: shape[0] * shape[1] }, () => min + Math.floor(random() * (vocab - min))),
    shape,
    'int32',
  );
}

/** Every element of `actual` within `tol` of `expected` (absolute), shapes equal. */
export function expectClose(actual: tf.Tensor | number[], expected: number[], tol: number): void {
  const got = Array.isArray(actual) ? actual : Array.from(actual.dataSync());
  expect(got.length).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i]! - expected[i]!);
    if (!(err <= tol)) {
      worst = Math.max(worst, Number.isNaN(err) ? Infinity : err);
      if (at < 0) at = i;
    }
  }
  expect(at, `first mismatch at ${at}: got ${got[at]}, expected ${expected[at]} (worst error ${worst})`).toBe(-1);
}

/** Run `fn` and assert it leaves no tensors behind (it must dispose what it creates). */
export function expectNoLeak(fn: () => void): void {
  const before = tf.memory().numTensors;
  fn();
  expect(tf.memory().numTensors).toBe(before);
}

/**
 * A bench rate (`amount` per second, itself rounded to `rounding`) computed from the unrounded time
 * of a step, reported beside that time rounded to 0.1 ms: it lies between the rates at ms ± 0.05.
 */
export function expectRateOf(rate: unknown, amount: number, msPerStep: number, rounding: number): void {
  expect(rate as number).toBeGreaterThanOrEqual(amount / ((msPerStep + 0.05) / 1000) - rounding);
  expect(rate as number).toBeLessThanOrEqual(amount / (Math.max(msPerStep - 0.05, 1e-3) / 1000) + rounding);
}
