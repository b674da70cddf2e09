import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { causalMask, MultiHeadAttention, paddingMask, scaledDotProductAttention, ShapeError } from '../src/index.js';
import { describeEachBackend, expectClose, expectNoLeak, randomArray, rng } from './helpers.js';
import { attentionRef, flat, type Matrix } from './reference.js';

const B = 2;
const H = 3;
const TQ = 5;
const TK = 6;
const DK = 4;
const DV = 3;

/** Reference over every (batch, head) pair; mask given per batch element as (Tq, Tk). */
function reference(q: Matrix[][], k: Matrix[][], v: Matrix[][], mask?: (b: number) => Matrix) {
  const out: Matrix[][] = [];
  const w: Matrix[][] = [];
  for (let b = 0; b < B; b++) {
    out.push([]);
    w.push([]);
    for (let h = 0; h < H; h++) {
      const r = attentionRef(q[b]![h]!, k[b]![h]!, v[b]![h]!, mask?.(b));
      out[b]!.push(r.output);
      w[b]!.push(r.weights);
    }
  }
  return { output: flat(out), weights: flat(w) };
}

describeEachBackend('scaledDotProductAttention', () => {
  const random = rng(42);
  const qa = randomArray([B, H, TQ, DK], random) as Matrix[][];
  const ka = randomArray([B, H, TK, DK], random) as Matrix[][];
  const va = randomArray([B, H, TK, DV], random) as Matrix[][];
  // Batch 0 has 4 real keys, batch 1 has 6.
  const lengths = [4, 6];
  const padRows = (b: number): Matrix => Array.from({ length: TQ }, () => Array.from({ length: TK }, (_, j) => (j < lengths[b]! ? 1 : 0)));
  const causalRows = (): Matrix => Array.from({ length: TQ }, (_, i) => Array.from({ length: TK }, (_, j) => (j <= i ? 1 : 0)));

  function run(mask?: tf.Tensor) {
    const q = tf.tensor(qa as unknown as number[], [B, H, TQ, DK]);
    const k = tf.tensor(ka as unknown as number[], [B, H, TK, DK]);
    const v = tf.tensor(va as unknown as number[], [B, H, TK, DV]);
    const r = scaledDotProductAttention(q, k, v, mask);
    const result = { output: Array.from(r.output.dataSync()), weights: Array.from(r.weights.dataSync()), shapes: [r.output.shape, r.weights.shape] };
    tf.dispose([q, k, v, r.output, r.weights]);
    return result;
  }

  it('equals the plain-loop reference without a mask', () => {
    const got = run();
    const want = reference(qa, ka, va);
    expect(got.shapes).toEqual([[B, H, TQ, DV], [B, H, TQ, TK]]);
    expectClose(got.output, want.output, 1e-5);
    expectClose(got.weights, want.weights, 1e-5);
  });

  it('equals the reference with a padding mask; padded keys get weight exactly 0', () => {
    const ids = tf.tensor2d([[5, 6, 7, 8, 0, 0], [1, 2, 3, 4, 5, 6]], [B, TK], 'int32');
    const mask = paddingMask(ids, 0);
    const got = run(mask);
    tf.dispose([ids, mask]);
    const want = reference(qa, ka, va, padRows);
    expectClose(got.output, want.output, 1e-5);
    expectClose(got.weights, want.weights, 1e-5);
    // Batch 0, every head and query: keys 4 and 5 are padding.
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < TQ; i++) {
        const base = ((0 * H + h) * TQ + i) * TK;
        expect(got.weights[base + 4]).toBe(0);
        expect(got.weights[base + 5]).toBe(0);
      }
    }
  });

  it('equals the reference with a causal mask combined with padding', () => {
    const ids = tf.tensor2d([[5, 6, 7, 8, 0, 0], [1, 2, 3, 4, 5, 6]], [B, TK], 'int32');
    const mask = tf.tidy(() => tf.mul(paddingMask(ids, 0), tf.linalg.bandPart(tf.ones([TQ, TK]), -1, 0)));
    const got = run(mask);
    tf.dispose([ids, mask]);
    const combined = (b: number) => padRows(b).map((row, i) => row.map((x, j) => x * causalRows()[i]![j]!));
    const want = reference(qa, ka, va, combined);
    expectClose(got.output, want.output, 1e-5);
    expectClose(got.weights, want.weights, 1e-5);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let i = 0; i < TQ; i++)
          for (let j = 0; j < TK; j++) {
            if (combined(b)[i]![j] === 0) expect(got.weights[((b * H + h) * TQ + i) * TK + j]).toBe(0);
          }
  });

  it('has rows that sum to 1', () => {
    const got = run();
    for (let r = 0; r < B * H * TQ; r++) {
      const sum = got.weights.slice(r * TK, (r + 1) * TK).reduce((a, b) => a + b, 0);
      expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
    }
  });

  it('gives zero weights and output, not NaN, for a fully blocked row', () => {
    const rows = Array.from({ length: TQ }, (_, i) => Array.from({ length: TK }, () => (i === 2 ? 0 : 1)));
    const mask = tf.tensor2d(rows);
    const got = run(mask);
    mask.dispose();
    expect(got.output.every(Number.isFinite)).toBe(true);
    expect(got.weights.every(Number.isFinite)).toBe(true);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++) {
        const row = ((b * H + h) * TQ + 2) * TK;
        expect(got.weights.slice(row, row + TK)).toEqual(new Array(TK).fill(0));
        const out = ((b * H + h) * TQ + 2) * DV;
        expect(got.output.slice(out, out + DV)).toEqual(new Array(DV).fill(0));
        const other = ((b * H + h) * TQ + 3) * TK;
        expect(Math.abs(got.weights.slice(other, other + TK).reduce((a, x) => a + x, 0) - 1)).toBeLessThan(1e-5);
      }
  });

  it('works on rank-3 inputs and a hand-computed case', () => {
    // One query [1, 0], keys [1, 0] and [0, 1]: scores 1/√2 and 0.
    const q = tf.tensor3d([[[1, 0]]]);
    const k = tf.tensor3d([[[1, 0], [0, 1]]]);
    const v = tf.tensor3d([[[10], [20]]]);
    const { output, weights } = scaledDotProductAttention(q, k, v);
    const e = Math.exp(1 / Math.SQRT2);
    const w0 = e / (e + 1);
    expectClose(weights, [w0, 1 - w0], 1e-6);
    expectClose(output, [10 * w0 + 20 * (1 - w0)], 1e-4);
    tf.dispose([q, k, v, output, weights]);
  });

  it('leaks no tensors', () => {
    const q = tf.ones([1, 2, 3, 4]);
    const mask = causalMask(3);
    expectNoLeak(() => {
      const r = scaledDotProductAttention(q, q, q, mask);
      tf.dispose([r.output, r.weights]);
    });
    tf.dispose([q, mask]);
  });

  it('rejects mismatched shapes with a ShapeError', () => {
    const q = tf.ones([1, 3, 4]);
    const k = tf.ones([1, 3, 5]);
    expect(() => scaledDotProductAttention(q, k, k)).toThrow(ShapeError);
    expect(() => scaledDotProductAttention(q, k, k)).toThrow('q and k must share their last dimension (dk), got q (1, 3, 4) and k (1, 3, 5)');
    tf.dispose([q, k]);
  });
});

describeEachBackend('masks', () => {
  it('paddingMask marks real tokens with 1, padding with 0, shaped (B, 1, 1, T)', () => {
    const ids = tf.tensor2d([[3, 4, 0], [0, 2, 2]], [2, 3], 'int32');
    const mask = paddingMask(ids, 0);
    expect(mask.shape).toEqual([2, 1, 1, 3]);
    expect(Array.from(mask.dataSync())).toEqual([1, 1, 0, 0, 1, 1]);
    const other = paddingMask(ids, 2);
    expect(Array.from(other.dataSync())).toEqual([1, 1, 1, 1, 0, 0]);
    tf.dispose([ids, mask, other]);
  });

  it('causalMask is lower-triangular ones', () => {
    const mask = causalMask(3);
    expect(mask.arraySync()).toEqual([
      [1, 0, 0],
      [1, 1, 0],
      [1, 1, 1],
    ]);
    mask.dispose();
    expect(() => causalMask(0)).toThrow('causalMask length (0) must be a positive integer');
  });
});

describeEachBackend('causal attention of the last Tq of Tk positions (decoding with a cache)', () => {
  // Query i sits at key position Tk − Tq + i and sees keys 0 … Tk − Tq + i; one query sees every key.
  for (const [tq, tk] of [[2, 5], [1, 4], [3, 3]] as const) {
    it(`weights equal the plain-loop reference, Tq ${tq}, Tk ${tk}, and no tensors leak`, () => {
      const random = rng(40 + tq * tk);
      const rand = (t: number, d: number) => randomArray([1, H, t, d], random) as Matrix[][];
      const [q, k, v] = [rand(tq, DK), rand(tk, DK), rand(tk, DK)];
      const layer = new MultiHeadAttention({ numHeads: H, keyDim: DK });
      layer.build([[1, tq, H * DK], [1, tk, H * DK], [1, tk, H * DK]]);
      const before = tf.memory().numTensors;
      const [qt, kt, vt] = [q, k, v].map((x) => tf.tensor4d(flat(x), [1, H, x[0]![0]!.length, DK]));
      const r = layer.forwardProjected(qt!, kt!, vt!, { useCausalMask: true, returnAttentionScores: true });
      const mask: Matrix = Array.from({ length: tq }, (_, i) => Array.from({ length: tk }, (_, j) => (j <= tk - tq + i ? 1 : 0)));
      const want = flat([q[0]!.map((qh, h) => attentionRef(qh, k[0]![h]!, v[0]![h]!, mask).weights)]);
      expectClose(Array.from(r.weights!.dataSync()), want, 1e-5);
      tf.dispose([qt!, kt!, vt!, r.output, r.weights!]);
      expect(tf.memory().numTensors).toBe(before);
      layer.dispose();
    });
  }
});
