import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECTED_CROSS_ENTROPY, registerCrossEntropyKernels, type CrossEntropyAttrs } from '../src/ops/kernels/cross-entropy.js';
import { projectedCrossEntropy } from '../src/ops/projected-cross-entropy.js';
import { expectClose, rng } from './helpers.js';

/** Runs on the wasm backend test/setup.ts chooses. */

interface Case {
  name: string;
  rows: number;
  d: number;
  vocab: number;
  labelSmoothing: number;
  transposed?: boolean;
  chunkRows?: number;
  /** Rows not scored (weight 0). */
  masked?: number[];
  /** Ids to set by row (e.g. one outside the vocabulary). */
  ids?: Record<number, number>;
  /** A bias entry set very negative: a logit whose exp underflows to 0 in float32. */
  veryNegative?: { word: number; value: number };
  /** Added to every bias entry: large logits, whose mean's last bit shows in the loss. */
  biasShift?: number;
}

const CASES: Case[] = [
  { name: 'one chunk, ε 0', rows: 6, d: 5, vocab: 8, labelSmoothing: 0 },
  { name: 'chunks of 5 over 13 rows (a remainder of 3), ε 0.1, masked rows', rows: 13, d: 6, vocab: 7, labelSmoothing: 0.1, chunkRows: 5, masked: [0, 6, 12] },
  { name: 'chunks of 5 over 13 rows, ε 0, masked rows', rows: 13, d: 6, vocab: 7, labelSmoothing: 0, chunkRows: 5, masked: [2, 5] },
  { name: 'tied kernel (V, d), chunks of 4, ε 0.1', rows: 13, d: 6, vocab: 11, labelSmoothing: 0.1, transposed: true, chunkRows: 4, masked: [3] },
  { name: 'tied kernel (V, d), ε 0', rows: 9, d: 8, vocab: 13, labelSmoothing: 0, transposed: true },
  { name: 'vocabulary of 2 and of odd width d', rows: 7, d: 3, vocab: 2, labelSmoothing: 0.1, chunkRows: 3 },
  { name: 'a logit of −120 (its exp underflows), the target in one row, ε 0.1', rows: 10, d: 4, vocab: 9, labelSmoothing: 0.1, chunkRows: 4, ids: { 2: 5 }, veryNegative: { word: 5, value: -120 } },
  { name: 'a logit of −120, ε 0', rows: 10, d: 4, vocab: 9, labelSmoothing: 0, chunkRows: 4, ids: { 7: 5 }, veryNegative: { word: 5, value: -120 } },
  { name: 'logits near −50 and ε 0.9: the mean logit weighs in the loss', rows: 12, d: 4, vocab: 11, labelSmoothing: 0.9, chunkRows: 5, biasShift: -50 },
  { name: 'masked rows with ids outside the vocabulary', rows: 8, d: 4, vocab: 6, labelSmoothing: 0.1, chunkRows: 3, masked: [1, 4], ids: { 1: -1, 4: 6 } },
  { name: 'every row masked', rows: 5, d: 4, vocab: 6, labelSmoothing: 0.1, chunkRows: 2, masked: [0, 1, 2, 3, 4] },
  // 300 rows: a chunk of 256, whose weight gradient (k = 256, d·V ≥ 16384) takes the packed product.
  { name: 'a chunk of 256 rows and one of 44, d 64, V 260', rows: 300, d: 64, vocab: 260, labelSmoothing: 0.1, masked: [7] },
  { name: 'a chunk of 256 rows and one of 44, d 64, V 260, tied', rows: 300, d: 64, vocab: 260, labelSmoothing: 0, transposed: true },
];

interface Inputs {
  h: Float32Array;
  w: Float32Array;
  b: Float32Array;
  ids: Int32Array;
  mask: Float32Array;
}

function inputsOf(c: Case, seed: number): Inputs {
  const random = rng(seed);
  const fill = (n: number, scale: number) => Float32Array.from({ length: n }, () => (random() * 2 - 1) * scale);
  const b = fill(c.vocab, 1).map((x) => x + (c.biasShift ?? 0));
  if (c.veryNegative) b[c.veryNegative.word] = c.veryNegative.value;
  const ids = Int32Array.from({ length: c.rows }, (_, i) => c.ids?.[i] ?? Math.floor(random() * c.vocab));
  const mask = Float32Array.from({ length: c.rows }, (_, i) => (c.masked?.includes(i) ? 0 : 1));
  return { h: fill(c.rows * c.d, 1), w: fill(c.d * c.vocab, 2), b, ids, mask };
}

/**
 * Plain loops in double precision: the mean over unmasked rows of lse(z) − Σ q·z for the logits
 * z = h·W + b and the target q = (1 − ε)·onehot + ε/V, and its gradients for h, W, b.
 */
function reference(c: Case, x: Inputs) {
  const { rows, d, vocab: v, labelSmoothing: eps } = c;
  const wAt = (i: number, j: number) => (c.transposed ? j * d + i : i * v + j); // W[i, j] of W (d, V), wherever it is stored
  const count = Math.max(x.mask.reduce((p, m) => p + m, 0), 1);
  let loss = 0;
  const dh = new Float64Array(rows * d);
  const dw = new Float64Array(d * v);
  const db = new Float64Array(v);
  for (let r = 0; r < rows; r++) {
    const weight = x.mask[r]! / count;
    const z = Array.from({ length: v }, (_, j) => {
      let s = x.b[j]!;
      for (let i = 0; i < d; i++) s += x.h[r * d + i]! * x.w[wAt(i, j)]!;
      return s;
    });
    const max = Math.max(...z);
    const lse = max + Math.log(z.reduce((p, zj) => p + Math.exp(zj - max), 0));
    const q = z.map((_, j) => (eps > 0 ? (j === x.ids[r] ? 1 - eps : 0) + eps / v : j === x.ids[r] ? 1 : 0));
    loss += weight * (lse - z.reduce((p, zj, j) => p + q[j]! * zj, 0));
    for (let j = 0; j < v; j++) {
      const g = (Math.exp(z[j]! - lse) - q[j]!) * weight;
      db[j] += g;
      for (let i = 0; i < d; i++) {
        dh[r * d + i] += g * x.w[wAt(i, j)]!;
        dw[wAt(i, j)] += g * x.h[r * d + i]!;
      }
    }
  }
  return { loss, dh, dw, db };
}

interface Tensors {
  h: tf.Tensor;
  w: tf.Tensor;
  b: tf.Tensor;
  ids: tf.Tensor;
  mask: tf.Tensor;
}

const tensorsOf = (c: Case, x: Inputs): Tensors => ({
  h: tf.tensor2d(x.h, [c.rows, c.d]),
  w: tf.tensor2d(x.w, c.transposed ? [c.vocab, c.d] : [c.d, c.vocab]),
  b: tf.tensor1d(x.b),
  ids: tf.tensor1d(x.ids, 'int32'),
  mask: tf.tensor1d(x.mask),
});

const optionsOf = (c: Case, eagerGradients = true) => ({ labelSmoothing: c.labelSmoothing, transposed: c.transposed ?? false, eagerGradients, ...(c.chunkRows ? { chunkRows: c.chunkRows } : {}) });

/** The loss and its gradients for h, W, b, as float32 arrays; checks nothing is left behind. */
function lossAndGrads(c: Case, t: Tensors, eagerGradients = true): Float32Array[] {
  const before = tf.memory().numTensors;
  const { value, grads } = tf.valueAndGrads((h: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => projectedCrossEntropy(h, w, b, t.ids, t.mask, optionsOf(c, eagerGradients)))([t.h, t.w, t.b]);
  const values = [value, ...grads].map((x) => x.dataSync() as Float32Array);
  tf.dispose([value, ...grads]);
  expect(tf.memory().numTensors).toBe(before);
  return values;
}

/** Runs `f` with the kernel unregistered: today's chunked ops. */
function unfused<T>(f: () => T): T {
  tf.unregisterKernel(PROJECTED_CROSS_ENTROPY, 'wasm');
  try {
    return f();
  } finally {
    registerCrossEntropyKernels();
  }
}

const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
const kernelsOf = async (f: () => tf.TensorContainer) => (await tf.profile(f)).kernels.map((k) => k.name);

describe('the projected cross-entropy as one wasm kernel', () => {
  // Registered here for these tests alone when the backend's own registration does not do it.
  let registeredHere = false;
  beforeAll(() => {
    registeredHere = tf.getKernel(PROJECTED_CROSS_ENTROPY, 'wasm') === undefined;
    registerCrossEntropyKernels();
  });
  afterAll(() => {
    if (registeredHere) tf.unregisterKernel(PROJECTED_CROSS_ENTROPY, 'wasm');
  });

  it('is registered on wasm and not on cpu', () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.getKernel(PROJECTED_CROSS_ENTROPY, 'wasm')).toBeDefined();
    expect(tf.getKernel(PROJECTED_CROSS_ENTROPY, 'cpu')).toBeUndefined();
  });

  for (const [index, c] of CASES.entries()) {
    it(`${c.name}: today's ops' loss and gradients to the bit, the plain loops' within 1e-5`, () => {
      const x = inputsOf(c, 100 + index);
      const t = tensorsOf(c, x);
      try {
        const got = lossAndGrads(c, t);
        const want = unfused(() => lossAndGrads(c, t));
        ['loss', 'dh', 'dW', 'db'].forEach((name, i) => expect(bits(got[i]!), name).toEqual(bits(want[i]!)));
        const ref = reference(c, x);
        expectClose(Array.from(got[0]!), [ref.loss], 1e-5);
        expectClose(Array.from(got[1]!), Array.from(ref.dh), 1e-5);
        expectClose(Array.from(got[2]!), Array.from(ref.dw), 1e-5);
        expectClose(Array.from(got[3]!), Array.from(ref.db), 1e-5);
        if (c.masked?.length !== c.rows) expect(Math.max(...Array.from(got[1]!, Math.abs))).toBeGreaterThan(1e-3); // not vacuous
      } finally {
        tf.dispose(Object.values(t));
      }
    });
  }

  it('runs as one kernel in training, and today\'s ops without it, without gradients in the same pass, or where it does not fit', async () => {
    const c = CASES[1]!;
    const t = tensorsOf(c, inputsOf(c, 7));
    const train = (eager: boolean) => () => tf.grads((h: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => projectedCrossEntropy(h, w, b, t.ids, t.mask, optionsOf(c, eager)))([t.h, t.w, t.b]);
    try {
      const fused = await kernelsOf(train(true));
      expect(fused.filter((k) => k === PROJECTED_CROSS_ENTROPY)).toHaveLength(1);
      for (const op of ['OneHot', 'Exp', 'Log', 'Max', 'BatchMatMul', 'Concat']) expect(fused).not.toContain(op);
      // Today's ops: unregistered, or gradients in backprop (eagerGradients false), or inference.
      const ops = await unfused(() => kernelsOf(train(true)));
      expect(ops).not.toContain(PROJECTED_CROSS_ENTROPY);
      expect(ops.filter((k) => k === 'OneHot')).toHaveLength(3); // a chunk each
      expect(await kernelsOf(train(false))).not.toContain(PROJECTED_CROSS_ENTROPY);
      expect(await kernelsOf(() => projectedCrossEntropy(t.h, t.w, t.b, t.ids, t.mask, optionsOf(c, false)))).not.toContain(PROJECTED_CROSS_ENTROPY);
      // A vocabulary of one: tf.oneHot's own error, as without the kernel.
      const one = { h: t.h, w: tf.ones([c.d, 1]), b: tf.zeros([1]) };
      expect(() => tf.grads((h: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => projectedCrossEntropy(h, w, b, t.ids, t.mask, optionsOf(c)))([one.h, one.w, one.b])).toThrow(/depth must be >=2/);
      tf.dispose([one.w, one.b]);
    } finally {
      tf.dispose(Object.values(t));
    }
  });

  it('without a tape (evaluation with eagerGradients), nothing is left behind', () => {
    const c = CASES[3]!;
    const t = tensorsOf(c, inputsOf(c, 8));
    const before = tf.memory().numTensors;
    const loss = projectedCrossEntropy(t.h, t.w, t.b, t.ids, t.mask, optionsOf(c));
    expect(tf.memory().numTensors).toBe(before + 1);
    const want = unfused(() => tf.tidy(() => projectedCrossEntropy(t.h, t.w, t.b, t.ids, t.mask, optionsOf(c))));
    expect(bits(loss.dataSync() as Float32Array)).toEqual(bits(want.dataSync() as Float32Array));
    tf.dispose([loss, want, ...Object.values(t)]);
  });

  it('the kernel alone: gradients of scale · loss (scale 2.5), each output its input\'s shape', () => {
    const c = CASES[3]!;
    const x = inputsOf(c, 9);
    const t = tensorsOf(c, x);
    const weights = tf.tidy(() => tf.div(t.mask, tf.maximum(tf.sum(t.mask), 1)));
    const attrs: CrossEntropyAttrs = { labelSmoothing: c.labelSmoothing, transposed: true, chunkRows: c.chunkRows!, scale: 2.5 };
    const before = tf.memory().numTensors;
    const out = tf.engine().runKernel(PROJECTED_CROSS_ENTROPY, { h: t.h, w: t.w, b: t.b, ids: t.ids, weights }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    expect(out.map((o) => o.shape)).toEqual([[], [c.rows, c.d], [c.vocab, c.d], [c.vocab]]);
    const ref = reference(c, x);
    expectClose(Array.from(out[0]!.dataSync()), [ref.loss], 1e-5);
    expectClose(Array.from(out[1]!.dataSync()), Array.from(ref.dh, (g) => 2.5 * g), 1e-5);
    expectClose(Array.from(out[2]!.dataSync()), Array.from(ref.dw, (g) => 2.5 * g), 1e-5);
    expectClose(Array.from(out[3]!.dataSync()), Array.from(ref.db, (g) => 2.5 * g), 1e-5);
    tf.dispose(out);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([weights, ...Object.values(t)]);
  });
});
