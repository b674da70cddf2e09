import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { dropout, dropoutMask, dropoutMaskTensor, nextDropoutSeed, residualDropout, seedDropout } from '../src/ops/dropout.js';
import { DROPOUT, maskConstants } from '../src/ops/kernels/dropout-mask.js';
import { sumRows } from '../src/ops/gradients.js';
import { layerNorm, layerNormIsFused } from '../src/ops/layer-norm.js';
import { rng } from './helpers.js';

/** LayerNorm and its gradients for Σ w·y, by plain loops in float64: x (rows, d). */
function layerNormByLoops(x: number[][], gamma: number[], beta: number[], w: number[][], eps: number) {
  const d = gamma.length;
  const dgamma = new Array<number>(d).fill(0);
  const dbeta = new Array<number>(d).fill(0);
  const y: number[][] = [];
  const dx: number[][] = [];
  x.forEach((row, i) => {
    const mean = row.reduce((s, v) => s + v, 0) / d;
    const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / d;
    const r = 1 / Math.sqrt(variance + eps);
    const xhat = row.map((v) => (v - mean) * r);
    y.push(xhat.map((h, j) => h * gamma[j]! + beta[j]!));
    const g = w[i]!.map((dy, j) => dy * gamma[j]!);
    const mg = g.reduce((s, v) => s + v, 0) / d;
    const mgx = g.reduce((s, v, j) => s + v * xhat[j]!, 0) / d;
    dx.push(g.map((v, j) => r * (v - mg - xhat[j]! * mgx)));
    w[i]!.forEach((dy, j) => {
      dgamma[j] += dy * xhat[j]!;
      dbeta[j] += dy;
    });
  });
  return { y, dx, dgamma, dbeta };
}

const matrix = (rows: number, cols: number, random: () => number, scale = 1, shift = 0) => Array.from({ length: rows }, () => Array.from({ length: cols }, () => (random() * 2 - 1) * scale + shift));

function maxDiff(got: ArrayLike<number>, want: number[]): number {
  expect(got.length).toBe(want.length);
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!));
  return m;
}

describe('fused LayerNorm', () => {
  // d 64 and 8 run fused on wasm; d 6 is not a multiple of 4 and takes the tf-ops path.
  for (const [rows, d] of [[37, 64], [5, 8], [4, 6]] as const) {
    it(`values and gradients equal plain loops and the tf-ops path, (${rows}, ${d})`, () => {
      const random = rng(rows * d);
      const x = matrix(rows, d, random, 3, 0.5);
      const gamma = Array.from({ length: d }, () => 0.5 + random());
      const beta = Array.from({ length: d }, () => random() - 0.5);
      const w = matrix(rows, d, random);
      const want = layerNormByLoops(x, gamma, beta, w, 1e-5);
      const before = tf.memory().numTensors;
      const [xt, gt, bt, wt] = [tf.tensor2d(x), tf.tensor1d(gamma), tf.tensor1d(beta), tf.tensor2d(w)];
      expect(layerNormIsFused(xt, gt, bt)).toBe(tf.getBackend() === 'wasm' && d % 4 === 0);
      for (const fused of [true, false]) {
        const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(layerNorm(a, g, b, 1e-5, { fused }), wt));
        const y = tf.tidy(() => layerNorm(xt, gt, bt, 1e-5, { fused }));
        const [dx, dg, db] = tf.grads(f)([xt, gt, bt]);
        expect(maxDiff(y.dataSync(), want.y.flat()), `y, fused ${fused}`).toBeLessThan(1e-5);
        expect(maxDiff(dx!.dataSync(), want.dx.flat()), `dx, fused ${fused}`).toBeLessThan(1e-5);
        expect(maxDiff(dg!.dataSync(), want.dgamma), `dγ, fused ${fused}`).toBeLessThan(1e-4);
        expect(maxDiff(db!.dataSync(), want.dbeta), `dβ, fused ${fused}`).toBeLessThan(1e-4);
        tf.dispose([y, dx!, dg!, db!]);
      }
      tf.dispose([xt, gt, bt, wt]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it("a (B, T, d) input: the fused path equals the tf-ops path exactly, gradients included", () => {
    const random = rng(3);
    const before = tf.memory().numTensors;
    const x = tf.tensor3d(matrix(6 * 7, 16, random).flat(), [6, 7, 16]);
    const g = tf.tensor1d(Array.from({ length: 16 }, () => random() + 0.5));
    const b = tf.tensor1d(Array.from({ length: 16 }, () => random()));
    const w = tf.tensor3d(matrix(6 * 7, 16, random).flat(), [6, 7, 16]);
    const run = (fused: boolean) => {
      const gs = tf.grads((a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(layerNorm(a, gg, bb, 1e-6, { fused }), w)))([x, g, b]);
      const out = gs.map((t) => Array.from(t.dataSync()));
      tf.dispose(gs);
      return out;
    };
    const [fused, plain] = [run(true), run(false)];
    // The kernels take the same steps as the tf ops (means summed in order, then divided): equal bit for bit.
    fused.forEach((got, i) => expect(got).toEqual(plain[i]!));
    tf.dispose([x, g, b, w]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('dropout masks made by the backend', () => {
  it('equal the JavaScript draws bit for bit, for every remainder of four and extreme seeds', () => {
    const before = tf.memory().numTensors;
    for (const [n, rate, seed] of [[1, 0.1, 5], [6, 0.5, 123], [1003, 0.1, 4294967295], [4096, 0.3, 0], [10, 1e-12, 3]] as const) {
      const want = dropoutMask(n, rate, seed);
      const t = dropoutMaskTensor([n], rate, seed);
      expect(Array.from(t.dataSync()), `n ${n}, rate ${rate}`).toEqual(Array.from(want));
      t.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('dropout in one kernel: the values and gradient of x · mask bit for bit, for every remainder of four', async () => {
    const bits = (t: tf.Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));
    const onWasm = tf.getBackend() === 'wasm';
    for (const [n, rate, seed] of [[1, 0.1, 5], [7, 0.5, 123], [1003, 0.1, 4294967295], [4096, 0.3, 0]] as const) {
      const random = rng(n);
      const x = tf.tensor1d(Array.from({ length: n }, () => random() * 4 - 2));
      const dy = tf.tensor1d(Array.from({ length: n }, () => random() * 4 - 2));
      const before = tf.memory().numTensors;
      seedDropout(seed);
      const mask = dropoutMaskTensor([n], rate, nextDropoutSeed()); // the mask the first dropout call after seedDropout(seed) draws
      seedDropout(undefined);
      const wantY = tf.mul(x, mask);
      const wantG = tf.mul(dy, mask);
      seedDropout(seed);
      const y = dropout(x, rate, true);
      seedDropout(seed);
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(dropout(a, rate, true), dy)))(x);
      seedDropout(undefined);
      expect(bits(y), `n ${n}`).toEqual(bits(wantY));
      expect(bits(g), `n ${n}`).toEqual(bits(wantG));
      tf.dispose([mask, wantY, wantG, y, g]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, dy]);
    }
    // On wasm the forward is one kernel call and no mask is made.
    if (onWasm) {
      const x = tf.ones([64]);
      seedDropout(1);
      const info = await tf.profile(() => dropout(x, 0.25, true));
      seedDropout(undefined);
      expect(info.kernelNames).toEqual([DROPOUT]);
      tf.dispose([x, info.result as tf.Tensor]);
    }
  });

  it('a residual around dropout, x + dropout(y): the values and gradients of tf.add(x, dropout(y)) bit for bit, in one kernel on wasm', async () => {
    const bits = (t: tf.Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));
    let [dropped, kept] = [0, 0];
    for (const [shape, rate, seed] of [[[3, 5], 0.1, 9], [[2, 7, 9], 0.5, 4294967295], [[1, 4096], 0.3, 0]] as const) {
      const random = rng(shape[0] * 31 + seed);
      const values = () => tf.tensor(Array.from({ length: tf.util.sizeFromShape([...shape]) }, () => random() * 4 - 2), [...shape]);
      const [x, y, dy] = [values(), values(), values()];
      const before = tf.memory().numTensors;
      // The values and the gradients for x and y of Σ dy·out, along `path`, from the same dropout seed.
      const run = (path: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => {
        seedDropout(seed);
        const out = tf.tidy(() => path(x, y));
        seedDropout(seed);
        const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(path(a, b), dy)))([x, y]);
        seedDropout(undefined);
        const result = [out, ...grads].map(bits);
        tf.dispose([out, ...grads]);
        return result;
      };
      const got = run((a, b) => residualDropout(a, b, rate, true));
      const want = run((a, b) => tf.add(a, dropout(b, rate, true)));
      expect(tf.memory().numTensors).toBe(before);
      ['out', 'dx', 'dy'].forEach((name, i) => expect(got[i], `${name} (${shape})`).toEqual(want[i]));
      // Some entries of y dropped (gradient 0) and some kept.
      dropped += got[2]!.filter((b) => b === 0).length;
      kept += got[2]!.filter((b) => b !== 0).length;
      tf.dispose([x, y, dy]);
    }
    expect(dropped).toBeGreaterThan(100);
    expect(kept).toBeGreaterThan(100);
    // Not training: x + y. Shapes that broadcast: the two ops.
    const [a, b] = [tf.tensor2d([[1, 2]]), tf.tensor2d([[3, 4]])];
    const sum = residualDropout(a, b, 0.5, false);
    expect(Array.from(sum.dataSync())).toEqual([4, 6]);
    const broadcast = residualDropout(tf.ones([2, 2]), b, 0.5, true);
    expect(broadcast.shape).toEqual([2, 2]);
    if (tf.getBackend() === 'wasm') {
      seedDropout(1);
      const info = await tf.profile(() => residualDropout(a, b, 0.25, true));
      seedDropout(undefined);
      expect(info.kernelNames).toEqual([DROPOUT]);
      tf.dispose(info.result as tf.Tensor);
    }
    tf.dispose([a, b, sum, broadcast]);
  });

  it('the integer threshold keeps exactly the draws below (1 − rate)·2³²', () => {
    // 0.75·2³² = 3,221,225,472 is an integer: draws up to 3,221,225,471 are kept.
    expect(maskConstants(0.25)).toEqual({ scale: Math.fround(1 / 0.75), threshold: 3_221_225_472 });
    // 0.9·2³² = 3,865,470,566.4: the draws kept are those ≤ 3,865,470,566, i.e. < 3,865,470,567.
    expect(maskConstants(0.1)!.threshold).toBe(3_865_470_567);
    // A rate so small that every draw is kept has no 32-bit threshold.
    expect(maskConstants(1e-12)).toBeNull();
  });
});

describe('row sums (the gradient of a bias)', () => {
  for (const [shape, label] of [[[37, 64], 'width a multiple of 4'], [[3, 5, 7], 'a remainder of 3 columns'], [[1, 2], 'one row']] as const) {
    it(`equal the product ones·x bit for bit and plain loops, ${label}, without leaks`, () => {
      const random = rng(shape.length * 31 + shape[0]!);
      const values = Array.from({ length: (shape as readonly number[]).reduce((p: number, d: number) => p * d, 1) }, () => random() * 4 - 2);
      const d = shape[shape.length - 1]!;
      const rows = values.length / d;
      const before = tf.memory().numTensors;
      const x = tf.tensor(values, [...shape]);
      const got = sumRows(x);
      const byProduct = tf.tidy(() => tf.reshape(tf.matMul(tf.ones([1, rows]), tf.reshape(x, [rows, d])), [d]));
      expect(got.shape).toEqual([d]);
      expect(Array.from(got.dataSync())).toEqual(Array.from(byProduct.dataSync()));
      // Float32 sums in row order, by hand.
      const want = Array.from({ length: d }, (_, j) => {
        let s = 0;
        for (let i = 0; i < rows; i++) s = Math.fround(s + Math.fround(values[i * d + j]!));
        return s;
      });
      expect(Array.from(got.dataSync())).toEqual(want);
      tf.dispose([x, got, byProduct]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
