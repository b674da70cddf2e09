import * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../errors.js';
import { dropout } from '../ops/dropout.js';

export interface AttentionResult {
  /** (…, Tq, dv): for each query, the weighted sum of the values. */
  output: tf.Tensor;
  /** (…, Tq, Tk): how much each query attends to each key; rows sum to 1 (0 where fully blocked). */
  weights: tf.Tensor;
}

export interface AttentionOptions {
  /** Dropout rate on the attention weights (training only); 0 keeps the function deterministic. */
  dropout?: number;
}

/** Added to blocked scores: far below any real score, but finite so a fully blocked row stays finite. */
const BLOCKED = -1e9;

/**
 * Attention(Q, K, V) = softmax(Q·Kᵀ / √dk) · V.
 *
 * q (…, Tq, dk), k (…, Tk, dk), v (…, Tk, dv); `mask` broadcasts to (…, Tq, Tk) with 1 = attend and
 * 0 = blocked. Blocked positions get weight exactly 0. A query whose every key is blocked gets all-zero
 * weights and a zero output (not NaN, not a uniform average over padding).
 */
export function scaledDotProductAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  mask?: tf.Tensor,
  options: AttentionOptions = {},
): AttentionResult {
  checkShapes(q, k, v);
  return tf.tidy(() => {
    const dk = q.shape[q.rank - 1]!;
    // Every query against every key: (…, Tq, dk)·(…, Tk, dk)ᵀ → (…, Tq, Tk), scaled by 1/√dk.
    let scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dk));
    if (mask !== undefined) scores = tf.add(scores, tf.mul(tf.sub(1, mask), BLOCKED));
    let weights = tf.softmax(scores); // each row sums to 1 over the keys (…, Tq, Tk)
    // exp(-1e9) underflows to 0 already; the product also zeroes rows that were blocked entirely.
    if (mask !== undefined) weights = tf.mul(weights, mask);
    // Dropout (training only): zero a fraction of the weights at random, scale the rest by 1/(1 − rate).
    const rate = options.dropout ?? 0;
    const attended = dropout(weights, rate, rate > 0);
    // The weighted sum of the values: (…, Tq, Tk)·(…, Tk, dv) → (…, Tq, dv).
    const output = tf.matMul(attended, v);
    return { output, weights };
  });
}

function checkShapes(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor): void {
  const shape = (t: tf.Tensor) => `(${t.shape.join(', ')})`;
  if (q.rank < 2 || k.rank !== q.rank || v.rank !== q.rank) {
    throw new ShapeError(`q, k and v must have the same rank ≥ 2, got q ${shape(q)}, k ${shape(k)}, v ${shape(v)}`);
  }
  const last = q.rank - 1;
  if (q.shape[last] !== k.shape[last]) {
    throw new ShapeError(`q and k must share their last dimension (dk), got q ${shape(q)} and k ${shape(k)}`);
  }
  if (k.shape[last - 1] !== v.shape[last - 1]) {
    throw new ShapeError(`k and v must have the same length (Tk), got k ${shape(k)} and v ${shape(v)}`);
  }
}
