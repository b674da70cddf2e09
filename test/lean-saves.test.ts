import * as tf from '@tensorflow/tfjs';
import { afterEach, expect, it } from 'vitest';
import { setLeanSaves } from '../src/ops/lean-saves.js';
import { rng } from './helpers.js';

/** Runs on the backend test/setup.ts chooses (wasm, where the engine's saved copies are made directly). */

afterEach(() => {
  setLeanSaves(true);
});

const bits = (t: tf.Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));

/** A small two-layer network's loss and gradients: matMul, add, relu, mul, softmax, log — ops that save inputs and outputs. */
function lossAndGrads(x: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor) {
  return tf.variableGrads(() => tf.tidy(() => {
    const h = tf.relu(tf.add(tf.matMul(x, w1), 0.1));
    const p = tf.softmax(tf.mul(tf.matMul(h, w2), 1.5));
    return tf.neg(tf.mean(tf.log(p)));
  }) as tf.Scalar, [w1 as tf.Variable, w2 as tf.Variable]);
}

it('gradients are the same to the bit with and without the engine\'s clones, with fewer kernel calls and nothing left behind', async () => {
  expect(tf.getBackend()).toBe('wasm');
  const random = rng(3);
  const x = tf.tensor2d(Array.from({ length: 6 * 5 }, () => random() - 0.5), [6, 5]);
  const w1 = tf.variable(tf.tensor2d(Array.from({ length: 5 * 7 }, () => random() - 0.5), [5, 7]));
  const w2 = tf.variable(tf.tensor2d(Array.from({ length: 7 * 3 }, () => random() - 0.5), [7, 3]));
  const run = async (on: boolean) => {
    setLeanSaves(on);
    const before = tf.memory().numTensors;
    const info = await tf.profile(() => {
      const { value, grads } = lossAndGrads(x, w1, w2);
      const out = [value, grads[w1.name]!, grads[w2.name]!];
      return out;
    });
    const [value, g1, g2] = info.result as tf.Tensor[];
    const result = { value: bits(value!), g1: bits(g1!), g2: bits(g2!), identities: info.kernels.filter((k) => k.name === 'Identity').length };
    tf.dispose([value!, g1!, g2!]);
    expect(tf.memory().numTensors).toBe(before);
    return result;
  };
  const stock = await run(false);
  const lean = await run(true);
  expect(lean.value).toEqual(stock.value);
  expect(lean.g1).toEqual(stock.g1);
  expect(lean.g2).toEqual(stock.g2);
  expect(stock.identities).toBeGreaterThan(5);
  expect(lean.identities).toBeLessThan(stock.identities);
  tf.dispose([x, w1, w2]);
});

it('a gradient of a gradient keeps the engine\'s clones: d²/dx² of x³ is 6x', () => {
  const x = tf.tensor1d([0.5, -2, 3]);
  const before = tf.memory().numTensors;
  const second = tf.grad((a: tf.Tensor) => tf.grad((b: tf.Tensor) => tf.sum(tf.mul(tf.mul(b, b), b)))(a))(x);
  expect(Array.from(second.dataSync())).toEqual([3, -12, 18]);
  second.dispose();
  expect(tf.memory().numTensors).toBe(before);
  x.dispose();
});

it('tensors a custom gradient saves are shared the same way: same gradients to the bit, no Identity calls, nothing left behind', async () => {
  const random = rng(4);
  const x = tf.tensor2d(Array.from({ length: 4 * 6 }, () => random() - 0.5), [4, 6]);
  const w = tf.variable(tf.tensor2d(Array.from({ length: 6 * 3 }, () => random() - 0.5), [6, 3]));
  // y = tanh(x·w), its gradient from the saved input, weight and output (as linear and LayerNorm save theirs).
  const layer = tf.customGrad((a, b, save) => {
    const y = tf.tanh(tf.matMul(a as tf.Tensor, b as tf.Tensor));
    (save as (t: tf.Tensor[]) => void)([a as tf.Tensor, b as tf.Tensor, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb, sy] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dz = tf.mul(dy, tf.sub(1, tf.square(sy)));
        return [tf.matMul(dz, sb, false, true), tf.matMul(sa, dz, true, false)];
      },
    };
  });
  const run = async (on: boolean) => {
    setLeanSaves(on);
    const before = tf.memory().numTensors;
    const info = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(layer(x, w) as tf.Tensor)) as tf.Scalar, [w]);
      return [value, grads[w.name]!];
    });
    const [value, g] = info.result as tf.Tensor[];
    const result = { value: bits(value!), g: bits(g!), identities: info.kernels.filter((k) => k.name === 'Identity').length };
    tf.dispose([value!, g!]);
    expect(tf.memory().numTensors).toBe(before);
    return result;
  };
  const stock = await run(false);
  const lean = await run(true);
  expect(lean.value).toEqual(stock.value);
  expect(lean.g).toEqual(stock.g);
  expect(stock.identities).toBeGreaterThanOrEqual(3);
  expect(lean.identities).toBe(0);
  // A hand-computed check of the gradient: d/dw Σ tanh(xw)² = xᵀ·(2y(1 − y²)).
  const xs = Array.from(x.dataSync()), ws = Array.from(w.dataSync());
  const want: number[] = new Array(6 * 3).fill(0);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 3; j++) {
    let z = 0;
    for (let k = 0; k < 6; k++) z += xs[i * 6 + k]! * ws[k * 3 + j]!;
    const y = Math.tanh(z);
    for (let k = 0; k < 6; k++) want[k * 3 + j]! += xs[i * 6 + k]! * 2 * y * (1 - y * y);
  }
  const got = Array.from(new Float32Array(new Uint32Array(lean.g).buffer));
  got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
  tf.dispose([x, w]);
});
