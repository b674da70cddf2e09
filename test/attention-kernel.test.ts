import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { scaledDotProductAttention } from '../src/attention/scaled-dot-product.js';
import { MultiHeadAttention } from '../src/layers/multi-head-attention.js';
import { mergeHeads, splitHeads } from '../src/layers/qkv-projection.js';
import { fusedAttention, fusedAttentionFits, fusedAttentionRuns } from '../src/ops/attention.js';
import { dropoutMask, seedDropout } from '../src/ops/dropout.js';
import { ATTENTION, ATTENTION_GRAD } from '../src/ops/kernels/attention.js';
import { registerWasmKernels } from '../src/ops/wasm-kernels.js';
import { mixSeed } from '../src/util/random.js';
import { expectClose, rng } from './helpers.js';

/** Runs on the wasm backend test/setup.ts chooses: the backend with the fused kernels. */

interface Case {
  name: string;
  b: number;
  h: number;
  tq: number;
  tk: number;
  dk: number;
  dv: number;
  /** The mask's shape and its value at (b, h, i, j) (1 = attend), or none. */
  mask?: { shape: number[]; at: (b: number, h: number, i: number, j: number) => number };
  rate?: number;
  /** Tell the kernel the mask is causal (it hides from query i every key after Tk − Tq + i). */
  causal?: boolean;
}

const padded = (lengths: number[]) => (b: number, _h: number, _i: number, j: number) => (j < lengths[b]! ? 1 : 0);
const causal = (_b: number, _h: number, i: number, j: number) => (j <= i ? 1 : 0);
/** Query i at key position offset + i. */
const causalAt = (offset: number) => (_b: number, _h: number, i: number, j: number) => (j <= i + offset ? 1 : 0);

const CASES: Case[] = [
  { name: 'self-attention, padding mask (B, 1, 1, Tk)', b: 2, h: 2, tq: 5, tk: 5, dk: 4, dv: 4, mask: { shape: [2, 1, 1, 5], at: padded([5, 3]) } },
  { name: 'causal mask (Tq, Tk)', b: 2, h: 2, tq: 6, tk: 6, dk: 4, dv: 4, mask: { shape: [6, 6], at: causal } },
  { name: 'padding and causal (B, 1, Tq, Tk)', b: 2, h: 2, tq: 6, tk: 6, dk: 8, dv: 8, mask: { shape: [2, 1, 6, 6], at: (b, h, i, j) => causal(b, h, i, j) * padded([4, 6])(b, h, i, j) } },
  { name: 'cross-attention, Tq ≠ Tk', b: 2, h: 2, tq: 3, tk: 9, dk: 4, dv: 4, mask: { shape: [2, 1, 1, 9], at: padded([9, 5]) } },
  { name: 'a row blocked entirely (B, 1, Tq, Tk)', b: 2, h: 2, tq: 4, tk: 5, dk: 4, dv: 4, mask: { shape: [2, 1, 4, 5], at: (b, _h, i, j) => (b === 1 && i === 2 ? 0 : j < 4 ? 1 : 0) } },
  { name: 'a mask per head (1, H, Tq, Tk)', b: 2, h: 3, tq: 4, tk: 4, dk: 4, dv: 4, mask: { shape: [1, 3, 4, 4], at: (_b, h, i, j) => ((h + i + j) % 3 === 0 ? 0 : 1) } },
  { name: 'no mask', b: 2, h: 2, tq: 4, tk: 4, dk: 4, dv: 4 },
  { name: 'odd sizes: H = 3, dk = 5, dv = 2, Tk = 7', b: 2, h: 3, tq: 6, tk: 7, dk: 5, dv: 2, mask: { shape: [2, 1, 1, 7], at: padded([7, 6]) } },
  { name: 'dropout with a fixed seed, padding and causal', b: 2, h: 2, tq: 6, tk: 6, dk: 4, dv: 4, rate: 0.3, mask: { shape: [2, 1, 6, 6], at: (b, h, i, j) => causal(b, h, i, j) * padded([6, 4])(b, h, i, j) } },
  { name: 'dropout without a mask, odd sizes', b: 2, h: 3, tq: 5, tk: 7, dk: 5, dv: 3, rate: 0.5 },
  { name: 'dropout that keeps one in ten, 9 rows (not a multiple of 4)', b: 1, h: 3, tq: 3, tk: 6, dk: 4, dv: 4, rate: 0.9, mask: { shape: [6], at: (_b, _h, _i, j) => (j === 2 ? 0 : 1) } },
  { name: 'dropout so small that every entry is kept', b: 1, h: 2, tq: 4, tk: 4, dk: 4, dv: 4, rate: 1e-12 },
  { name: 'one query, one head, one sequence', b: 1, h: 1, tq: 1, tk: 5, dk: 3, dv: 3, mask: { shape: [1, 1, 1, 5], at: padded([4]) } },
  // Causal masks the kernel is told about: the products' hidden parts are skipped, in row slabs.
  { name: 'causal, skipped: Tq = Tk = 21 (slabs and a remainder), (Tq, Tk) mask', b: 2, h: 2, tq: 21, tk: 21, dk: 8, dv: 4, causal: true, mask: { shape: [21, 21], at: causal } },
  { name: 'causal, skipped: padding and dropout, Tq = Tk = 19, odd head sizes', b: 2, h: 3, tq: 19, tk: 19, dk: 5, dv: 3, rate: 0.2, causal: true, mask: { shape: [2, 1, 19, 19], at: (b, h, i, j) => causal(b, h, i, j) * padded([19, 11])(b, h, i, j) } },
  { name: 'causal, skipped: 11 new queries after 8 cached keys (Tk = 19)', b: 2, h: 2, tq: 11, tk: 19, dk: 4, dv: 4, causal: true, mask: { shape: [11, 19], at: causalAt(8) } },
  { name: 'causal, skipped: more queries than keys (the first rows see none)', b: 1, h: 2, tq: 12, tk: 9, dk: 4, dv: 4, rate: 0.1, causal: true, mask: { shape: [12, 9], at: causalAt(-3) } },
  { name: 'causal, skipped: one query sees every key', b: 2, h: 2, tq: 1, tk: 10, dk: 4, dv: 4, causal: true, mask: { shape: [2, 1, 1, 10], at: padded([10, 7]) } },
];

const SEED = 1234;

interface Inputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  g: Float32Array;
  mask?: Float32Array;
}

function inputsOf(c: Case, seed: number): Inputs {
  const random = rng(seed);
  const fill = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);
  const maskValues = c.mask && Float32Array.from({ length: c.mask.shape.reduce((p, d) => p * d, 1) }, (_, index) => {
    // The mask's own index → its (b, h, i, j), 0 along the axes it broadcasts over.
    const full = [...new Array<number>(4 - c.mask!.shape.length).fill(1), ...c.mask!.shape];
    const at = [0, 0, 0, 0];
    for (let axis = 3, rest = index; axis >= 0; axis--) {
      at[axis] = rest % full[axis]!;
      rest = Math.floor(rest / full[axis]!);
    }
    return c.mask!.at(at[0]!, at[1]!, at[2]!, at[3]!);
  });
  return { q: fill(c.b * c.tq * c.h * c.dk), k: fill(c.b * c.tk * c.h * c.dk), v: fill(c.b * c.tk * c.h * c.dv), g: fill(c.b * c.tq * c.h * c.dv), ...(maskValues ? { mask: maskValues } : {}) };
}

/**
 * Plain loops in double precision: the output of multi-head attention on projections laid out
 * (B, T, H·d), and the gradients of Σ output·g. `drop` is the dropout multiplier (B, H, Tq, Tk).
 */
function reference(c: Case, x: Inputs, drop?: Float32Array) {
  const { b: nb, h: nh, tq, tk, dk, dv } = c;
  const out = new Float64Array(nb * tq * nh * dv);
  const dq = new Float64Array(x.q.length);
  const dkOut = new Float64Array(x.k.length);
  const dvOut = new Float64Array(x.v.length);
  const qAt = (b: number, i: number, h: number, d: number) => (b * tq + i) * nh * dk + h * dk + d;
  const kAt = (b: number, j: number, h: number, d: number) => (b * tk + j) * nh * dk + h * dk + d;
  const vAt = (b: number, j: number, h: number, e: number) => (b * tk + j) * nh * dv + h * dv + e;
  const oAt = (b: number, i: number, h: number, e: number) => (b * tq + i) * nh * dv + h * dv + e;
  for (let b = 0; b < nb; b++) {
    for (let h = 0; h < nh; h++) {
      for (let i = 0; i < tq; i++) {
        const m = Array.from({ length: tk }, (_, j) => (c.mask ? c.mask.at(b, h, i, j) : 1));
        const dr = Array.from({ length: tk }, (_, j) => (drop ? drop[((b * nh + h) * tq + i) * tk + j]! : 1));
        const s = Array.from({ length: tk }, (_, j) => {
          let dot = 0;
          for (let d = 0; d < dk; d++) dot += x.q[qAt(b, i, h, d)]! * x.k[kAt(b, j, h, d)]!;
          return dot / Math.sqrt(dk) + (1 - m[j]!) * -1e9;
        });
        const max = Math.max(...s);
        const e = s.map((z) => Math.exp(z - max));
        const total = e.reduce((p, z) => p + z, 0);
        const w = e.map((z) => z / total);
        const a = w.map((z, j) => z * m[j]! * dr[j]!);
        const da = new Array<number>(tk).fill(0);
        for (let j = 0; j < tk; j++) {
          for (let f = 0; f < dv; f++) {
            out[oAt(b, i, h, f)] += a[j]! * x.v[vAt(b, j, h, f)]!;
            da[j] += x.g[oAt(b, i, h, f)]! * x.v[vAt(b, j, h, f)]!;
            dvOut[vAt(b, j, h, f)] += a[j]! * x.g[oAt(b, i, h, f)]!;
          }
        }
        const dw = da.map((z, j) => z * dr[j]! * m[j]!);
        const dot = dw.reduce((p, z, j) => p + z * w[j]!, 0);
        const ds = w.map((z, j) => (z * (dw[j]! - dot)) / Math.sqrt(dk));
        for (let j = 0; j < tk; j++) {
          for (let d = 0; d < dk; d++) {
            dq[qAt(b, i, h, d)] += ds[j]! * x.k[kAt(b, j, h, d)]!;
            dkOut[kAt(b, j, h, d)] += ds[j]! * x.q[qAt(b, i, h, d)]!;
          }
        }
      }
    }
  }
  return { out, dq, dk: dkOut, dv: dvOut };
}

interface Tensors {
  q: tf.Tensor;
  k: tf.Tensor;
  v: tf.Tensor;
  g: tf.Tensor;
  mask?: tf.Tensor;
}

function tensorsOf(c: Case, x: Inputs): Tensors {
  return {
    q: tf.tensor3d(x.q, [c.b, c.tq, c.h * c.dk]),
    k: tf.tensor3d(x.k, [c.b, c.tk, c.h * c.dk]),
    v: tf.tensor3d(x.v, [c.b, c.tk, c.h * c.dv]),
    g: tf.tensor3d(x.g, [c.b, c.tq, c.h * c.dv]),
    ...(x.mask ? { mask: tf.tensor(x.mask, c.mask!.shape) } : {}),
  };
}

type Attention = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor;

/** Today's ops one by one: split heads, scaled dot-product attention, merge heads. */
const unfused = (c: Case, mask?: tf.Tensor): Attention => (q, k, v) =>
  mergeHeads(scaledDotProductAttention(splitHeads(q, c.h), splitHeads(k, c.h), splitHeads(v, c.h), mask, { dropout: c.rate ?? 0 }).output);

const fused = (c: Case, mask?: tf.Tensor): Attention => (q, k, v) => fusedAttention(q, k, v, mask, { numHeads: c.h, dropout: c.rate ?? 0, causal: c.causal });

/** Output and the gradients of Σ output·g with respect to q, k, v, the dropout mask seeded alike. */
function run(f: Attention, t: Tensors): Float32Array[] {
  seedDropout(SEED);
  const output = tf.tidy(() => f(t.q, t.k, t.v));
  seedDropout(SEED);
  const grads = tf.grads((q, k, v) => tf.sum(tf.mul(f(q!, k!, v!), t.g)))([t.q, t.k, t.v]);
  const values = [output, ...grads].map((x) => x.dataSync() as Float32Array);
  tf.dispose([output, ...grads]);
  return values;
}

const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));

describe('fused multi-head attention on wasm', () => {
  afterEach(() => seedDropout(undefined));

  it('is registered on wasm and not on cpu', () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(fusedAttentionRuns()).toBe(true);
    expect(tf.getKernel(ATTENTION, 'cpu')).toBeUndefined();
  });

  for (const c of CASES) {
    it(`${c.name}: the unfused ops' output and gradients to the bit, the plain loops' within 1e-5`, () => {
      const x = inputsOf(c, c.b * 1000 + c.tk * 10 + c.h);
      const t = tensorsOf(c, x);
      expect(fusedAttentionFits(t.q, t.k, t.v, c.h, t.mask)).toBe(true);
      const before = tf.memory().numTensors;
      const got = run(fused(c, t.mask), t);
      expect(tf.memory().numTensors).toBe(before);
      const want = run(unfused(c, t.mask), t);
      ['output', 'dq', 'dk', 'dv'].forEach((name, i) => expect(bits(got[i]!), name).toEqual(bits(want[i]!)));
      // The first dropout draw after seedDropout(SEED) is mask seed mixSeed(0, SEED).
      const drop = c.rate ? dropoutMask(c.b * c.h * c.tq * c.tk, c.rate, mixSeed(0, SEED)) : undefined;
      const ref = reference(c, x, drop);
      expectClose(Array.from(got[0]!), Array.from(ref.out), 1e-5);
      expectClose(Array.from(got[1]!), Array.from(ref.dq), 1e-5);
      expectClose(Array.from(got[2]!), Array.from(ref.dk), 1e-5);
      expectClose(Array.from(got[3]!), Array.from(ref.dv), 1e-5);
      tf.dispose(Object.values(t));
    });
  }

  /** The kernel's saved softmax weights w (B, H, Tq, Tk) and its output, run directly. */
  const kernelWeights = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, mask: tf.Tensor | undefined, h: number, causal: boolean) =>
    tf.tidy(() => {
      const [o, w] = tf.engine().runKernel(ATTENTION, { q, k, v, ...(mask ? { mask } : {}) }, { numHeads: h, rate: 0, seed: 0, save: true, causal }) as tf.Tensor[];
      return { o: o!.dataSync() as Float32Array, w: w!.dataSync() as Float32Array };
    });

  it("makes the backend Softmax's weights to the bit: rows of 1–70 keys, scores up to ±1e4 (exps that underflow), padded and causal", () => {
    const random = rng(77);
    const before = tf.memory().numTensors;
    for (let tk = 1; tk <= 70; tk++) {
      for (const causalMask of [false, true]) {
        const [b, h, dk, tq] = [2, 2, 3, causalMask ? Math.min(tk, 1 + (tk % 9)) : 3];
        const magnitude = [1, 30, 300][tk % 3]!;
        const fill = (n: number) => Float32Array.from({ length: n }, () => (random() * 2 - 1) * magnitude);
        const [q, k, v] = [tf.tensor3d(fill(b * tq * h * dk), [b, tq, h * dk]), tf.tensor3d(fill(b * tk * h * dk), [b, tk, h * dk]), tf.tensor3d(fill(b * tk * h * dk), [b, tk, h * dk])];
        // Padding hides the last keys of the second sequence (one always stays); causal hides the keys after tk − tq + i.
        const at = (bi: number, i: number, j: number) => (bi === 1 && j > 0 && j >= tk - (tk >> 2) ? 0 : 1) * (causalMask && j > tk - tq + i ? 0 : 1);
        const mask = tf.tensor4d(Float32Array.from({ length: b * tq * tk }, (_, n) => at(Math.floor(n / (tq * tk)), Math.floor(n / tk) % tq, n % tk)), [b, 1, tq, tk]);
        const { w } = kernelWeights(q, k, v, mask, h, causalMask);
        const want = tf.tidy(() => {
          const scores = tf.matMul(splitHeads(q, h), splitHeads(k, h), false, true).mul(tf.scalar(Math.fround(1 / Math.sqrt(dk))));
          return tf.softmax(scores.add(tf.scalar(1).sub(mask).mul(tf.scalar(-1e9)))).dataSync() as Float32Array;
        });
        expect(bits(w), `Tk ${tk}, causal ${causalMask}`).toEqual(bits(want));
        tf.dispose([q, k, v, mask]);
      }
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('computes a causal row whole when the keys it hides win its softmax (its visible scores below −1e9), as the unfused ops do', () => {
    // One head, dk = 1: keys 0–3 score −1e10 for every query and keys 4–7 score 0. Queries 0–3
    // see only keys 0–3, so the keys hidden from them (masked, −1e9) take all of their softmax and
    // leave them nothing to attend to; query 3 sees exactly four keys (no hidden key among those
    // a row's pass rounds up to). Queries 4–7 attend to the keys 4–7 they see.
    const t = 8;
    const q = tf.tensor3d(new Array<number>(t).fill(1e5), [1, t, 1]);
    const k = tf.tensor3d([-1e5, -1e5, -1e5, -1e5, 0, 0, 0, 0], [1, t, 1]);
    const v = tf.tensor3d([3, 1, 4, 1, 5, 9, 2, 6], [1, t, 1]);
    const mask = tf.tensor2d(Float32Array.from({ length: t * t }, (_, n) => (n % t <= Math.floor(n / t) ? 1 : 0)), [t, t]);
    const { o } = kernelWeights(q, k, v, mask, 1, true);
    const want = tf.tidy(() => scaledDotProductAttention(q, k, v, mask).output.dataSync() as Float32Array);
    expect(bits(o)).toEqual(bits(want));
    expect(Array.from(o.subarray(0, 5))).toEqual([0, 0, 0, 0, 5]);
    tf.dispose([q, k, v, mask]);
  });

  it('draws one dropout seed per call, as the unfused ops do', () => {
    const c = CASES.find((x) => x.rate === 0.3)!;
    const t = tensorsOf(c, inputsOf(c, 5));
    // Two calls in a row: the second uses the second seed of the sequence in both paths.
    const twice = (f: Attention) => {
      seedDropout(SEED);
      const outputs = tf.tidy(() => [f(t.q, t.k, t.v), f(t.q, t.k, t.v)]);
      const values = outputs.map((o) => bits(o.dataSync() as Float32Array));
      tf.dispose(outputs);
      return values;
    };
    const [a, b] = [twice(fused(c, t.mask)), twice(unfused(c, t.mask))];
    expect(a).toEqual(b);
    expect(a[0]).not.toEqual(a[1]);
    tf.dispose(Object.values(t));
  });

  it('takes masks that broadcast with their last axis Tk, not others', () => {
    const [q, k, v] = [tf.zeros([2, 3, 8]), tf.zeros([2, 5, 8]), tf.zeros([2, 5, 4])];
    const fits = (shape: number[] | undefined, heads = 2) => tf.tidy(() => fusedAttentionFits(q, k, v, heads, shape && tf.ones(shape)));
    expect(fits(undefined)).toBe(true);
    expect(fits([2, 1, 1, 5])).toBe(true);
    expect(fits([3, 5])).toBe(true);
    expect(fits([2, 2, 3, 5])).toBe(true);
    expect(fits([5])).toBe(true);
    expect(fits([2, 1, 3, 1])).toBe(false); // last axis broadcast
    expect(fits([3, 2, 3, 5])).toBe(false); // batch mismatch
    expect(fits([1, 2, 1, 3, 5])).toBe(false); // rank 5
    expect(fits(undefined, 3)).toBe(false); // 8 not divisible by 3
    tf.dispose([q, k, v]);
  });
});

describe('MultiHeadAttention takes the fused kernel on wasm', () => {
  const random = rng(11);
  const [B, TQ, TK, D] = [2, 5, 6, 12];
  const query = tf.tensor3d(Float32Array.from({ length: B * TQ * D }, () => random() * 2 - 1), [B, TQ, D]);
  const memory = tf.tensor3d(Float32Array.from({ length: B * TK * D }, () => random() * 2 - 1), [B, TK, D]);
  const padding = tf.tensor4d([1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], [B, 1, 1, TK]);

  const kernelsOf = async (f: () => tf.Tensor | tf.Tensor[]) => (await tf.profile(() => f())).kernels.map((k) => k.name);

  it('one kernel in place of the unfused ones; the unfused ones with returnAttentionScores', async () => {
    const layer = new MultiHeadAttention({ numHeads: 3, keyDim: 4, dropout: 0.1 });
    const fusedKernels = await kernelsOf(() => layer.forward(query, memory, memory, { attentionMask: padding, training: true }).output);
    expect(fusedKernels).toContain(ATTENTION);
    expect(fusedKernels).not.toContain('Softmax');
    const withScores = await kernelsOf(() => {
      const r = layer.forward(query, memory, memory, { attentionMask: padding, returnAttentionScores: true });
      return [r.output, r.weights!];
    });
    expect(withScores).not.toContain(ATTENTION);
    expect(withScores).toContain('Softmax');
    layer.dispose();
  });

  /** The layer's output and the gradients of every weight and input, with the fused kernel registered or not. */
  function layerRun(layer: MultiHeadAttention, options: { causal: boolean; cross: boolean }, fusedOn: boolean): number[][] {
    if (!fusedOn) {
      tf.unregisterKernel(ATTENTION, 'wasm');
      tf.unregisterKernel(ATTENTION_GRAD, 'wasm');
      expect(fusedAttentionRuns()).toBe(false);
    }
    try {
      const g = tf.tidy(() => tf.randomUniform([B, TQ, D], -1, 1, 'float32', 3));
      const loss = (x: tf.Tensor, m: tf.Tensor) => {
        const key = options.cross ? m : x;
        const out = layer.forward(x, key, key, { attentionMask: options.cross ? padding : undefined, useCausalMask: options.causal, training: true }).output;
        return tf.sum(tf.mul(out, g));
      };
      const weights = layer.trainableWeights.map((w) => w.read() as tf.Variable);
      seedDropout(SEED);
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(() => loss(query, memory) as tf.Scalar, weights);
      seedDropout(SEED);
      const inputGrads = options.cross ? tf.grads((x, m) => loss(x!, m!))([query, memory]) : [tf.grad((x) => loss(x, memory))(query)];
      const results = [value, ...Object.values(grads), ...inputGrads].map((t) => Array.from(new Uint32Array((t.dataSync() as Float32Array).buffer)));
      tf.dispose([value, ...Object.values(grads), ...inputGrads]);
      expect(tf.memory().numTensors).toBe(before);
      g.dispose();
      return results;
    } finally {
      if (!fusedOn) registerWasmKernels();
    }
  }

  for (const options of [
    { causal: true, cross: false },
    { causal: false, cross: true },
  ]) {
    it(`${options.cross ? 'cross-attention with padding' : 'causal self-attention'} with dropout: the unfused layer's loss and gradients to the bit`, () => {
      const layer = new MultiHeadAttention({ numHeads: 3, keyDim: 4, valueDim: 3, dropout: 0.2 });
      layer.forward(query, memory, memory); // build
      const a = layerRun(layer, options, true);
      const b = layerRun(layer, options, false);
      expect(fusedAttentionRuns()).toBe(true);
      expect(a.length).toBe(layer.trainableWeights.length + (options.cross ? 3 : 2));
      a.forEach((x, i) => expect(x, `result ${i}`).toEqual(b[i]));
      layer.dispose();
      seedDropout(undefined);
    });
  }

  it('inference runs the forward kernel alone and leaves nothing behind', () => {
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 6 });
    layer.forward(query); // build
    const before = tf.memory().numTensors;
    const out = layer.forward(query, memory, memory, { attentionMask: padding }).output;
    expect(tf.memory().numTensors).toBe(before + 1);
    out.dispose();
    layer.dispose();
  });
});
