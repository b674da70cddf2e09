import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { setBackend } from '../src/backend.js';
import { overwrite, readInto } from '../src/ops/in-place.js';
import { Adam } from '../src/train/adam.js';
import { ParamLayout } from '../src/train/params.js';
import { describeEachBackend } from './helpers.js';

const OPTIONS = { learningRate: 1e-2, beta1: 0.9, beta2: 0.98, epsilon: 1e-9 };

describeEachBackend('copies between flat vectors and tensors', () => {
  it('reads a tensor into a vector at an offset, and writes a variable; the values are the ones given', () => {
    const t = tf.tensor2d([1.5, -2, 3, 4.25, 5, -6], [2, 3]);
    const target = new Float32Array(9).fill(7);
    readInto(t, target, 2);
    expect(Array.from(target)).toEqual([7, 7, 1.5, -2, 3, 4.25, 5, -6, 7]);
    const v = tf.variable(tf.zeros([2, 3]));
    const before = tf.memory().numTensors;
    const values = new Float32Array([0.5, 1, 2, 3, 4, 5]);
    overwrite(v, values);
    values[0] = 99; // the variable does not keep the caller's array
    expect(Array.from(v.dataSync())).toEqual([0.5, 1, 2, 3, 4, 5]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([t, v]);
  });

  it('a variable whose memory another tensor shares is assigned new memory: the other tensor keeps its values', () => {
    const v = tf.variable(tf.tensor1d([1, 2, 3, 4]));
    overwrite(v, new Float32Array([9, 9, 9, 9])); // the initial tensor is gone by now: unshared
    const view = tf.reshape(v, [2, 2]); // shares v's memory
    overwrite(v, new Float32Array([5, 6, 7, 8]));
    expect(Array.from(v.dataSync())).toEqual([5, 6, 7, 8]);
    expect(Array.from(view.dataSync())).toEqual([9, 9, 9, 9]);
    tf.dispose([v, view]);
  });
});

describe('on wasm', () => {
  beforeAll(async () => {
    await setBackend('wasm');
  });

it('an unshared variable is written in its own memory (no new tensor data)', () => {
  expect(tf.getBackend()).toBe('wasm');
  const v = tf.variable(tf.zeros([3]));
  overwrite(v, new Float32Array([1, 2, 3])); // the first write may replace the initial value's memory
  const dataId = v.dataId;
  overwrite(v, new Float32Array([4, 5, 6]));
  expect(v.dataId).toBe(dataId);
  expect(Array.from(v.dataSync())).toEqual([4, 5, 6]);
  v.dispose();
});

it('Adam reads the weights again after a variable is assigned between steps, and only then', () => {
  const layout = new ParamLayout(['w'], [[2]]);
  const adam = new Adam(layout, OPTIONS);
  const w = tf.variable(tf.tensor1d([1, -1]));
  adam.grad.set([1, 1]);
  adam.step([w]); // Adam's first step moves every weight by lr against the gradient's sign
  const afterFirst = Array.from(w.dataSync());
  expect(afterFirst[0]).toBeCloseTo(1 - 1e-2, 6);
  expect(afterFirst[1]).toBeCloseTo(-1 - 1e-2, 6);
  // Someone assigns new values: the next step starts from them, not from the optimizer's copy.
  w.assign(tf.tensor1d([10, 20]));
  adam.grad.set([0, 0]);
  adam.step([w]);
  // A zero gradient still moves the weights (by the first moment); the same update applied by hand
  // to [10, 20] is the reference. Had the optimizer kept its own copy, w would be near [0.98, -1.02].
  const reference = new Adam(layout, OPTIONS);
  const r = tf.variable(tf.tensor1d([1, -1]));
  reference.grad.set([1, 1]);
  reference.step([r]);
  r.assign(tf.tensor1d([10, 20]));
  reference.buffers.weights.set([10, 20]);
  reference.grad.set([0, 0]);
  reference.update();
  expect(Array.from(w.dataSync())).toEqual(Array.from(reference.buffers.weights));
  expect(w.dataSync()[0]).toBeGreaterThan(9);
  tf.dispose([w, r]);
  adam.dispose();
  reference.dispose();
});
});
