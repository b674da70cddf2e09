import * as tf from '@tensorflow/tfjs';
import { recordingGradients, sumRows } from './gradients.js';
import { LINEAR, LINEAR_GRAD, type LinearAttrs } from './kernels/batch-matmul.js';

type LinearOp = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** An activation applied to x·W + b in the same kernel: 'relu', or none. */
export type LinearActivation = 'relu';

/**
 * x (…, in) · W (in, out) + b (out) as one kernel call where the backend has one (wasm), with the
 * gradient the two ops have: dx = dy·Wᵀ, dW = xᵀ·dy over every row, db = dy summed over the rows.
 * The same products and sums, in the same order, as tf.add(tf.matMul(x, W), b) and its registered
 * gradients (ops/gradients.ts), so the results are the same to the bit — with two kernel calls
 * fewer per layer and step, and one pass less over the output. With ReLU (the feed-forward layer's
 * first half), the kernel applies it in the same pass and the gradient goes through it (dy ·
 * step(y)), where tf.relu would take one call forward and two back. Backward, the three gradients
 * are one kernel call too (`AtencaoLinearGrad`) where the backend has it, the ops otherwise.
 */
const fusedLinear = (attrs: LinearAttrs): LinearOp =>
  tf.customGrad((x, w, b, save) => {
    const [input, kernel] = [x as tf.Tensor, w as tf.Tensor];
    const { activation } = attrs;
    const y = tf.engine().runKernel(LINEAR, { x: input, w: kernel, b: b as tf.Tensor }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    // With ReLU the output says where its gradient passes (y > 0 exactly where x·W + b > 0).
    (save as (tensors: tf.Tensor[]) => void)(activation === 'relu' ? [input, kernel, y] : [input, kernel]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws, ys] = saved as [tf.Tensor, tf.Tensor, tf.Tensor?];
        // One kernel call for all three where the backend has it (the same sums as below), unless
        // this gradient is itself being differentiated: the ops below have gradients, the kernel not.
        if (!recordingGradients() && tf.getKernel(LINEAR_GRAD, tf.getBackend()) !== undefined) {
          return tf.engine().runKernel(LINEAR_GRAD, ys === undefined ? { dy, x: xs, w: ws } : { dy, x: xs, w: ws, y: ys }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        }
        // Through the ReLU as Step then Multiply (what the kernel computes, and differentiable).
        const dz = ys === undefined ? dy : tf.mul(dy, tf.step(ys));
        const rows = (t: tf.Tensor) => tf.reshape(t, [-1, t.shape[t.rank - 1]!]); // (…, d) → (N, d)
        const dzRows = rows(dz);
        // dz (…, out)·Wᵀ: the batch folded into rows by the product kernel, as for (N, out)·Wᵀ.
        return [tf.matMul(dz, ws, false, true), tf.matMul(rows(xs), dzRows, true, false), sumRows(dz)];
      },
    };
  }) as LinearOp;

const FUSED = new Map<string, LinearOp>();
const fusedFor = (attrs: LinearAttrs): LinearOp => {
  const key = `${attrs.activation}${attrs.sparseInput === true ? ' sparse' : ''}`;
  if (!FUSED.has(key)) FUSED.set(key, fusedLinear(attrs));
  return FUSED.get(key)!;
};

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

/**
 * x (…, in) · W (in, out) + b (out) → (…, out); without b, the product alone. With `activation`
 * 'relu', relu(x·W + b), the ReLU in the same kernel where there is one. `sparseInput` says x is
 * mostly zeros (a ReLU's output): the kernel then skips them in x·W and xᵀ·dy, for the same sums.
 */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor, activation?: LinearActivation, options: { sparseInput?: boolean } = {}): tf.Tensor {
  const relu = activation === 'relu';
  if (b === undefined) return relu ? tf.tidy(() => tf.relu(tf.matMul(x, w))) : tf.matMul(x, w);
  if (!fits(x, w, b)) {
    return tf.tidy(() => {
      const z = tf.add(tf.matMul(x, w), b);
      return relu ? tf.relu(z) : z;
    });
  }
  const attrs: LinearAttrs = { activation: relu ? 'relu' : 'none', ...(options.sparseInput === true ? { sparseInput: true } : {}) };
  // Nothing is being differentiated (inference): the kernel alone, without customGrad's bookkeeping.
  if (!recordingGradients()) return tf.engine().runKernel(LINEAR, { x, w, b }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
  return fusedFor(attrs)(x, w, b);
}
