import * as tf from '@tensorflow/tfjs';
import { matMul, sumRows } from './matmul.js';

/**
 * x (N, in) · W (in, out) + b (out), with a hand-written gradient: dx = dy·Wᵀ, dW = xᵀ·dy and
 * db = 1ᵀ·dy. The stock gradient of the broadcast add reduces dy over its rows, which the wasm
 * backend does with a transpose and a slow non-inner-axis sum; a (1, N)·(N, out) matMul is far
 * cheaper everywhere. The transposed products go through `matMul`, which is fast on wasm.
 */
const affine = tf.customGrad((x, w, b, save) => {
  const input = x as tf.Tensor2D;
  const kernel = w as tf.Tensor2D;
  (save as (tensors: tf.Tensor[]) => void)([input, kernel]);
  return {
    value: tf.add(tf.matMul(input, kernel), b as tf.Tensor),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [matMul(dy, ws, false, true), matMul(xs, dy, true, false), sumRows(dy)];
    },
  };
}) as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/**
 * x (…, in) · kernel (in, out) + bias (out) → (…, out), as one 2-D matMul over all leading axes.
 *
 * A plain matMul is used instead of `tf.fused.matMul`: the fused op's gradient runs transposed
 * matMuls internally, which bypasses the fast BatchMatMul gradient on wasm.
 */
export function linear(x: tf.Tensor, kernel: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const inDim = x.shape[x.rank - 1]!;
  const outDim = kernel.shape[1]!;
  const flat = x.rank === 2 ? x : tf.reshape(x, [-1, inDim]); // (N, in)
  const y = bias === undefined ? tf.matMul(flat, kernel) : affine(flat, kernel, bias); // (N, out)
  return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), outDim]); // (…, out)
}
