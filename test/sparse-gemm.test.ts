import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { FeedForward } from '../src/layers/feed-forward.js';
import { sparseMultiply, sparseProductsRun } from '../src/ops/kernels/batch-matmul.js';
import { linear } from '../src/ops/linear.js';
import { rng } from './helpers.js';

/** Runs on the wasm backend test/setup.ts chooses: the backend with sparse-gemm.wat. */

interface Heap {
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
}
const offset = (t: tf.Tensor) => (tf.backend() as unknown as Heap).dataIdMap.get(t.dataId)!.memoryOffset;

/** Values in (−1, 1), a share `zeros` of them exactly 0 (and a few −0). */
function sparseValues(count: number, zeros: number, random: () => number): Float32Array {
  const v = new Float32Array(count);
  for (let i = 0; i < count; i++) v[i] = random() < zeros ? (random() < 0.1 ? -0 : 0) : random() * 2 - 1;
  return v;
}

/** A (M, K)·B (K, N) as a float32 loop would sum it: from +0, k in order, each product rounded, then the sum. */
function plainProduct(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let kk = 0; kk < k; kk++) s = Math.fround(s + Math.fround(a[i * k + kk]! * b[kk * n + j]!));
      c[i * n + j] = s;
    }
  }
  return c;
}

const bits = (x: Float32Array | Float32Array[] | tf.TypedArray) => Array.from(new Uint32Array((x as Float32Array).buffer.slice(0)));

describe('sparse-gemm.wat: products that skip the zeros of A', () => {
  // N not a multiple of 16 or 4, rows of A all zeros, K odd.
  for (const [m, k, n, zeros] of [
    [37, 53, 37, 0.7],
    [33, 128, 16, 0.55],
    [40, 33, 3, 0.9],
  ] as const) {
    it(`(${m}, ${k})·(${k}, ${n}) with ${Math.round(zeros * 100)}% zeros: the float32 loop's sums to the bit, row-major and transposed`, () => {
      const random = rng(m * 1000 + n);
      const a = sparseValues(m * k, zeros, random);
      a.fill(0, 2 * k, 3 * k); // row 2: nothing to sum
      const b = sparseValues(k * n, 0, random);
      const want = plainProduct(a, b, m, k, n);
      const [at, bt] = [tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n])];
      const c = tf.fill([m, n], 7); // every entry must be written
      const before = tf.memory().numTensors;
      expect(sparseMultiply(tf.backend(), offset(at), m, k, k * 4, 4, offset(bt), n, n * 4, offset(c), n * 4, 4)).toBe(true);
      expect(bits(c.dataSync() as Float32Array)).toEqual(bits(want));
      // The dense kernel gives the same bits.
      const dense = tf.matMul(at, bt);
      expect(bits(dense.dataSync() as Float32Array)).toEqual(bits(want));
      // A stored transposed (K, M) and read by its columns; C written transposed (N, M).
      const aT = tf.transpose(at); // (K, M): column i of it is row i of A
      const cT = tf.fill([n, m], 7);
      expect(sparseMultiply(tf.backend(), offset(aT), m, k, 4, m * 4, offset(bt), n, n * 4, offset(cT), 4, m * 4)).toBe(true);
      const back = tf.transpose(cT);
      expect(bits(back.dataSync() as Float32Array)).toEqual(bits(want));
      tf.dispose([dense, aT, cT, back]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([at, bt, c]);
    });
  }

  it('declines a mostly non-zero A, or fewer than 32 rows, and writes nothing, so the dense product runs', () => {
    const random = rng(3);
    for (const [m, zeros] of [
      [40, 0.2],
      [31, 0.9],
    ] as const) {
      const [at, bt] = [tf.tensor2d(sparseValues(m * 16, zeros, random), [m, 16]), tf.tensor2d(sparseValues(16 * 8, 0, random), [16, 8])];
      const c = tf.fill([m, 8], 7);
      expect(sparseMultiply(tf.backend(), offset(at), m, 16, 64, 4, offset(bt), 8, 32, offset(c), 32, 4)).toBe(false);
      expect(Array.from(c.dataSync()).every((v) => v === 7)).toBe(true);
      tf.dispose([at, bt, c]);
    }
  });

  it('rows beyond one list chunk (4 MB of pairs): the same bits as the dense kernel', () => {
    const random = rng(11);
    const [m, k, n] = [1100, 600, 5]; // 1100 rows of 600 entries: 5.3 MB of pairs, two chunks
    const [at, bt] = [tf.tensor2d(sparseValues(m * k, 0.8, random), [m, k]), tf.tensor2d(sparseValues(k * n, 0, random), [k, n])];
    const c = tf.zeros([m, n]);
    expect(sparseMultiply(tf.backend(), offset(at), m, k, k * 4, 4, offset(bt), n, n * 4, offset(c), n * 4, 4)).toBe(true);
    const dense = tf.matMul(at, bt);
    expect(bits(c.dataSync() as Float32Array)).toEqual(bits(dense.dataSync() as Float32Array));
    tf.dispose([at, bt, c, dense]);
  });
});

describe('linear and the feed-forward layer over a mostly-zero input', () => {
  const matrix = (rows: number, cols: number, random: () => number) => tf.tensor2d(sparseValues(rows * cols, 0, random), [rows, cols]);

  it('linear(x, W, b, …, { sparseInput }): the same bits as without it, forward and all three gradients, no tensor left', () => {
    const random = rng(5);
    const x = tf.tensor3d(sparseValues(4 * 30 * 96, 0.6, random), [4, 30, 96]);
    const [w, b] = [matrix(96, 40, random), tf.tensor1d(sparseValues(40, 0, random))];
    const g = tf.tensor3d(sparseValues(4 * 30 * 40, 0, random), [4, 30, 40]);
    for (const activation of [undefined, 'relu'] as const) {
      const before = tf.memory().numTensors;
      const loss = (sparseInput: boolean) => (p: tf.Tensor, q: tf.Tensor, r: tf.Tensor) => tf.sum(tf.mul(linear(p, q, r, activation, { sparseInput }), g));
      const sparse = tf.grads(loss(true))([x, w, b]);
      const dense = tf.grads(loss(false))([x, w, b]);
      const ops = tf.grads((p: tf.Tensor, q: tf.Tensor, r: tf.Tensor) => {
        const z = tf.add(tf.matMul(p, q), r);
        return tf.sum(tf.mul(activation === 'relu' ? tf.relu(z) : z, g));
      })([x, w, b]);
      sparse.forEach((t, i) => {
        expect(bits(t.dataSync() as Float32Array), `gradient ${i}`).toEqual(bits(dense[i]!.dataSync() as Float32Array));
        expect(bits(t.dataSync() as Float32Array), `gradient ${i} against the ops`).toEqual(bits(ops[i]!.dataSync() as Float32Array));
      });
      const [ys, yd] = [linear(x, w, b, activation, { sparseInput: true }), linear(x, w, b, activation)];
      expect(bits(ys.dataSync() as Float32Array)).toEqual(bits(yd.dataSync() as Float32Array));
      tf.dispose([...sparse, ...dense, ...ops, ys, yd]);
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.dispose([x, w, b, g]);
  });

  it('FeedForward (ReLU) in training: output and gradients the same bits as the same layer through the ops', () => {
    const random = rng(9);
    const layer = new FeedForward({ dFF: 64, dropout: 0 });
    const x = tf.tensor3d(sparseValues(3 * 20 * 32, 0, random), [3, 20, 32]);
    layer.apply(x);
    const [w1, b1, w2, b2] = layer.trainableWeights.map((v) => v.read());
    const g = tf.tensor3d(sparseValues(3 * 20 * 32, 0, random), [3, 20, 32]);
    const before = tf.memory().numTensors;
    const runs = sparseProductsRun();
    const viaLayer = tf.grads((p: tf.Tensor) => tf.sum(tf.mul(layer.forward(p, { training: true }).output, g)))([x]);
    // h·W2 forward; hᵀ·dy, dz·W1ᵀ and (dzᵀ·x)ᵀ back: the four products over the ReLU's zeros.
    expect(sparseProductsRun() - runs).toBe(4);
    const viaOps = tf.grads((p: tf.Tensor) => {
      const hidden = tf.relu(tf.add(tf.matMul(p, w1!), b1!));
      return tf.sum(tf.mul(tf.add(tf.matMul(hidden, w2!), b2!), g));
    })([x]);
    expect(bits(viaLayer[0]!.dataSync() as Float32Array)).toEqual(bits(viaOps[0]!.dataSync() as Float32Array));
    tf.dispose([...viaLayer, ...viaOps]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, g]);
    layer.dispose();
  });
});
