import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { linear } from '../src/ops/linear.js';
import { LINEAR } from '../src/ops/kernels/batch-matmul.js';
import { describeEachBackend, expectClose, expectNoLeak, rng } from './helpers.js';

/** Plain loops: y = x·W + b for rows x (N, in), and the gradients of Σ y·g. */
function reference(x: number[][], w: number[][], b: number[], g: number[][]) {
  const n = x.length;
  const [inDim, outDim] = [w.length, b.length];
  const y = x.map((row) => b.map((bj, j) => row.reduce((s, xi, i) => s + xi * w[i]![j]!, 0) + bj));
  const dx = x.map((_, r) => Array.from({ length: inDim }, (_, i) => g[r]!.reduce((s, gj, j) => s + gj * w[i]![j]!, 0)));
  const dw = Array.from({ length: inDim }, (_, i) => Array.from({ length: outDim }, (_, j) => x.reduce((s, row, r) => s + row[i]! * g[r]![j]!, 0)));
  const db = b.map((_, j) => Array.from({ length: n }, (_, r) => g[r]![j]!).reduce((s, v) => s + v, 0));
  return { y, dx, dw, db };
}

const matrix = (rows: number, cols: number, random: () => number) => Array.from({ length: rows }, () => Array.from({ length: cols }, () => random() * 2 - 1));

describeEachBackend('linear: x·W + b with its gradient', (backend) => {
  // Widths that leave remainders for the SIMD kernels (out not a multiple of 4 or 8).
  for (const [batch, time, inDim, outDim] of [
    [2, 5, 7, 9],
    [3, 4, 16, 12],
    [1, 1, 8, 3],
  ] as const) {
    it(`(${batch}, ${time}, ${inDim}) · (${inDim}, ${outDim}): values and gradients are the plain loops'`, () => {
      const random = rng(batch * 100 + outDim);
      const x = matrix(batch * time, inDim, random);
      const w = matrix(inDim, outDim, random);
      const b = matrix(1, outDim, random)[0]!;
      const g = matrix(batch * time, outDim, random);
      const want = reference(x, w, b, g);
      const [xt, wt, bt, gt] = [tf.tensor3d(x.flat(), [batch, time, inDim]), tf.tensor2d(w), tf.tensor1d(b), tf.tensor3d(g.flat(), [batch, time, outDim])];
      const before = tf.memory().numTensors;
      const y = linear(xt, wt, bt);
      expect(y.shape).toEqual([batch, time, outDim]);
      expectClose(y, want.y.flat(), 1e-5);
      const grads = tf.grads((a, c, d) => tf.sum(tf.mul(linear(a!, c!, d), gt)))([xt, wt, bt]);
      expectClose(grads[0]!, want.dx.flat(), 1e-5);
      expectClose(grads[1]!, want.dw.flat(), 1e-5);
      expectClose(grads[2]!, want.db, 1e-5);
      tf.dispose([y, ...grads]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([xt, wt, bt, gt]);
    });
  }

  it(`is the same to the bit as tf.add(tf.matMul(x, W), b), forward and backward${backend === 'wasm' ? ' (one kernel on wasm)' : ''}`, () => {
    expect(tf.getKernel(LINEAR, 'wasm') !== undefined).toBe(true);
    const random = rng(5);
    const [xt, wt, bt, gt] = [tf.tensor3d(matrix(24, 20, random).flat(), [4, 6, 20]), tf.tensor2d(matrix(20, 13, random)), tf.tensor1d(matrix(1, 13, random)[0]!), tf.tensor3d(matrix(24, 13, random).flat(), [4, 6, 13])];
    const loss = (f: (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(f(a, c, d), gt));
    const fused = tf.grads(loss((a, c, d) => linear(a, c, d)))([xt, wt, bt]);
    const plain = tf.grads(loss((a, c, d) => tf.add(tf.matMul(a, c), d)))([xt, wt, bt]);
    fused.forEach((t, i) => expect(Array.from(t.dataSync())).toEqual(Array.from(plain[i]!.dataSync())));
    const [y1, y2] = [linear(xt, wt, bt), tf.add(tf.matMul(xt, wt), bt)];
    expect(Array.from(y1.dataSync())).toEqual(Array.from(y2.dataSync()));
    tf.dispose([...fused, ...plain, y1, y2, xt, wt, bt, gt]);
  });

  it('without a bias is the product; nothing leaks', () => {
    const random = rng(9);
    const [xt, wt] = [tf.tensor2d(matrix(3, 4, random)), tf.tensor2d(matrix(4, 2, random))];
    expectNoLeak(() => {
      const [a, c] = [linear(xt, wt), tf.matMul(xt, wt)];
      expect(Array.from(a.dataSync())).toEqual(Array.from(c.dataSync()));
      tf.dispose([a, c]);
    });
    tf.dispose([xt, wt]);
  });
});
