import { ADAM_WASM } from '../ops/kernels/adam-wasm.js';

/**
 * The arithmetic of an Adam step on flat float32 vectors: the vectors' shared memory, the SIMD
 * kernels of adam.wat that run on it (from any thread), and the same update in plain JavaScript
 * where wasm SIMD or shared wasm memory is missing. Both round to float32 after every operation, in
 * the order tf.train.adam's kernels do, so all three give the same bits.
 */

/**
 * The optimizer's vectors, each `size` floats: weights, m, v, then one gradient per thread, then
 * one piece vector per thread (where a thread computes the pieces of a share it cuts; see
 * ThreadGradient). They live in one shared WebAssembly memory where the runtime allows it (so the
 * SIMD kernels of adam.wat can run on them, from any thread), else in a SharedArrayBuffer.
 */
export interface AdamMemory {
  memory?: WebAssembly.Memory;
  buffer: SharedArrayBuffer;
  size: number;
  threads: number;
}

const f = Math.fround;

const WEIGHTS = 0;
const FIRST_MOMENT = 1;
const SECOND_MOMENT = 2;
const FIRST_GRADIENT = 3;

/** Bytes between consecutive vectors (16-byte aligned for SIMD loads). */
function stride(size: number): number {
  return Math.ceil((size * 4) / 16) * 16;
}

export function allocateAdamMemory(size: number, threads: number): AdamMemory {
  const bytes = stride(size) * (FIRST_GRADIENT + 2 * threads);
  try {
    const pages = Math.max(1, Math.ceil(bytes / 65536));
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    return { memory, buffer: memory.buffer as unknown as SharedArrayBuffer, size, threads };
  } catch {
    return { buffer: new SharedArrayBuffer(Math.max(bytes, 4)), size, threads };
  }
}

/** The weights vector. */
export function weightVector(mem: AdamMemory): Float32Array {
  return vector(mem, WEIGHTS);
}

/** The first and second moment vectors. */
export function momentVectors(mem: AdamMemory): { m: Float32Array; v: Float32Array } {
  return { m: vector(mem, FIRST_MOMENT), v: vector(mem, SECOND_MOMENT) };
}

/** The gradient vector of thread k. */
export function gradientVector(mem: AdamMemory, k: number): Float32Array {
  return vector(mem, FIRST_GRADIENT + k);
}

/**
 * A thread's gradient as shareGradient builds it: `grad` receives the gradient of a share; a share
 * cut into pieces has each piece's gradient computed into `piece` and added to `grad` weighted.
 */
export interface ThreadGradient {
  readonly grad: Float32Array;
  readonly piece: Float32Array;
  /** grad[i] = 0 + w·grad[i], in float64 rounded once to float32 (the first piece, weighted). */
  weigh(w: number): void;
  /** grad[i] = grad[i] + w·piece[i], in float64 rounded once to float32. */
  addPiece(w: number): void;
}

/** Thread k's gradient and piece vectors, summed with the SIMD kernels where they run. */
export function threadGradient(mem: AdamMemory, k: number): ThreadGradient {
  const grad = gradientVector(mem, k);
  const piece = vector(mem, FIRST_GRADIENT + mem.threads + k);
  const kernels = kernelsFor(mem);
  if (kernels === null) return plainGradient(grad, piece);
  return {
    grad,
    piece,
    weigh: (w) => kernels.weigh(grad.byteOffset, w, mem.size),
    addPiece: (w) => kernels.addWeighted(grad.byteOffset, piece.byteOffset, w, mem.size),
  };
}

/** A ThreadGradient on plain arrays, summed in JavaScript (the same bits as the kernels). */
export function plainGradient(grad: Float32Array, piece: Float32Array): ThreadGradient {
  return { grad, piece, weigh: (w) => weighPlain(grad, w), addPiece: (w) => addWeightedPlain(grad, piece, w) };
}

function weighPlain(g: Float32Array, w: number): void {
  for (let i = 0; i < g.length; i++) g[i] = 0 + w * g[i]!;
}

function addWeightedPlain(g: Float32Array, x: Float32Array, w: number): void {
  for (let i = 0; i < g.length; i++) g[i]! += w * x[i]!;
}

/** Float32 views of vector j (0 weights, 1 m, 2 v, 3 + k gradient of thread k, then the pieces). */
function vector(mem: AdamMemory, j: number): Float32Array {
  return new Float32Array(mem.buffer, j * stride(mem.size), mem.size);
}

interface AdamKernels {
  scale(g: number, c: number, n: number): void;
  weigh(g: number, w: number, n: number): void;
  addWeighted(g: number, x: number, w: number, n: number): void;
  addScaled(g: number, x: number, c: number, n: number): void;
  adam(w: number, m: number, v: number, g: number, n: number, b1: number, c1: number, b2: number, c2: number, bc1: number, bc2: number, eps: number, nlr: number): void;
}

const kernelCache = new WeakMap<WebAssembly.Memory, AdamKernels | null>();

/** The SIMD kernels bound to this memory (per thread), or null where they cannot run. */
function kernelsFor(mem: AdamMemory): AdamKernels | null {
  if (mem.memory === undefined) return null;
  let kernels = kernelCache.get(mem.memory);
  if (kernels === undefined) {
    try {
      kernels = new WebAssembly.Instance(new WebAssembly.Module(ADAM_WASM), { env: { memory: mem.memory } }).exports as unknown as AdamKernels;
    } catch {
      kernels = null;
    }
    kernelCache.set(mem.memory, kernels);
  }
  return kernels;
}

/**
 * Combine the gradients of several threads on parameters [from, to): the vector of the first listed
 * thread becomes Σₖ grads[k]·coefs[k], rounded to float32 after every operation.
 */
export function combineGradients(mem: AdamMemory, threads: readonly number[], coefs: readonly number[], from: number, to: number): void {
  const kernels = kernelsFor(mem);
  if (kernels === null) {
    combinePlain(
      threads.map((k) => vector(mem, FIRST_GRADIENT + k)),
      coefs,
      from,
      to,
    );
    return;
  }
  const at = (k: number) => (FIRST_GRADIENT + k) * stride(mem.size) + from * 4;
  const n = to - from;
  // Multiplying by 1 changes nothing in float32, so that product is skipped.
  if (f(coefs[0]!) !== 1) kernels.scale(at(threads[0]!), coefs[0]!, n);
  for (let k = 1; k < threads.length; k++) kernels.addScaled(at(threads[0]!), at(threads[k]!), coefs[k]!, n);
}

/**
 * One Adam step on parameters [from, to) with the gradient vector of thread `gradient`, times
 * `scale` (clipping), updating weights and moments in place.
 */
export function adamRange(mem: AdamMemory, gradient: number, scale: number, s: AdamScalars, from: number, to: number): void {
  const kernels = kernelsFor(mem);
  if (kernels === null) {
    adamUpdate({ weights: vector(mem, WEIGHTS), ...momentVectors(mem) }, vector(mem, FIRST_GRADIENT + gradient), scale, s, from, to);
    return;
  }
  const at = (j: number) => j * stride(mem.size) + from * 4;
  const n = to - from;
  const g = at(FIRST_GRADIENT + gradient);
  if (f(scale) !== 1) kernels.scale(g, scale, n);
  kernels.adam(at(WEIGHTS), at(FIRST_MOMENT), at(SECOND_MOMENT), g, n, s.beta1, s.oneMinusBeta1, s.beta2, s.oneMinusBeta2, s.biasCorrection1, s.biasCorrection2, s.epsilon, s.negLearningRate);
}

/** The float32 constants of one Adam step (plain data, so they can be posted to a worker). */
export interface AdamScalars {
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  /** 1 − β1ᵗ and 1 − β2ᵗ for this step. */
  biasCorrection1: number;
  biasCorrection2: number;
  epsilon: number;
  negLearningRate: number;
}

export interface AdamBuffers {
  /** The weights being optimised. */
  weights: Float32Array;
  /** First and second moments. */
  m: Float32Array;
  v: Float32Array;
}

/** combineGradients in plain JavaScript: grads[0] = Σₖ grads[k]·coefs[k] on [from, to). */
export function combinePlain(grads: readonly Float32Array[], coefs: readonly number[], from: number, to: number): void {
  const g0 = grads[0]!;
  const k0 = f(coefs[0]!);
  for (let i = from; i < to; i++) g0[i] = f(g0[i]! * k0);
  for (let k = 1; k < grads.length; k++) {
    const gk = grads[k]!;
    const ck = f(coefs[k]!);
    for (let i = from; i < to; i++) g0[i] = f(g0[i]! + f(gk[i]! * ck));
  }
}

/** adamRange in plain JavaScript, on parameters [from, to) of `buffers` with gradient `grad`. */
export function adamUpdate(buffers: AdamBuffers, grad: Float32Array, scale: number, s: AdamScalars, from: number, to: number): void {
  const { weights: w, m, v } = buffers;
  const b1 = f(s.beta1);
  const c1 = f(s.oneMinusBeta1);
  const b2 = f(s.beta2);
  const c2 = f(s.oneMinusBeta2);
  const bc1 = f(s.biasCorrection1);
  const bc2 = f(s.biasCorrection2);
  const eps = f(s.epsilon);
  const nlr = f(s.negLearningRate);
  const sc = f(scale);
  for (let i = from; i < to; i++) {
    const g = f(grad[i]! * sc);
    const mi = f(f(m[i]! * b1) + f(g * c1));
    const vi = f(f(v[i]! * b2) + f(f(g * g) * c2));
    m[i] = mi;
    v[i] = vi;
    const denom = f(f(Math.sqrt(f(vi / bc2))) + eps);
    w[i] = f(f(f(f(mi / bc1) / denom) * nlr) + w[i]!);
  }
}

/** √(Σᵢ gᵢ²) of a (combined) gradient vector: the global norm that clipping compares. */
export function gradientNorm(grad: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < grad.length; i++) sum += grad[i]! * grad[i]!;
  return Math.sqrt(sum);
}
