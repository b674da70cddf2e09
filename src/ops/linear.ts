import * as tf from '@tensorflow/tfjs';

/**
 * x (…, in) · kernel (in, out) + bias (out) → (…, out), as one 2-D matMul over all leading axes.
 *
 * A plain matMul plus add is used instead of `tf.fused.matMul`: the fused op's gradient runs
 * transposed matMuls internally, which bypasses our fast BatchMatMul gradient on wasm.
 */
export function linear(x: tf.Tensor, kernel: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const inDim = x.shape[x.rank - 1]!;
  const outDim = kernel.shape[1]!;
  const flat = x.rank === 2 ? x : tf.reshape(x, [-1, inDim]); // (N, in)
  let y = tf.matMul(flat, kernel); // (N, out)
  if (bias !== undefined) y = tf.add(y, bias);
  return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), outDim]); // (…, out)
}
