import * as tf from '@tensorflow/tfjs';
import { maxOf } from '../util/objects.js';

/** Id lists padded on the right into a (B, T) int32 tensor. */
export function idTensor(rows: readonly (readonly number[])[], pad: number, length = maxOf(rows.map((r) => r.length))): tf.Tensor2D {
  const data = new Int32Array(rows.length * length).fill(pad);
  rows.forEach((r, i) => data.set(r.slice(0, length), i * length));
  return tf.tensor2d(data, [rows.length, length], 'int32');
}
