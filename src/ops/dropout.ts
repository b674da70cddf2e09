import * as tf from '@tensorflow/tfjs';
import { mixSeed } from '../util/random.js';
import { DROPOUT, DROPOUT_MASK, maskConstants, type DropoutAttrs, type DropoutMaskAttrs } from './kernels/dropout-mask.js';
import { recordingGradients } from './gradients.js';

let nextSeed: (() => number) | undefined;

/**
 * Make dropout masks reproducible: after `seedDropout(s)`, the i-th dropout call draws its mask from
 * seed s + i. The trainer reseeds before every step (from the run seed and the step number), so a
 * run — and a resumed run — sees the same masks. `undefined` returns to unseeded masks.
 */
export function seedDropout(seed: number | undefined): void {
  if (seed === undefined) {
    nextSeed = undefined;
    return;
  }
  let counter = 0;
  nextSeed = () => seed + counter++;
}

/**
 * The dropout multiplier: each entry is 1/(1 − rate) with probability 1 − rate, else 0, drawn from
 * `seed`. Made here rather than with tf.randomUniform, whose per-element generator took ~10% of a
 * training step, and which needs four more kernels per mask. The draws are those of
 * `new Random(seed)` (mulberry32, util/random.ts) with the generator inlined: calling `next()` per
 * draw takes 7 ms per million here against 3 ms for this loop.
 */
export function dropoutMask(size: number, rate: number, seed: number): Float32Array {
  const keep = 1 - rate;
  const scale = Math.fround(1 / keep);
  const threshold = keep * 4294967296; // keep · 2³², against raw 32-bit draws
  const mask = new Float32Array(size);
  let state = seed >>> 0;
  for (let i = 0; i < size; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    if (((t ^ (t >>> 14)) >>> 0) < threshold) mask[i] = scale;
  }
  return mask;
}

/**
 * The seed of the next dropout mask, drawn from the sequence `seedDropout` starts (random when
 * unseeded). Every dropout draws one, in the order they run: `dropout` below, and fused kernels
 * that apply dropout inside (ops/attention.ts).
 */
export function nextDropoutSeed(): number {
  const seed = nextSeed?.() ?? Math.floor(Math.random() * 4294967296);
  // Seeds run past 2³² (a step's seed plus a counter), so both halves go into the mask's seed.
  return mixSeed(Math.floor(seed / 4294967296), seed >>> 0);
}

/** Inverted dropout during training only: zero a fraction `rate` of x and scale the rest by 1/(1 − rate). */
export function dropout(x: tf.Tensor, rate: number, training: boolean | undefined): tf.Tensor {
  if (training !== true || rate <= 0) return x;
  const maskSeed = nextDropoutSeed();
  if (kernelTakes(rate, x)) return maskedBy(rate, maskSeed)(x);
  return tf.tidy(() => tf.mul(x, dropoutMaskTensor(x.shape, rate, maskSeed)));
}

/**
 * t ↦ t · mask in one kernel (wasm): the mask drawn as it is used, and drawn again from the same
 * seed for the gradient dy · mask — the values and products of tf.mul(t, dropoutMaskTensor(…)) and
 * its gradient, with one kernel call where those take three, and no mask kept between the passes.
 */
function maskedBy(rate: number, seed: number): (t: tf.Tensor) => tf.Tensor {
  const apply = kernelCall(rate, seed);
  // The gradient dy · mask is this same op, which is how a gradient of it is differentiated again.
  const op = tf.customGrad((input, _save) => ({ value: apply(input as tf.Tensor), gradFunc: (dy: tf.Tensor) => masked(dy) })) as (t: tf.Tensor) => tf.Tensor;
  const masked = (t: tf.Tensor) => (recordingGradients() ? op(t) : apply(t));
  return masked;
}

/**
 * The residual connection around a sublayer in training: x + dropout(y, rate), its value and
 * gradients those of tf.add(x, dropout(y, rate, training)), the mask's seed drawn at the same point.
 * On wasm, with x and y of one shape, that is one kernel call (the dropout kernel adds x as it
 * goes) where it took two, and the gradient is dy for x and the dropout's gradient for y.
 */
export function residualDropout(x: tf.Tensor, y: tf.Tensor, rate: number, training: boolean | undefined): tf.Tensor {
  if (training !== true || rate <= 0) return tf.add(x, y);
  if (!kernelTakes(rate, x, y) || !tf.util.arraysEqual(x.shape, y.shape)) return tf.add(x, dropout(y, rate, training));
  const maskSeed = nextDropoutSeed();
  const apply = kernelCall(rate, maskSeed);
  if (!recordingGradients()) return apply(y, x);
  const masked = maskedBy(rate, maskSeed);
  const op = tf.customGrad((r, input, _save) => ({
    value: apply(input as tf.Tensor, r as tf.Tensor),
    // dy itself for x, as tf.add's gradient gives it (a reshape that shares its data).
    gradFunc: (dy: tf.Tensor) => [tf.reshape(dy, dy.shape), masked(dy)],
  })) as (r: tf.Tensor, t: tf.Tensor) => tf.Tensor;
  return op(x, y);
}

/** Whether the dropout kernel runs on the backend in use and takes these tensors at this rate. */
function kernelTakes(rate: number, ...tensors: tf.Tensor[]): boolean {
  return tensors.every((t) => t.dtype === 'float32') && maskConstants(rate) !== null && tf.getKernel(DROPOUT, tf.getBackend()) !== undefined;
}

/** The dropout kernel with one mask: t · mask, or residual + t · mask. */
function kernelCall(rate: number, seed: number): (t: tf.Tensor, residual?: tf.Tensor) => tf.Tensor {
  const attrs = { rate, seed } satisfies DropoutAttrs as unknown as tf.NamedAttrMap;
  return (t, residual) => tf.engine().runKernel(DROPOUT, residual === undefined ? { x: t } : { x: t, residual }, attrs) as tf.Tensor;
}

/**
 * `dropoutMask` as a tensor of `shape`. Backends with a kernel for it (wasm: dropout.wat, four
 * draws at a time, written straight into the backend's memory) make it there; others upload the
 * values made here. Both give the same values.
 */
export function dropoutMaskTensor(shape: number[], rate: number, seed: number): tf.Tensor {
  if (tf.getKernel(DROPOUT_MASK, tf.getBackend()) !== undefined) {
    const attrs: DropoutMaskAttrs = { shape, rate, seed };
    return tf.engine().runKernel(DROPOUT_MASK, {}, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
  }
  return tf.tensor(dropoutMask(tf.util.sizeFromShape(shape), rate, seed), shape, 'float32');
}
