import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { MultiHeadAttention, paddingMask } from '../src/index.js';
import { describeEachBackend, expectClose, expectNoLeak, randomArray, rng } from './helpers.js';
import { flat, multiHeadRef, type Matrix, type MhaWeights } from './reference.js';

const B = 2;
const TQ = 4;
const TK = 5;
const D = 8;
const H = 2;

function weightsOf(layer: MultiHeadAttention): MhaWeights {
  const read = (v: tf.LayerVariable | undefined) => v!.read().arraySync() as never;
  return {
    wq: read(layer.projection.wq),
    wk: read(layer.projection.wk),
    wv: read(layer.projection.wv),
    bq: read(layer.projection.bq),
    bk: read(layer.projection.bk),
    bv: read(layer.projection.bv),
    wo: read(layer.wo),
    bo: read(layer.bo),
  };
}

/** Give every weight (biases too) random values, so zero-initialised biases are exercised. */
function randomizeWeights(layer: MultiHeadAttention, seed: number): void {
  const random = rng(seed);
  for (const [, v] of layer.namedWeights()) {
    v.write(tf.tensor(randomArray(v.shape as number[], random) as number[], v.shape as number[]));
  }
}

describeEachBackend('MultiHeadAttention', () => {
  const random = rng(7);
  const query = randomArray([B, TQ, D], random) as Matrix[];
  const memory = randomArray([B, TK, D], random) as Matrix[];

  it('self-attention with a causal mask equals the plain-loop reference', () => {
    const layer = new MultiHeadAttention({ numHeads: H, keyDim: D / H });
    const x = tf.tensor3d(query);
    layer.build([x.shape, x.shape]);
    randomizeWeights(layer, 1);
    const [out, weights] = layer.apply([x, x], { useCausalMask: true, returnAttentionScores: true }) as tf.Tensor[];
    expect(out!.shape).toEqual([B, TQ, D]);
    expect(weights!.shape).toEqual([B, H, TQ, TQ]);
    const w = weightsOf(layer);
    const causal = Array.from({ length: TQ }, (_, i) => Array.from({ length: TQ }, (_, j) => (j <= i ? 1 : 0)));
    const refs = query.map((q) => multiHeadRef(q, q, q, w, H, causal));
    expectClose(out!, flat(refs.map((r) => r.output)), 1e-5);
    expectClose(weights!, flat(refs.map((r) => r.weights)), 1e-5);
    tf.dispose([x, out!, weights!]);
    layer.dispose();
  });

  it('cross-attention with a padding mask equals the reference; masked weights are exactly 0', () => {
    const layer = new MultiHeadAttention({ numHeads: H, keyDim: 3, valueDim: 5 });
    const q = tf.tensor3d(query);
    const m = tf.tensor3d(memory);
    layer.build([q.shape, m.shape]);
    randomizeWeights(layer, 2);
    const ids = tf.tensor2d([[4, 4, 4, 0, 0], [1, 2, 3, 4, 5]], [B, TK], 'int32');
    const mask = paddingMask(ids, 0);
    const r = layer.forward(q, m, m, { attentionMask: mask, returnAttentionScores: true });
    const w = weightsOf(layer);
    const lengths = [3, 5];
    const refs = query.map((qb, b) => {
      const rows = Array.from({ length: TQ }, () => Array.from({ length: TK }, (_, j) => (j < lengths[b]! ? 1 : 0)));
      return multiHeadRef(qb, memory[b]!, memory[b]!, w, H, rows);
    });
    expectClose(r.output, flat(refs.map((x) => x.output)), 1e-5);
    const got = Array.from(r.weights!.dataSync());
    expectClose(got, flat(refs.map((x) => x.weights)), 1e-5);
    for (let h = 0; h < H; h++)
      for (let i = 0; i < TQ; i++) {
        const row = (h * TQ + i) * TK; // batch 0
        expect([got[row + 3], got[row + 4]]).toEqual([0, 0]);
        const sum = got.slice(row, row + TK).reduce((a, x) => a + x, 0);
        expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
      }
    tf.dispose([q, m, ids, mask, r.output, r.weights!]);
    layer.dispose();
  });

  it('takes query, key, value in that order (a key input of its own width), and a (B, Tq, Tk) mask', () => {
    const layer = new MultiHeadAttention({ numHeads: H, keyDim: 4, useBias: false, outputDim: 6 });
    const q = tf.tensor3d(query);
    const v = tf.tensor3d(memory);
    const k = tf.tensor3d(randomArray([B, TK, 3], rng(3)) as Matrix[]);
    const rows = Array.from({ length: TQ }, (_, i) => Array.from({ length: TK }, (_, j) => ((i + j) % 3 === 0 ? 0 : 1)));
    const mask = tf.tensor3d([rows, rows]);
    const out = layer.apply([q, k, v], { attentionMask: mask }) as tf.Tensor;
    expect(out.shape).toEqual([B, TQ, 6]);
    expect(layer.projection.wk.shape).toEqual([3, H * 4]);
    expect(layer.projection.wv.shape).toEqual([D, H * 4]);
    expect(layer.projection.bq).toBeUndefined();
    expect(layer.bo).toBeUndefined();
    const read = (v: tf.LayerVariable) => v.read().arraySync() as Matrix;
    const zeros = (n: number) => new Array<number>(n).fill(0);
    const w: MhaWeights = {
      wq: read(layer.projection.wq),
      wk: read(layer.projection.wk),
      wv: read(layer.projection.wv),
      wo: read(layer.wo),
      bq: zeros(H * 4),
      bk: zeros(H * 4),
      bv: zeros(H * 4),
      bo: zeros(6),
    };
    const keys = k.arraySync() as Matrix[];
    const refs = query.map((qb, b) => multiHeadRef(qb, keys[b]!, memory[b]!, w, H, rows));
    expectClose(out, flat(refs.map((x) => x.output)), 1e-5);
    tf.dispose([q, v, k, mask, out]);
    layer.dispose();
  });

  it('returns weights only when asked, and keeps no tensors on the layer between calls', () => {
    const layer = new MultiHeadAttention({ numHeads: H, keyDim: D / H });
    const x = tf.tensor3d(query);
    const first = layer.apply([x, x]) as tf.Tensor;
    expect(Array.isArray(first)).toBe(false);
    first.dispose();
    expectNoLeak(() => {
      const [out, weights] = layer.apply([x, x], { returnAttentionScores: true }) as tf.Tensor[];
      tf.dispose([out!, weights!]);
    });
    expectNoLeak(() => {
      const r = layer.forward(x, x, x, { useCausalMask: true, training: true });
      expect(r.weights).toBeUndefined();
      r.output.dispose();
    });
    x.dispose();
    layer.dispose();
  });

  it('computeOutputShape matches the real output', () => {
    const layer = new MultiHeadAttention({ numHeads: 4, keyDim: 2, valueDim: 3 });
    const q = tf.zeros([3, 7, 5]);
    const v = tf.zeros([3, 2, 9]);
    const out = layer.apply([q, v]) as tf.Tensor;
    expect(out.shape).toEqual(layer.computeOutputShape([q.shape, v.shape]));
    expect(out.shape).toEqual([3, 7, 5]);
    tf.dispose([q, v, out]);
    layer.dispose();
  });
});
