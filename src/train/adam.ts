import * as tf from '@tensorflow/tfjs';
import { TrainingError } from '../errors.js';
import { ADAM_WASM } from '../ops/kernels/adam-wasm.js';

/** A named tensor, as tf.Optimizer.getWeights returns them. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/**
 * Adam on flat float32 buffers, in plain JavaScript.
 *
 * tf.train.adam runs ~14 small kernels per weight tensor (over 1,100 per step for the standard
 * models), which costs more than the arithmetic itself; here one loop updates every parameter. The
 * loop rounds to float32 after each operation, in the order tf.train.adam does, so the weights it
 * produces are bit for bit those of tf.train.adam (a test checks this). Its state is saved and
 * restored in tf.train.adam's format (`iter`, then `<weight>/m` and `<weight>/v` per weight), so
 * checkpoints move between the two.
 *
 * The buffers live in SharedArrayBuffers: with data-parallel training each thread updates its own
 * range of parameters in the same buffers (see parallel.ts).
 */

/** Where each trainable weight sits in the flat parameter vector. */
export class ParamLayout {
  readonly offsets: number[];
  readonly size: number;

  constructor(
    readonly names: readonly string[],
    readonly shapes: readonly number[][],
  ) {
    let offset = 0;
    this.offsets = shapes.map((shape) => {
      const at = offset;
      offset += shape.reduce((a, b) => a * b, 1);
      return at;
    });
    this.size = offset;
  }

  static of(vars: readonly tf.Variable[]): ParamLayout {
    return new ParamLayout(
      vars.map((v) => v.name),
      vars.map((v) => [...v.shape]),
    );
  }

  /** The slice of `flat` that holds weight i. */
  view(flat: Float32Array, i: number): Float32Array {
    return flat.subarray(this.offsets[i]!, this.offsets[i + 1] ?? this.size);
  }

  /** Copy tensors (one per weight, in layout order) into `flat`. */
  gather(tensors: readonly tf.Tensor[], flat: Float32Array): void {
    tensors.forEach((t, i) => flat.set(t.dataSync() as Float32Array, this.offsets[i]!));
  }

  /** Assign the values in `flat` to the variables. */
  scatter(flat: Float32Array, vars: readonly tf.Variable[]): void {
    vars.forEach((v, i) => {
      const t = tf.tensor(this.view(flat, i), this.shapes[i]);
      v.assign(t);
      t.dispose();
    });
  }
}

/**
 * The optimizer's vectors, each `size` floats: weights, m, v, then one gradient per thread. They
 * live in one shared WebAssembly memory where the runtime allows it (so the SIMD kernels of
 * adam.wat can run on them, from any thread), else in a SharedArrayBuffer.
 */
export interface AdamMemory {
  memory?: WebAssembly.Memory;
  buffer: SharedArrayBuffer;
  size: number;
  threads: number;
}

const WEIGHTS = 0;
const FIRST_MOMENT = 1;
const SECOND_MOMENT = 2;
const FIRST_GRADIENT = 3;

/** Bytes between consecutive vectors (16-byte aligned for SIMD loads). */
function stride(size: number): number {
  return Math.ceil((size * 4) / 16) * 16;
}

export function allocateAdamMemory(size: number, threads: number): AdamMemory {
  const bytes = stride(size) * (FIRST_GRADIENT + threads);
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

/** The gradient vector of thread k. */
export function gradientVector(mem: AdamMemory, k: number): Float32Array {
  return vector(mem, FIRST_GRADIENT + k);
}

/** Float32 views of vector j (0 weights, 1 m, 2 v, 3 + k gradient of thread k). */
function vector(mem: AdamMemory, j: number): Float32Array {
  return new Float32Array(mem.buffer, j * stride(mem.size), mem.size);
}

interface AdamKernels {
  scale(g: number, c: number, n: number): void;
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
 * One Adam step on parameters [from, to), from any thread: the gradient is
 * (Σₖ grads[k]·coefs[k])·scale, over the gradient vectors `gradients` (thread numbers), then the
 * update of weights and moments in place. The first listed gradient vector is overwritten there.
 */
export function adamRange(mem: AdamMemory, gradients: readonly number[], coefs: readonly number[], scale: number, s: AdamScalars, from: number, to: number): void {
  const kernels = kernelsFor(mem);
  if (kernels === null) {
    const buffers = { weights: vector(mem, WEIGHTS), m: vector(mem, FIRST_MOMENT), v: vector(mem, SECOND_MOMENT) };
    adamUpdate(buffers, gradients.map((k) => vector(mem, FIRST_GRADIENT + k)), coefs, scale, s, from, to);
    return;
  }
  const at = (j: number) => j * stride(mem.size) + from * 4;
  const n = to - from;
  const g = at(FIRST_GRADIENT + gradients[0]!);
  // Multiplying by 1 changes nothing in float32, so those products are skipped.
  if (Math.fround(coefs[0]!) !== 1) kernels.scale(g, coefs[0]!, n);
  for (let k = 1; k < gradients.length; k++) kernels.addScaled(g, at(FIRST_GRADIENT + gradients[k]!), coefs[k]!, n);
  if (Math.fround(scale) !== 1) kernels.scale(g, scale, n);
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

const f = Math.fround;

/**
 * Update parameters [from, to): the gradient is Σₖ grads[k]·coefs[k] (the shares of a data-parallel
 * step, or one gradient with coefficient 1), times `scale` (clipping); then one Adam step.
 */
export function adamUpdate(buffers: AdamBuffers, grads: readonly Float32Array[], coefs: readonly number[], scale: number, s: AdamScalars, from: number, to: number): void {
  const { weights: w, m, v } = buffers;
  const b1 = f(s.beta1);
  const c1 = f(s.oneMinusBeta1);
  const b2 = f(s.beta2);
  const c2 = f(s.oneMinusBeta2);
  const bc1 = f(s.biasCorrection1);
  const bc2 = f(s.biasCorrection2);
  const eps = f(s.epsilon);
  const nlr = f(s.negLearningRate);
  const k0 = f(coefs[0]!);
  const g0 = grads[0]!;
  const gk = grads.slice(1);
  const kk = coefs.slice(1).map(f);
  const sc = f(scale);
  for (let i = from; i < to; i++) {
    let g = f(g0[i]! * k0);
    for (let k = 0; k < gk.length; k++) g = f(g + f(gk[k]![i]! * kk[k]!));
    g = f(g * sc);
    const mi = f(f(m[i]! * b1) + f(g * c1));
    const vi = f(f(v[i]! * b2) + f(f(g * g) * c2));
    m[i] = mi;
    v[i] = vi;
    const denom = f(f(Math.sqrt(f(vi / bc2))) + eps);
    w[i] = f(f(f(f(mi / bc1) / denom) * nlr) + w[i]!);
  }
}

/** √(Σᵢ (Σₖ grads[k][i]·coefs[k])²): the global norm of the combined gradient. */
export function gradientNorm(grads: readonly Float32Array[], coefs: readonly number[]): number {
  let sum = 0;
  const n = grads[0]!.length;
  for (let i = 0; i < n; i++) {
    let g = 0;
    for (let k = 0; k < grads.length; k++) g += grads[k]![i]! * coefs[k]!;
    sum += g * g;
  }
  return Math.sqrt(sum);
}

export interface AdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export class Adam {
  /** Read at every step, so a schedule can change it between steps. */
  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** Weights, moments and one gradient vector per thread, in shared memory. */
  readonly memory: AdamMemory;
  readonly buffers: AdamBuffers;
  /** grads[k]: the gradient vector thread k writes (grads[0] is this thread's). */
  readonly grads: Float32Array[];
  /** Steps taken. */
  iterations = 0;
  // β1ᵗ⁺¹ and β2ᵗ⁺¹ as float32 running products, as tf.train.adam keeps them.
  private accBeta1: number;
  private accBeta2: number;

  /** `threads`: how many threads will compute gradients for it (see DataParallel). */
  constructor(
    readonly layout: ParamLayout,
    options: AdamOptions,
    threads = 1,
  ) {
    this.learningRate = options.learningRate;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-7;
    this.accBeta1 = f(this.beta1);
    this.accBeta2 = f(this.beta2);
    this.memory = allocateAdamMemory(layout.size, threads);
    this.buffers = { weights: vector(this.memory, WEIGHTS), m: vector(this.memory, FIRST_MOMENT), v: vector(this.memory, SECOND_MOMENT) };
    this.grads = Array.from({ length: threads }, (_, k) => vector(this.memory, FIRST_GRADIENT + k));
  }

  /** This thread's gradient vector. */
  get grad(): Float32Array {
    return this.grads[0]!;
  }

  /** The constants for the next step; advances the step count. */
  nextScalars(): AdamScalars {
    const s: AdamScalars = {
      beta1: this.beta1,
      oneMinusBeta1: 1 - this.beta1,
      beta2: this.beta2,
      oneMinusBeta2: 1 - this.beta2,
      biasCorrection1: f(1 - this.accBeta1),
      biasCorrection2: f(1 - this.accBeta2),
      epsilon: this.epsilon,
      negLearningRate: -this.learningRate,
    };
    this.accBeta1 = f(this.accBeta1 * f(this.beta1));
    this.accBeta2 = f(this.accBeta2 * f(this.beta2));
    this.iterations++;
    return s;
  }

  /**
   * One step on this thread with the gradient in `grad`: the variables' current values are read,
   * updated and written back. Returns the global gradient norm when clipping is on.
   */
  step(vars: readonly tf.Variable[], clipNorm = 0): number | undefined {
    const norm = clipNorm > 0 ? gradientNorm([this.grad], [1]) : undefined;
    const scale = norm !== undefined && norm > clipNorm ? clipNorm / norm : 1;
    this.layout.gather(vars, this.buffers.weights);
    adamRange(this.memory, [0], [1], scale, this.nextScalars(), 0, this.layout.size);
    this.layout.scatter(this.buffers.weights, vars);
    return norm;
  }

  /** The state as tf.train.adam's getWeights gives it (new tensors: the caller disposes them). */
  async getWeights(): Promise<NamedTensor[]> {
    const { names, shapes } = this.layout;
    const slot = (flat: Float32Array, suffix: string) => names.map((name, i) => ({ name: `${name}/${suffix}`, tensor: tf.tensor(this.layout.view(flat, i), shapes[i]) }));
    return [{ name: 'iter', tensor: tf.scalar(this.iterations, 'int32') }, ...slot(this.buffers.m, 'm'), ...slot(this.buffers.v, 'v')];
  }

  /**
   * Restore state saved by getWeights (or by tf.train.adam for the same model). As in
   * tf.train.adam, the moments are matched to the weights by position (`iter`, then every m, then
   * every v), since weight names can differ between sessions; their shapes are checked.
   */
  async setWeights(list: readonly NamedTensor[]): Promise<void> {
    const iter = list.find((w) => w.name === 'iter');
    const slots = list.filter((w) => w !== iter);
    const { names, shapes } = this.layout;
    if (iter === undefined || slots.length !== 2 * names.length) {
      throw new TrainingError(`the optimizer state does not match the model (${iter === undefined ? 'no iteration count' : `${slots.length} moment tensors for ${names.length} weights`})`);
    }
    slots.forEach((slot, j) => {
      const i = j % names.length;
      if (!tf.util.arraysEqual(slot.tensor.shape, shapes[i]!)) {
        throw new TrainingError(`the optimizer state does not match the model (${slot.name} has shape [${slot.tensor.shape}], ${names[i]} has [${shapes[i]}])`);
      }
    });
    slots.forEach((slot, j) => {
      const target = j < names.length ? this.buffers.m : this.buffers.v;
      target.set(slot.tensor.dataSync() as Float32Array, this.layout.offsets[j % names.length]!);
    });
    this.iterations = (await iter.tensor.data())[0]!;
    // The running products after `iterations` steps, exactly as an uninterrupted run has them.
    this.accBeta1 = f(this.beta1);
    this.accBeta2 = f(this.beta2);
    for (let t = 0; t < this.iterations; t++) {
      this.accBeta1 = f(this.accBeta1 * f(this.beta1));
      this.accBeta2 = f(this.accBeta2 * f(this.beta2));
    }
  }

  dispose(): void {
    // Plain memory: nothing to free in tfjs.
  }
}
