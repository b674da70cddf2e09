import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { MultiHeadAttention } from '../src/layers/multi-head-attention.js';
import { dropout, seedDropout } from '../src/ops/dropout.js';
import { layerNorm, layerNormIsFused } from '../src/ops/layer-norm.js';
import { linear } from '../src/ops/linear.js';
import { projectedCrossEntropy } from '../src/ops/projected-cross-entropy.js';
import { describeEachBackend, rng } from './helpers.js';

/**
 * Gradients of gradients through the layers whose training passes run fused kernels on wasm. The
 * reference is independent of the second-order path: central differences of the first-order
 * gradient (computed the ordinary way, fused kernels and all), in float64 around float32 values.
 */

const values = (n: number, random: () => number) => Array.from({ length: n }, () => random() * 2 - 1);

/**
 * F(p) = Σ r · ∂/∂x L(x, p) for a scalar loss L: its gradient in p by tf.grad of tf.grad, and by
 * differences of F at p ± h along a few coordinates.
 */
function checkSecondOrder(loss: (x: tf.Tensor, p: tf.Tensor) => tf.Scalar, x: tf.Tensor, p: tf.Tensor, seed: number) {
  const random = rng(seed);
  const r = tf.tensor(values(x.size, random), x.shape);
  const F = (q: tf.Tensor) => tf.sum(tf.mul(tf.grad((a: tf.Tensor) => loss(a, q))(x), r));
  const before = tf.memory().numTensors;
  const second = tf.grad(F)(p);
  const got = Array.from(second.dataSync());
  second.dispose();
  expect(tf.memory().numTensors).toBe(before);
  const base = Array.from(p.dataSync());
  const h = 1e-2;
  for (const i of [0, Math.floor(base.length / 2), base.length - 1]) {
    const at = (delta: number) =>
      tf.tidy(() => {
        const shifted = base.slice();
        shifted[i]! += delta;
        return F(tf.tensor(shifted, p.shape)).dataSync()[0]!;
      });
    const want = (at(h) - at(-h)) / (2 * h);
    expect(Math.abs(got[i]! - want), `coordinate ${i}: ${got[i]} against ${want}`).toBeLessThan(2e-2 * Math.max(1, Math.abs(want)));
  }
  r.dispose();
}

describeEachBackend('a gradient of a gradient', () => {
  it('through linear (with ReLU), by differences of the first-order gradient', () => {
    const random = rng(31);
    const x = tf.tensor3d(values(2 * 3 * 5, random), [2, 3, 5]);
    const w = tf.tensor2d(values(5 * 4, random), [5, 4]);
    const b = tf.tensor1d(values(4, random));
    checkSecondOrder((a, q) => tf.sum(tf.square(linear(a, q, b, 'relu'))), x, w, 1);
    checkSecondOrder((a, q) => tf.sum(tf.square(linear(a, w, q))), x, b, 2);
    tf.dispose([x, w, b]);
  });

  it('through LayerNorm, by differences of the first-order gradient', () => {
    const random = rng(32);
    const x = tf.tensor3d(values(2 * 3 * 8, random), [2, 3, 8]);
    const gamma = tf.tensor1d(values(8, random));
    const beta = tf.tensor1d(values(8, random));
    const c = tf.tensor3d(values(2 * 3 * 8, random), [2, 3, 8]);
    // The fused kernels take these operands on wasm (first order), the ops a gradient of a gradient.
    expect(layerNormIsFused(x, gamma, beta)).toBe(tf.getBackend() === 'wasm');
    checkSecondOrder((a, q) => tf.sum(tf.mul(tf.square(layerNorm(a, q, beta, 1e-5)), c)), x, gamma, 3);
    tf.dispose([x, gamma, beta, c]);
  });

  it('through dropout (the same mask every time it is drawn from the same seed)', () => {
    const random = rng(33);
    const x = tf.tensor2d(values(4 * 8, random), [4, 8]);
    const w = tf.tensor2d(values(8 * 8, random), [8, 8]);
    // Every evaluation draws its masks from the same seed, so F is one fixed function of w.
    const loss = (a: tf.Tensor, q: tf.Tensor) => {
      seedDropout(7);
      try {
        return tf.sum(tf.square(dropout(tf.matMul(a, q), 0.25, true))) as tf.Scalar;
      } finally {
        seedDropout(undefined);
      }
    };
    checkSecondOrder(loss, x, w, 4);
    tf.dispose([x, w]);
  });
  it('through ops that keep their output for the gradient (exp, softmax, tanh): the saved copies are on the path', () => {
    const random = rng(35);
    const x = tf.tensor2d(values(3 * 5, random), [3, 5]);
    const p = tf.tensor2d(values(3 * 5, random), [3, 5]);
    // exp(a + p): ∂/∂a is exp(a + p) itself, which reaches p only through exp's saved output.
    checkSecondOrder((a, q) => tf.sum(tf.exp(tf.add(a, q))), x, p, 6);
    checkSecondOrder((a, q) => tf.sum(tf.square(tf.softmax(tf.mul(a, q)))), x, p, 7);
    checkSecondOrder((a, q) => tf.sum(tf.mul(tf.tanh(tf.add(a, q)), a)), x, p, 8);
    tf.dispose([x, p]);
  });

  it('through multi-head attention with a causal mask (queries from x, keys and values from p)', () => {
    const random = rng(34);
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 3 });
    const x = tf.tensor3d(values(2 * 4 * 6, random), [2, 4, 6]);
    const memory = tf.tensor3d(values(2 * 4 * 6, random), [2, 4, 6]);
    layer.forward(x, memory, memory).output.dispose(); // builds the weights
    checkSecondOrder((a, q) => tf.sum(tf.square(layer.forward(a, q, q, { useCausalMask: true }).output)) as tf.Scalar, x, memory, 5);
    tf.dispose([x, memory]);
    layer.dispose();
  });

  it('through the training loss with its gradients computed in the forward pass (eagerGradients), by differences', () => {
    const random = rng(36);
    const hidden = tf.tensor3d(values(2 * 3 * 4, random), [2, 3, 4]);
    const kernel = tf.tensor2d(values(4 * 5, random), [4, 5]);
    const bias = tf.tensor1d(values(5, random));
    const targets = tf.tensor2d([[1, 4, 0], [2, 2, 3]], [2, 3], 'int32');
    const mask = tf.tensor2d([[1, 1, 0], [1, 1, 1]], [2, 3]);
    // Chunks of 4 rows: the 6 rows take two, as a long batch takes several.
    const options = { labelSmoothing: 0.1, eagerGradients: true, chunkRows: 4 };
    checkSecondOrder((a, q) => projectedCrossEntropy(a, q, bias, targets, mask, options), hidden, kernel, 9);
    const scale = tf.tensor3d(values(2 * 3 * 4, random), [2, 3, 4]);
    checkSecondOrder((a, q) => projectedCrossEntropy(tf.mul(a, q), kernel, bias, targets, mask, options), hidden, scale, 10);
    tf.dispose([hidden, kernel, bias, targets, mask, scale]);
  });
});
