import * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../errors.js';

/**
 * Masks use 1 = may attend, 0 = blocked, as float32, and broadcast against scores (B, H, Tq, Tk).
 */

/** (B, T) token ids → (B, 1, 1, T): 1 where the key is a real token, 0 where it is padding. */
export function paddingMask(ids: tf.Tensor, padId = 0): tf.Tensor4D {
  if (ids.rank !== 2) throw new ShapeError(`paddingMask expects ids of shape (B, T), got (${ids.shape.join(', ')})`);
  return tf.tidy(() => {
    const [batch, length] = ids.shape as [number, number];
    const keep = tf.notEqual(ids, tf.scalar(padId, ids.dtype)).toFloat(); // (B, T)
    return tf.reshape(keep, [batch, 1, 1, length]) as tf.Tensor4D; // (B, 1, 1, T)
  });
}

/** (T, T) lower-triangular ones: query position i may attend to key positions 0…i. */
export function causalMask(length: number): tf.Tensor2D {
  if (!Number.isInteger(length) || length < 1) {
    throw new ShapeError(`causalMask length (${length}) must be a positive integer`);
  }
  // Filled here in one pass: one upload instead of the dozen kernels tf.linalg.bandPart runs.
  const values = new Float32Array(length * length);
  for (let i = 0; i < length; i++) values.fill(1, i * length, i * length + i + 1);
  return tf.tensor2d(values, [length, length]);
}

/** Multiply masks that may be undefined; the result broadcasts like both. */
export function combineMasks(a: tf.Tensor | undefined, b: tf.Tensor | undefined): tf.Tensor | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return tf.mul(a, b);
}
