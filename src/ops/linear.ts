import * as tf from '@tensorflow/tfjs';

/**
 * x (…, in) · kernel (in, out) + bias (out) → (…, out), in plain ops. Nothing here is about speed:
 * the registered gradients (gradients.ts) and the wasm BatchMatMul kernel make it fast.
 */
export function linear(x: tf.Tensor, kernel: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const y = tf.matMul(x, kernel); // (…, in)·(in, out) → (…, out)
  return bias === undefined ? y : tf.add(y, bias);
}
