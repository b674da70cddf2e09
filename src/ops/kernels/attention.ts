import * as tf from '@tensorflow/tfjs';
import { ATTENTION_WASM } from './attention-wasm.js';
import { kernelFor, multiply, panelWidth, type Gemm } from './batch-matmul.js';
import { maskConstants } from './dropout-mask.js';
import { wasmExport } from './instance.js';
import { Temporaries, type WasmTensorMemory } from './temporaries.js';
import { swapAxes } from './transpose.js';

/**
 * Multi-head scaled dot-product attention as two wasm kernels, in place of the ~33 kernel calls of
 * the forward pass in a training step (split heads, Q·Kᵀ, scale, mask, softmax, mask, dropout, ·V,
 * merge heads, and the copies the engine saves for the gradient) and the ~27 of the gradient:
 * - `AtencaoAttention`: inputs q (B, Tq, H·dk), k (B, Tk, H·dk), v (B, Tk, H·dv), optional mask
 *   (broadcasting to (B, H, Tq, Tk), its last axis Tk), attrs numHeads, rate, seed, save →
 *   [o (B, Tq, H·dv)], and with `save` also the softmax output w (B, H, Tq, Tk) for the gradient.
 * - `AtencaoAttentionGrad`: inputs dy (B, Tq, H·dv), q, k, v, mask?, w, attrs numHeads, rate,
 *   seed → [dq, dk, dv], each in its input's layout.
 * The products run through `multiply`, as the BatchMatMul kernel runs them for the unfused ops
 * (the same M, K, N and kernel, so every entry is the same sum in the same order), and the
 * elementwise steps (attention.wat) make the float operations of the tf ops one by one: the
 * results are the unfused ops' to the bit. That includes the softmax, which attention.wat computes
 * row by row with the scaling and masking before it and the attended weights after it, while the
 * row is in cache: the float operations of the wasm backend's Softmax kernel (XNNPACK's: the
 * maximum, its exp polynomial, its order of summation, then one reciprocal and a multiply), one
 * pass over the scores where the unfused steps took five. The dropout
 * multiplier is drawn by attention.wat where it is used, forward and again backward, with the
 * integer operations of the AtencaoDropoutMask kernel (the same values, none stored). Heads are
 * split and merged by transpose.wat copies inside the kernels (products read their operands
 * contiguous: read in place through strides, Q in Q·Kᵀ took 10–30% longer than its copy plus a
 * contiguous product).
 *
 * Causal attention (attr `causal`: the mask hides from query i every key after Tk − Tq + i) skips
 * what the mask makes zero, about half of each product: the rows of the products go in slabs of
 * `SLAB`, each against the keys its last row sees. The scores Q·Kᵀ and dy·Vᵀ of the hidden keys
 * are not computed but set to 0: masked, each is −1e9, whose exp is exactly 0 in a row that sees
 * a key it may attend to, so the softmax stops after the keys a row sees and leaves them 0 (a row
 * whose hidden keys would not come out 0 — every key it sees masked too — is computed whole). The sums over keys (A·V, dQ) stop after
 * the last key a slab sees and those over queries (dV, dK) start at the first query that sees the
 * slab. What is skipped are terms ±0 at the end or at the start of a sum that starts from +0,
 * which never change it: the results stay the unfused ops' to the bit.
 */
export const ATTENTION = 'AtencaoAttention';
export const ATTENTION_GRAD = 'AtencaoAttentionGrad';

export interface AttentionAttrs {
  numHeads: number;
  /** Dropout rate on the attention weights; 0 for none. */
  rate: number;
  /** The dropout mask's seed (ops/dropout.ts `nextDropoutSeed`), when rate > 0. */
  seed: number;
  /** Also return the tensor the gradient needs (forward kernel only). */
  save?: boolean;
  /** The mask hides from query i every key after Tk − Tq + i (it may hide more); ignored without a mask. */
  causal?: boolean;
}

/** Rows of a causal product computed together (see above). */
const SLAB = 8;

type WasmBackendLike = WasmTensorMemory;

/** The mask arguments of attention.wat: masked (0 or 1), m, H, Tq and the strides along B, H, Tq. */
type MaskArgs = [masked: number, m: number, nh: number, nq: number, mb: number, mh: number, mq: number];
type Softmax = (s: number, a: number, rows: number, tk: number, c: number, ...rest: [...DropArgs, writeA: number, ...MaskArgs, ...CausalArgs]) => void;
/** The dropout arguments of attention.wat: dropped (0 or 1), seed, limit, scale. */
type DropArgs = [dropped: number, seed: number, limit: number, scale: number];
/** Causal attention (1 or 0) and the key position of query 0 (Tk − Tq). */
type CausalArgs = [causal: number, off: number];
type Backward = (g: number, w: number, a: number, rows: number, tk: number, c: number, ...rest: [...DropArgs, writeA: number, ...MaskArgs, ...CausalArgs]) => void;

const softmaxFor = wasmExport<Softmax>(ATTENTION_WASM, 'softmax');
const backwardFor = wasmExport<Backward>(ATTENTION_WASM, 'backward');
type ZeroTail = (p: number, rows: number, tk: number, nq: number, off: number) => void;
const zeroTailFor = wasmExport<ZeroTail>(ATTENTION_WASM, 'zeroTail');

/** Whether this runtime can run the kernels (wasm SIMD). */
export function attentionKernelsRun(): boolean {
  return WebAssembly.validate(ATTENTION_WASM);
}

const BROADCAST_AXES = 4;

/**
 * The mask's byte strides along B, H and Tq of the scores (0 where it broadcasts), or null for a
 * mask these kernels do not take: its last axis must be Tk, the others 1 or the scores'.
 */
export function maskStrides(maskShape: readonly number[], scores: readonly [number, number, number, number]): [number, number, number] | null {
  if (maskShape.length > BROADCAST_AXES || maskShape.length < 1) return null;
  const shape = [...new Array<number>(BROADCAST_AXES - maskShape.length).fill(1), ...maskShape];
  if (shape[3] !== scores[3]) return null;
  const strides = [0, 0, 0];
  let stride = shape[3]! * 4;
  for (let axis = 2; axis >= 0; axis--) {
    if (shape[axis] !== 1 && shape[axis] !== scores[axis]) return null;
    strides[axis] = shape[axis] === 1 ? 0 : stride;
    stride *= shape[axis]!;
  }
  return strides as [number, number, number];
}

interface KernelArgs {
  inputs: Record<string, tf.TensorInfo | undefined>;
  backend: unknown;
  attrs?: Record<string, unknown>;
}

interface Shapes {
  b: number;
  h: number;
  tq: number;
  tk: number;
  dk: number;
  dv: number;
}

function shapesOf(q: tf.TensorInfo, k: tf.TensorInfo, v: tf.TensorInfo, numHeads: number): Shapes {
  const [b, tq, hdk] = q.shape as [number, number, number];
  return { b, h: numHeads, tq, tk: k.shape[1]!, dk: hdk / numHeads, dv: v.shape[2]! / numHeads };
}

/** Runs kernels on one backend's memory, freeing every intermediate it makes. */
class Heap extends Temporaries<WasmBackendLike> {
  /** (batch, M, N, E) → (batch, N, M, E) copy of x, shaped `shape`; a temporary. */
  swap(x: tf.TensorInfo, batch: number, m: number, n: number, e: number, shape: number[]): tf.TensorInfo {
    return this.track(swapAxes(x, { batch, m, n, e }, shape, this.backend)!);
  }

  /** An output (not freed): the (B, H, T, d) tensor x with heads merged, (B, T, H·d). */
  merged(x: tf.TensorInfo): tf.TensorInfo {
    const [b, h, t, d] = x.shape as [number, number, number, number];
    return swapAxes(x, { batch: b, m: h, n: t, e: d }, [b, t, h * d], this.backend)!;
  }

  /** C (…, M, N) = A · B for a batch of contiguous matrices, as the BatchMatMul kernel runs the product. */
  product(a: tf.TensorInfo, transposedA: boolean, b: tf.TensorInfo, batch: number, m: number, k: number, n: number, out: tf.TensorInfo): void {
    multiply(this.backend, this.at(a), this.at(b), this.at(out), batch, m, k, n, transposedA, m * k * 4, k * n * 4);
  }

  /**
   * Causal C (…, Tq, Tk) = A (…, Tq, d) · B (…, d, Tk), the scores or dy·Vᵀ: each slab of rows
   * against the keys its last row sees, the keys hidden from a row set to 0.
   */
  keyProduct(a: tf.TensorInfo, b: tf.TensorInfo, out: tf.TensorInfo, s: Shapes, d: number): void {
    const { tq, tk } = s;
    const [pa, pb, pc] = [this.at(a), this.at(b), this.at(out)];
    this.slabs(tq, (gemm, r0, r1) => {
      const keys = clamp(r1 + tk - tq, tk);
      if (keys > 0) gemm(pa + r0 * d * 4, pb, pc + r0 * tk * 4, s.b * s.h, r1 - r0, d, keys, d * 4, 4, tq * d * 4, d * tk * 4, panelWidth(d), tk * 4, tk * 4, tq * tk * 4);
    });
    zeroTailFor(this.backend)!(pc, s.b * s.h * tq, tk, tq, tk - tq);
  }

  /** Causal C (…, Tq, d) = W (…, Tq, Tk) · B (…, Tk, d), W zero after the keys a row sees (A·V, dQ): each slab's sums stop after the last key it sees. */
  sumOverKeys(w: tf.TensorInfo, b: tf.TensorInfo, out: tf.TensorInfo, s: Shapes, d: number): void {
    const { tq, tk } = s;
    const [pw, pb, pc] = [this.at(w), this.at(b), this.at(out)];
    this.slabs(tq, (gemm, r0, r1) => {
      const keys = clamp(r1 + tk - tq, tk);
      gemm(pw + r0 * tk * 4, pb, pc + r0 * d * 4, s.b * s.h, r1 - r0, keys, d, tk * 4, 4, tq * tk * 4, tk * d * 4, panelWidth(keys), d * 4, d * 4, tq * d * 4);
    });
  }

  /** Causal C (…, Tk, d) = Wᵀ · B (…, Tq, d), W (…, Tq, Tk) as above (dV, dK): each slab's sums start at the first query that sees it. */
  sumOverQueries(w: tf.TensorInfo, b: tf.TensorInfo, out: tf.TensorInfo, s: Shapes, d: number): void {
    const { tq, tk } = s;
    const [pw, pb, pc] = [this.at(w), this.at(b), this.at(out)];
    this.slabs(tk, (gemm, j0, j1) => {
      const first = clamp(j0 - (tk - tq), tq);
      gemm(pw + j0 * 4 + first * tk * 4, pb + first * d * 4, pc + j0 * d * 4, s.b * s.h, j1 - j0, tq - first, d, 4, tk * 4, tq * tk * 4, tq * d * 4, panelWidth(tq - first), d * 4, d * 4, tk * d * 4);
    });
  }

  /** `product` for each slab [r0, r1) of SLAB rows of `rows`, with gemm.wat on this memory. */
  private slabs(rows: number, product: (gemm: Gemm, r0: number, r1: number) => void): void {
    const gemm = kernelFor(this.backend)!;
    for (let r0 = 0; r0 < rows; r0 += SLAB) product(gemm, r0, Math.min(rows, r0 + SLAB));
  }
}

/** x clamped to 0 … max. */
const clamp = (x: number, max: number) => Math.min(max, Math.max(0, x));

/** The mask arguments of attention.wat for `mask` (or none). */
function maskArgs(heap: Heap, mask: tf.TensorInfo | undefined, s: Shapes): MaskArgs {
  if (mask === undefined) return [0, 0, 1, 1, 0, 0, 0];
  const [mb, mh, mq] = maskStrides(mask.shape, [s.b, s.h, s.tq, s.tk])!;
  return [1, heap.at(mask), s.h, s.tq, mb, mh, mq];
}

/**
 * The dropout arguments of attention.wat: entries are kept (scaled by 1/(1 − rate)) where the draw is
 * at most `limit` — below the AtencaoDropoutMask kernel's threshold, or every draw when it keeps all.
 */
function dropArgs(rate: number, seed: number): DropArgs {
  if (rate <= 0) return [0, 0, 0, 0];
  const constants = maskConstants(rate);
  return constants === null ? [1, seed | 0, -1, Math.fround(1 / (1 - rate))] : [1, seed | 0, (constants.threshold - 1) | 0, constants.scale];
}

/** 1/√dk as the scalar tensor tf.mul makes of it (float32). */
const scaleOf = (dk: number) => Math.fround(1 / Math.sqrt(dk));

export function attentionKernel(args: KernelArgs): tf.TensorInfo[] {
  const heap = new Heap(args.backend as WasmBackendLike);
  const { q, k, v, mask } = args.inputs as { q: tf.TensorInfo; k: tf.TensorInfo; v: tf.TensorInfo; mask?: tf.TensorInfo };
  const { numHeads, rate, seed, save } = args.attrs as unknown as AttentionAttrs;
  const causal = args.attrs?.causal === true && mask !== undefined;
  const s = shapesOf(q, k, v, numHeads);
  const { b, h, tq, tk, dk, dv } = s;
  const rows = b * h * tq;
  const scoresShape = [b, h, tq, tk];
  try {
    // Scores Q·Kᵀ (B, H, Tq, Tk): Q split into heads (B, H, Tq, dk), Kᵀ copied per head as
    // (B, H·dk, Tk) = (B, H, dk, Tk).
    const qh = heap.swap(q, b, tq, h, dk, [b, h, tq, dk]);
    const kT = heap.swap(k, b, tk, h * dk, 1, [b, h * dk, tk]);
    const w = heap.temporary(scoresShape);
    if (causal) heap.keyProduct(qh, kT, w, s, dk);
    else heap.product(qh, false, kT, b * h, tq, dk, tk, w);
    // Scaled, masked and through the softmax over the keys, in place: the weights w; and the
    // attended weights a = w·m·drop, each row as soon as its w is made.
    const masking = maskArgs(heap, mask, s);
    const a = mask !== undefined || rate > 0 ? heap.temporary(scoresShape) : w;
    softmaxFor(heap.backend)!(heap.at(w), heap.at(a), rows, tk, scaleOf(dk), ...dropArgs(rate, seed), a === w ? 0 : 1, ...masking, causal ? 1 : 0, tk - tq);
    const vh = heap.swap(v, b, tk, h, dv, [b, h, tk, dv]);
    const out = heap.temporary([b, h, tq, dv]);
    if (causal) heap.sumOverKeys(a, vh, out, s, dv);
    else heap.product(a, false, vh, b * h, tq, tk, dv, out);
    const o = heap.merged(out);
    if (save !== true) return [o];
    heap.free([w]);
    return [o, w];
  } finally {
    heap.free();
  }
}

export function attentionGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const heap = new Heap(args.backend as WasmBackendLike);
  const { dy, q, k, v, mask, w } = args.inputs as { dy: tf.TensorInfo; q: tf.TensorInfo; k: tf.TensorInfo; v: tf.TensorInfo; mask?: tf.TensorInfo; w: tf.TensorInfo };
  const { numHeads, rate, seed } = args.attrs as unknown as AttentionAttrs;
  const causal = args.attrs?.causal === true && mask !== undefined;
  const s = shapesOf(q, k, v, numHeads);
  const { b, h, tq, tk, dk, dv } = s;
  const rows = b * h * tq;
  const scoresShape = [b, h, tq, tk];
  try {
    // g = dy·Vᵀ per head (B, H, Tq, Tk): dy split into heads (B, H, Tq, dv), Vᵀ copied per head as
    // (B, H·dv, Tk) = (B, H, dv, Tk).
    const dyh = heap.swap(dy, b, tq, h, dv, [b, h, tq, dv]);
    const vT = heap.swap(v, b, tk, h * dv, 1, [b, h * dv, tk]);
    const g = heap.temporary(scoresShape);
    if (causal) heap.keyProduct(dyh, vT, g, s, dv);
    else heap.product(dyh, false, vT, b * h, tq, dv, tk, g);
    // g → the gradient of the scores Q·Kᵀ, in place; the attended weights a on the way.
    const masking = maskArgs(heap, mask, s);
    const a = mask !== undefined || rate > 0 ? heap.temporary(scoresShape) : w;
    backwardFor(heap.backend)!(heap.at(g), heap.at(w), heap.at(a), rows, tk, scaleOf(dk), ...dropArgs(rate, seed), a === w ? 0 : 1, ...masking, causal ? 1 : 0, tk - tq);
    // dV = aᵀ·dy per head.
    const dvh = heap.temporary([b, h, tk, dv]);
    if (causal) heap.sumOverQueries(a, dyh, dvh, s, dv);
    else heap.product(a, true, dyh, b * h, tk, tq, dv, dvh);
    // dQ = g·K, dK = gᵀ·Q per head, K and Q split into heads.
    const kh = heap.swap(k, b, tk, h, dk, [b, h, tk, dk]);
    const dqh = heap.temporary([b, h, tq, dk]);
    if (causal) heap.sumOverKeys(g, kh, dqh, s, dk);
    else heap.product(g, false, kh, b * h, tq, tk, dk, dqh);
    const qh = heap.swap(q, b, tq, h, dk, [b, h, tq, dk]);
    const dkh = heap.temporary([b, h, tk, dk]);
    if (causal) heap.sumOverQueries(g, qh, dkh, s, dk);
    else heap.product(g, true, qh, b * h, tk, tq, dk, dkh);
    return [heap.merged(dqh), heap.merged(dkh), heap.merged(dvh)];
  } finally {
    heap.free();
  }
}
