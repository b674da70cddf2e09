import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { linear } from '../src/ops/linear.js';
import { LINEAR, LINEAR_GRAD, RELU_GRAD } from '../src/ops/kernels/batch-matmul.js';
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

  it(`the gradient as one kernel call on wasm, the same to the bit as the ops' on shapes that take the packed products`, async () => {
    const random = rng(21);
    const [rows, inDim, outDim] = [480, 64, 300]; // x·W and xᵀ·dz packed (see packs), dz·Wᵀ not
    const [xt, wt, bt, gt] = [tf.tensor3d(matrix(rows, inDim, random).flat(), [4, rows / 4, inDim]), tf.tensor2d(matrix(inDim, outDim, random)), tf.tensor1d(matrix(1, outDim, random)[0]!), tf.tensor3d(matrix(rows, outDim, random).flat(), [4, rows / 4, outDim])];
    const loss = (f: (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(f(a, c, d), gt));
    for (const activation of [undefined, 'relu'] as const) {
      const before = tf.memory().numTensors;
      const info = await tf.profile(() => tf.grads(loss((a, c, d) => linear(a, c, d, activation)))([xt, wt, bt]));
      const fused = info.result as tf.Tensor[];
      const plain = tf.grads(loss((a, c, d) => (activation === 'relu' ? tf.relu(tf.add(tf.matMul(a, c), d)) : tf.add(tf.matMul(a, c), d))))([xt, wt, bt]);
      fused.forEach((t, i) => expect(Array.from(t.dataSync()), `gradient ${i}, ${activation ?? 'no activation'}`).toEqual(Array.from(plain[i]!.dataSync())));
      const names = info.kernels.map((k) => k.name);
      if (backend === 'wasm') {
        expect(tf.getKernel(LINEAR_GRAD, 'wasm') !== undefined).toBe(true);
        expect(names.filter((n) => n === LINEAR_GRAD)).toHaveLength(1);
        expect(names).not.toContain('BatchMatMul');
      }
      tf.dispose([...fused, ...plain]);
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.dispose([xt, wt, bt, gt]);
  });

  it('a gradient of its gradient is that of the two ops (the one-kernel gradient steps aside)', () => {
    const random = rng(23);
    const [xt, wt, bt] = [tf.tensor3d(matrix(6, 5, random).flat(), [2, 3, 5]), tf.tensor2d(matrix(5, 4, random)), tf.tensor1d(matrix(1, 4, random)[0]!)];
    // d/dW of Σ (d/dx Σ y²)·x, y = x·W + b: a second-order gradient through the layer.
    const second = (f: (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.Tensor) =>
      tf.grad((c: tf.Tensor) => tf.sum(tf.mul(tf.grad((a: tf.Tensor) => tf.sum(tf.square(f(a, c, bt))))(xt), xt)))(wt);
    // d/dW of Σ (d/db Σ y²)²: through the bias gradient's row sum.
    const throughBias = (f: (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.Tensor) =>
      tf.grad((c: tf.Tensor) => tf.sum(tf.square(tf.grad((d: tf.Tensor) => tf.sum(tf.square(f(xt, c, d))))(bt))))(wt);
    expectNoLeak(() => {
      for (const g of [second, throughBias]) {
        const fused = g((a, c, d) => linear(a, c, d));
        const plain = g((a, c, d) => tf.add(tf.matMul(a, c), d));
        expectClose(fused, Array.from(plain.dataSync()), 1e-5);
        tf.dispose([fused, plain]);
      }
    });
    tf.dispose([xt, wt, bt]);
  });

  it(`with ReLU: the plain loops' values and gradients, and the same to the bit as tf.relu of the two ops${backend === 'wasm' ? ' (one kernel each way on wasm)' : ''}`, () => {
    if (backend === 'wasm') expect(tf.getKernel(RELU_GRAD, 'wasm') !== undefined).toBe(true);
    const random = rng(13);
    const [n, inDim, outDim] = [12, 9, 11];
    const x = matrix(n, inDim, random);
    x[3] = x[3]!.map(() => 0); // a zero row: with a zero bias, entries exactly 0 (the ReLU's kink)
    const w = matrix(inDim, outDim, random);
    const b = matrix(1, outDim, random)[0]!.map((v, j) => (j % 3 === 0 ? 0 : v));
    const g = matrix(n, outDim, random);
    // relu(z) and dz = g where z > 0, else 0; then the linear layer's gradients of dz.
    const z = reference(x, w, b, g).y;
    const dz = z.map((row, r) => row.map((v, j) => (v > 0 ? g[r]![j]! : 0)));
    const want = reference(x, w, b, dz);
    const [xt, wt, bt, gt] = [tf.tensor3d(x.flat(), [3, 4, inDim]), tf.tensor2d(w), tf.tensor1d(b), tf.tensor3d(g.flat(), [3, 4, outDim])];
    const loss = (f: (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(f(a, c, d), gt));
    expectNoLeak(() => {
      const y = linear(xt, wt, bt, 'relu');
      expectClose(y, z.flat().map((v) => Math.max(v, 0)), 1e-5);
      const fused = tf.grads(loss((a, c, d) => linear(a, c, d, 'relu')))([xt, wt, bt]);
      expectClose(fused[0]!, want.dx.flat(), 1e-5);
      expectClose(fused[1]!, want.dw.flat(), 1e-5);
      expectClose(fused[2]!, want.db, 1e-5);
      const plain = tf.grads(loss((a, c, d) => tf.relu(tf.add(tf.matMul(a, c), d))))([xt, wt, bt]);
      fused.forEach((t, i) => expect(Array.from(t.dataSync())).toEqual(Array.from(plain[i]!.dataSync())));
      const y2 = tf.tidy(() => tf.relu(tf.add(tf.matMul(xt, wt), bt)));
      expect(Array.from(y.dataSync())).toEqual(Array.from(y2.dataSync()));
      tf.dispose([y, y2, ...fused, ...plain]);
    });
    tf.dispose([xt, wt, bt, gt]);
  });

  it('the ReLU gradient kernel is Step then Multiply to the bit, at 0, −0, NaN and ±∞', () => {
    if (tf.getKernel(RELU_GRAD, tf.getBackend()) === undefined) return; // wasm only; elsewhere tf.relu's own gradient runs
    const x = tf.tensor1d([-0, 0, -1, 1, NaN, Infinity, -Infinity, 1e-40, -1e-40, 2.5, -3]);
    const dy = tf.tensor1d([-2, 3, -2, -2, 5, -2, 7, -2, -2, 0.5, 1]);
    expectNoLeak(() => {
      const y = tf.relu(x);
      const got = tf.engine().runKernel(RELU_GRAD, { dy, y }) as tf.Tensor;
      const want = tf.tidy(() => tf.mul(dy, tf.step(x)));
      const bits = (t: tf.Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));
      expect(bits(got)).toEqual(bits(want));
      tf.dispose([y, got, want]);
    });
    tf.dispose([x, dy]);
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
