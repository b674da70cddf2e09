import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { TrainingError } from '../src/errors.js';
import { Random } from '../src/util/random.js';
import { dropout, dropoutMask, seedDropout } from '../src/ops/dropout.js';
import { Adam } from '../src/train/adam.js';
import { adamRange, adamUpdate, allocateAdamMemory, combineGradients, combinePlain, threadGradient, type AdamScalars } from '../src/train/adam-kernels.js';
import { ParamLayout } from '../src/train/params.js';
import { describeEachBackend } from './helpers.js';

const SHAPES = [[5, 7], [7], [3, 2, 4], [1]];
const OPTIONS = { learningRate: 3e-3, beta1: 0.9, beta2: 0.98, epsilon: 1e-9 };

const variables = (seed: number) => SHAPES.map((s, i) => tf.variable(tf.randomNormal(s, 0, 1, 'float32', seed + i)));
/** Gradients of step t, some tiny (where Adam's division is most sensitive to rounding). */
const gradientsAt = (t: number) => SHAPES.map((s, i) => tf.randomNormal(s, 0, t % 3 === 0 ? 1e-6 : 1, 'float32', 100 * t + i));
const flat = (vars: tf.Variable[]) => vars.flatMap((v) => Array.from(v.dataSync()));

describeEachBackend('Adam on flat buffers', () => {
  it('gives the weights of tf.train.adam bit for bit, and saves its state in the same format', async () => {
    const reference = variables(1);
    const ours = variables(1);
    const tfAdam = tf.train.adam(OPTIONS.learningRate, OPTIONS.beta1, OPTIONS.beta2, OPTIONS.epsilon);
    // Our layout carries the reference's names, so the saved states can be compared name for name.
    const layout = new ParamLayout(reference.map((v) => v.name), SHAPES);
    const adam = new Adam(layout, OPTIONS);
    for (let t = 0; t < 40; t++) {
      const grads = gradientsAt(t);
      tfAdam.applyGradients(reference.map((v, i) => ({ name: v.name, tensor: grads[i]! })));
      const before = tf.memory().numTensors;
      layout.gather(grads, adam.grad);
      adam.step(ours);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(grads);
    }
    expect(flat(ours)).toEqual(flat(reference));
    const [a, b] = [await tfAdam.getWeights(), await adam.getWeights()];
    expect(b.map((w) => w.name)).toEqual(a.map((w) => w.name));
    b.forEach((w, i) => expect(Array.from(w.tensor.dataSync()), w.name).toEqual(Array.from(a[i]!.tensor.dataSync())));
    tf.dispose(b.map((w) => w.tensor));
    tfAdam.dispose();
    tf.dispose([...reference, ...ours]);
  });

  it('leaves no tensor sharing its memory: a copy of the weights or of the saved state keeps its values after the next step', async () => {
    const vars = variables(3);
    const layout = ParamLayout.of(vars);
    const adam = new Adam(layout, OPTIONS);
    const step = (t: number) => {
      const grads = gradientsAt(t);
      layout.gather(grads, adam.grad);
      adam.step(vars);
      tf.dispose(grads);
    };
    step(1);
    const copy = tf.clone(vars[0]!);
    const state = await adam.getWeights();
    const [weightsThen, momentThen] = [Array.from(copy.dataSync()), Array.from(state[1]!.tensor.dataSync())];
    step(2);
    expect(Array.from(copy.dataSync())).toEqual(weightsThen);
    expect(Array.from(state[1]!.tensor.dataSync())).toEqual(momentThen);
    expect(flat(vars).slice(0, weightsThen.length)).not.toEqual(weightsThen);
    tf.dispose([copy, ...state.map((w) => w.tensor), ...vars]);
  });

  it('restored from a saved state (its own or tf.train.adam’s), it continues exactly as if never stopped', async () => {
    const straight = variables(2);
    const resumed = variables(2);
    const layout = ParamLayout.of(straight);
    const a = new Adam(layout, OPTIONS);
    const tfAdam = tf.train.adam(OPTIONS.learningRate, OPTIONS.beta1, OPTIONS.beta2, OPTIONS.epsilon);
    for (let t = 0; t < 10; t++) {
      const grads = gradientsAt(t);
      layout.gather(grads, a.grad);
      a.step(straight);
      tfAdam.applyGradients(resumed.map((v, i) => ({ name: v.name, tensor: grads[i]! })));
      tf.dispose(grads);
    }
    expect(flat(resumed)).toEqual(flat(straight));
    const b = new Adam(ParamLayout.of(resumed), OPTIONS);
    const state = await tfAdam.getWeights();
    await b.setWeights(state); // keyed by the names of `resumed`, as b's layout is
    expect(b.iterations).toBe(10);
    for (let t = 10; t < 25; t++) {
      const grads = gradientsAt(t);
      layout.gather(grads, a.grad);
      a.step(straight);
      b.layout.gather(grads, b.grad);
      b.step(resumed);
      tf.dispose(grads);
    }
    expect(flat(resumed)).toEqual(flat(straight));
    tfAdam.dispose();
    tf.dispose([...straight, ...resumed]);
  });
});

it('the plain-JavaScript update (used where wasm SIMD is missing) equals the SIMD one bit for bit', () => {
  const layout = new ParamLayout(['a', 'b'], [[37], [1030]]);
  const simd = new Adam(layout, OPTIONS, 2);
  const random = (seed: number) => () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const r = random(11);
  const w0 = Float32Array.from({ length: layout.size }, r);
  const g0 = Float32Array.from({ length: layout.size }, r);
  const g1 = Float32Array.from({ length: layout.size }, () => r() * 1e-4);
  const plain = { weights: w0.slice(), m: new Float32Array(layout.size), v: new Float32Array(layout.size) };
  simd.buffers.weights.set(w0);
  for (let t = 0; t < 5; t++) {
    const s: AdamScalars = simd.nextScalars();
    // Two threads' gradients combined with weights 0.25 and 0.75, clipped by 0.5.
    const [a, b] = [g0.slice(), g1.slice()];
    combinePlain([a, b], [0.25, 0.75], 0, layout.size);
    adamUpdate(plain, a, 0.5, s, 0, layout.size);
    simd.grads[0]!.set(g0);
    simd.grads[1]!.set(g1);
    combineGradients(simd.memory, [0, 1], [0.25, 0.75], 0, layout.size);
    expect(Array.from(simd.grads[0]!)).toEqual(Array.from(a));
    adamRange(simd.memory, 0, 0.5, s, 0, layout.size);
  }
  expect(Array.from(simd.buffers.weights)).toEqual(Array.from(plain.weights));
  expect(Array.from(simd.buffers.v)).toEqual(Array.from(plain.v));
});

it('the pieces of a share are summed as JavaScript sums them (float64, rounded once), bit for bit, signed zeros included', () => {
  const size = 1030; // not a multiple of 4: the kernels' one-float tail runs too
  const mem = allocateAdamMemory(size, 2);
  expect(mem.memory).toBeDefined(); // the SIMD kernels run (Node has wasm SIMD and shared memory)
  const random = (seed: number) => () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const r = random(5);
  // Magnitudes from 1e-30 to 1e8, and zeros of both signs, where float32 and float64 rounding part.
  const value = (i: number) => (i % 17 === 0 ? (i % 2 === 0 ? -0 : 0) : r() * 10 ** Math.round(r() * 19 - 11));
  const [first, second, third] = [0, 1, 2].map(() => Float32Array.from({ length: size }, (_, i) => value(i)));
  const weights = [3 / 11, 5 / 11, 3 / 11];
  // The reference: the loop shareGradient ran on plain arrays, written out here.
  const expected = new Float32Array(size);
  [first!, second!, third!].forEach((g, k) => {
    for (let i = 0; i < size; i++) expected[i] = expected[i]! + weights[k]! * g[i]!;
  });
  const sums = threadGradient(mem, 1);
  sums.grad.set(first!);
  sums.weigh(weights[0]!);
  sums.piece.set(second!);
  sums.addPiece(weights[1]!);
  sums.piece.set(third!);
  sums.addPiece(weights[2]!);
  const same = Array.from(expected, (x, i) => Object.is(x, sums.grad[i]));
  expect(same.filter((s) => !s).length).toBe(0);
  // Where every piece is −0 the sum is +0 (it starts from +0); weighting by a bare product would give −0.
  expect(Object.is(first![34], -0) && Object.is(second![34], -0) && Object.is(sums.grad[34], 0)).toBe(true);
  // Thread 0's vectors are untouched.
  expect(threadGradient(mem, 0).grad.every((x) => x === 0)).toBe(true);
});

it('restores a state saved before the first step (only the step count) as zero moments', async () => {
  const adam = new Adam(new ParamLayout(['w'], [[2, 2]]), OPTIONS);
  adam.buffers.m.fill(1);
  await adam.setWeights([{ name: 'iter', tensor: tf.scalar(0, 'int32') }]);
  expect(adam.iterations).toBe(0);
  expect(Array.from(adam.buffers.m)).toEqual([0, 0, 0, 0]);
});

it('a state that does not match the model is refused with one line', async () => {
  const adam = new Adam(new ParamLayout(['w'], [[2, 2]]), OPTIONS);
  await expect(adam.setWeights([{ name: 'iter', tensor: tf.scalar(3, 'int32') }, { name: 'w/m', tensor: tf.zeros([3]) }, { name: 'w/v', tensor: tf.zeros([2, 2]) }])).rejects.toThrow(
    new TrainingError('the optimizer state does not match the model (w/m has shape [3], w has [2,2])'),
  );
  await expect(adam.setWeights([])).rejects.toThrow(TrainingError);
});

it('dropout masks: the right share dropped, survivors scaled by 1/(1 − rate), the same for the same seed', () => {
  const mask = dropoutMask(100_000, 0.1, 42);
  const kept = mask.filter((x) => x !== 0);
  expect(new Set(kept)).toEqual(new Set([Math.fround(1 / 0.9)]));
  // 100,000 draws: the kept share is 0.9 ± 0.003 (over 3 standard deviations).
  expect(Math.abs(kept.length / mask.length - 0.9)).toBeLessThan(0.003);
  expect(dropoutMask(1000, 0.1, 42)).toEqual(mask.subarray(0, 1000));
  // The draws are those of the library's generator: kept where next() < 1 − rate.
  const random = new Random(42);
  expect(mask.subarray(0, 1000)).toEqual(Float32Array.from({ length: 1000 }, () => (random.next() < 0.9 ? Math.fround(1 / 0.9) : 0)));
  expect(dropoutMask(1000, 0.1, 43)).not.toEqual(mask.subarray(0, 1000));
  const x = tf.ones([64, 64]);
  const before = tf.memory().numTensors;
  seedDropout(7);
  const a = dropout(x, 0.5, true);
  seedDropout(7);
  const b = dropout(x, 0.5, true);
  seedDropout(undefined);
  expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
  expect(dropout(x, 0.5, false)).toBe(x);
  tf.dispose([a, b]);
  expect(tf.memory().numTensors).toBe(before);
  x.dispose();
});
