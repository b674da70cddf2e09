import * as tf from '@tensorflow/tfjs';
import { recordingGradients, sumRows } from './gradients.js';
import { LINEAR } from './kernels/batch-matmul.js';

type LinearOp = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/**
 * x (…, in) · W (in, out) + b (out) as one kernel call where the backend has one (wasm), with the
 * gradient the two ops have: dx = dy·Wᵀ, dW = xᵀ·dy over every row, db = dy summed over the rows.
 * The same products and sums, in the same order, as tf.add(tf.matMul(x, W), b) and its registered
 * gradients (ops/gradients.ts), so the results are the same to the bit — with two kernel calls
 * fewer per layer and step, and one pass less over the output.
 */
const fusedLinear: LinearOp = tf.customGrad((x, w, b, save) => {
  const [input, kernel] = [x as tf.Tensor, w as tf.Tensor];
  (save as (tensors: tf.Tensor[]) => void)([input, kernel]);
  return {
    value: tf.engine().runKernel(LINEAR, { x: input, w: kernel, b: b as tf.Tensor }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor, tf.Tensor];
      const rows = (t: tf.Tensor) => tf.reshape(t, [-1, t.shape[t.rank - 1]!]); // (…, d) → (N, d)
      const dyRows = rows(dy);
      return [tf.reshape(tf.matMul(dyRows, ws, false, true), xs.shape), tf.matMul(rows(xs), dyRows, true, false), sumRows(dy)];
    },
  };
}) as LinearOp;

/** Whether the backend computes `linear` in one kernel for these operands. */
function fits(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): boolean {
  return (
    tf.getKernel(LINEAR, tf.getBackend()) !== undefined &&
    x.dtype === 'float32' &&
    w.dtype === 'float32' &&
    b.dtype === 'float32' &&
    x.rank >= 2 &&
    w.rank === 2 &&
    b.rank === 1 &&
    x.shape[x.rank - 1] === w.shape[0] &&
    b.shape[0] === w.shape[1]
  );
}

/** x (…, in) · W (in, out) + b (out) → (…, out); without b, the product alone. */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  if (b === undefined) return tf.matMul(x, w);
  if (!fits(x, w, b)) return tf.tidy(() => tf.add(tf.matMul(x, w), b));
  // Nothing is being differentiated (inference): the kernel alone, without customGrad's bookkeeping.
  return recordingGradients() ? fusedLinear(x, w, b) : (tf.engine().runKernel(LINEAR, { x, w, b }) as tf.Tensor);
}
