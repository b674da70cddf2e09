import * as tf from '@tensorflow/tfjs';
import { nextDropoutSeed } from './dropout.js';
import { recordingGradients, recordingHigherOrder } from './gradients.js';
import { ATTENTION, ATTENTION_GRAD, maskStrides, type AttentionAttrs } from './kernels/attention.js';

/**
 * Multi-head attention on projections whose heads sit side by side, as one kernel call where the
 * backend has one (wasm): q (B, Tq, H·dk), k (B, Tk, H·dk), v (B, Tk, H·dv) → (B, Tq, H·dv), the
 * same as
 *
 *   mergeHeads(scaledDotProductAttention(splitHeads(q), splitHeads(k), splitHeads(v), mask, {dropout}).output)
 *
 * (layers/qkv-projection.ts, attention/scaled-dot-product.ts) and its gradient, to the bit: the same
 * float operations in the same order (kernels/attention.ts), the dropout mask drawn from the same
 * seed sequence at the same point. One kernel call forward and one backward instead of ~60 in a
 * training step.
 */

export interface FusedAttentionOptions {
  /** Number of heads H the last axes split into. */
  numHeads: number;
  /** Dropout rate on the attention weights; 0 (the default) for none. */
  dropout?: number;
  /**
   * The mask hides from query i every key after Tk − Tq + i (a causal mask, possibly with padding):
   * the kernels then skip the products' hidden half, with the same results.
   */
  causal?: boolean;
}

/** Whether the backend in use computes attention in one kernel. */
export function fusedAttentionRuns(): boolean {
  return tf.getKernel(ATTENTION, tf.getBackend()) !== undefined;
}

/** Whether the kernel takes these operands: float32, shapes as above, a mask that broadcasts with its last axis Tk; not for a gradient of a gradient (its gradient kernel has no gradient, see recordingHigherOrder). */
export function fusedAttentionFits(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, numHeads: number, mask?: tf.Tensor): boolean {
  if (!fusedAttentionRuns() || recordingHigherOrder() || q.rank !== 3 || k.rank !== 3 || v.rank !== 3) return false;
  if ([q, k, v, ...(mask ? [mask] : [])].some((t) => t.dtype !== 'float32')) return false;
  const [b, tq, hdk] = q.shape as [number, number, number];
  const [tk, hdv] = [k.shape[1]!, v.shape[2]!];
  const sizes = [b, tq, tk, hdk, hdv];
  if (sizes.some((d) => d < 1) || hdk % numHeads !== 0 || hdv % numHeads !== 0) return false;
  if (k.shape[0] !== b || v.shape[0] !== b || k.shape[2] !== hdk || v.shape[1] !== tk) return false;
  return mask === undefined || maskStrides(mask.shape, [b, numHeads, tq, tk]) !== null;
}

/** q (B, Tq, H·dk), k (B, Tk, H·dk), v (B, Tk, H·dv), mask → (B, Tq, H·dv); check `fusedAttentionFits` first. */
export function fusedAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, mask: tf.Tensor | undefined, options: FusedAttentionOptions): tf.Tensor {
  const rate = options.dropout ?? 0;
  // Drawn here, as `dropout` would draw it after the softmax: nothing in between draws seeds.
  const seed = rate > 0 ? nextDropoutSeed() : 0;
  const causal = options.causal === true;
  const attrs = (save: boolean): tf.NamedAttrMap => ({ numHeads: options.numHeads, rate, seed, save, causal }) satisfies AttentionAttrs as unknown as tf.NamedAttrMap;
  const withMask = (inputs: tf.NamedTensorMap): tf.NamedTensorMap => (mask === undefined ? inputs : { ...inputs, mask });
  const run = (name: string, inputs: tf.NamedTensorMap, kernelAttrs: tf.NamedAttrMap) => tf.engine().runKernel(name, inputs, kernelAttrs) as tf.Tensor[];
  // Nothing is being differentiated (inference): the forward kernel alone.
  if (!recordingGradients()) return run(ATTENTION, withMask({ q, k, v }), attrs(false))[0]!;
  // The mask is no input of the op (it has no gradient here), but the gradient needs it: saved. The
  // dropout multiplier is drawn again from its seed in the gradient.
  const op = tf.customGrad((qi, ki, vi, save) => {
    const [output, weights] = run(ATTENTION, withMask({ q: qi as tf.Tensor, k: ki as tf.Tensor, v: vi as tf.Tensor }), attrs(true));
    (save as (tensors: tf.Tensor[]) => void)([qi as tf.Tensor, ki as tf.Tensor, vi as tf.Tensor, weights!, ...(mask ? [mask] : [])]);
    return {
      value: output!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [qs, ks, vs, w, m] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor?];
        return run(ATTENTION_GRAD, { dy, q: qs, k: ks, v: vs, w, ...(m ? { mask: m } : {}) }, attrs(false));
      },
    };
  }) as (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor;
  return op(q, k, v);
}
