import * as tf from '@tensorflow/tfjs';
import { SUM_ROWS } from './kernels/sum-rows.js';
import { installTapeOrder } from './tape-order.js';

/**
 * Gradients registered in place of tfjs's own for two kernels every layer uses (BatchMatMul, Add),
 * so that plain `tf.add(tf.matMul(x, w), b)` backprops fast on every backend (`linear` computes the
 * same gradient in one op). Both compute exactly what the stock gradients compute; only the way the
 * sums are taken differs.
 */

/** Whether a gradient is being taken around this call (tf.grads, variableGrads, customGrad's backward). */
export function recordingGradients(): boolean {
  return gradientDepth() > 0;
}

/**
 * Whether a forward pass is recorded for a gradient of a gradient (a tf.grad inside a tf.grad):
 * the fused kernels' gradients are kernels without gradients of their own, so the ops that have
 * them take over there.
 */
export function recordingHigherOrder(): boolean {
  return gradientDepth() > 1;
}

function gradientDepth(): number {
  return (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth;
}

/**
 * Column sums of x (…, d) over every leading axis → (d), as a (1, N)·(N, d) product: the wasm
 * backend sums over non-inner axes slowly (a transpose, then a reduction), while this product is
 * quick on every backend.
 */
export function sumRows(x: tf.Tensor): tf.Tensor1D {
  const d = x.shape[x.rank - 1]!;
  // A backend with a kernel for it (wasm) sums in one pass, the rows in the same order — unless
  // the sum is itself being differentiated (a gradient of a gradient): the product has a gradient.
  if (x.dtype === 'float32' && !recordingGradients() && tf.getKernel(SUM_ROWS, tf.getBackend()) !== undefined) return tf.engine().runKernel(SUM_ROWS, { x }) as tf.Tensor1D;
  return tf.reshape(sumLeading(x, x.rank - 1), [d]);
}

/** Sum x over its first `axes` axes as a (1, rows)·(rows, rest) product → (1, rest). */
function sumLeading(x: tf.Tensor, axes: number): tf.Tensor {
  const rows = x.shape.slice(0, axes).reduce((p, s) => p * s, 1);
  return tf.matMul(tf.ones([1, rows]), tf.reshape(x, [rows, x.size / rows])); // (1, rows)·(rows, rest)
}

/**
 * Sum a broadcast gradient back down to the shape of the input it flows to. When the input only
 * lacks leading axes (a bias (d) added to (B, T, d), a position table (T, d) added to (B, T, d)),
 * that is one `sumLeading` product; other broadcasts reduce as the stock gradients do. The result
 * is always a new tensor, never `grad` itself (the tape may dispose one input's gradient while
 * another's is still in use).
 */
export function sumToShape(grad: tf.Tensor, shape: number[]): tf.Tensor {
  if (tf.util.arraysEqual(grad.shape, shape)) return tf.reshape(grad, shape);
  let trailing = [...shape];
  while (trailing.length > 0 && trailing[0] === 1) trailing = trailing.slice(1);
  const lead = grad.rank - trailing.length;
  if (grad.dtype === 'float32' && lead > 0 && tf.util.arraysEqual(grad.shape.slice(lead), trailing)) {
    return tf.reshape(trailing.length === 1 ? sumRows(grad) : sumLeading(grad, lead), shape);
  }
  const axes = tf.broadcast_util.getReductionAxes(shape, grad.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(grad, axes) : grad, shape);
}

/**
 * The gradient of BatchMatMul: the stock formulas (transposed products, which the wasm kernel
 * override runs fast), plus two things the stock gradient lacks. Broadcast batch axes are summed
 * back down. And for a matrix shared by the whole batch, x (…, T, in) · W (in, out), the batch is
 * folded into rows first, so dW is one (in, N)·(N, out) product rather than a batched product
 * followed by a sum over the batch.
 */
const batchMatMulGrad: tf.GradConfig = {
  kernelName: tf.BatchMatMul,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [a, b] = saved as [tf.Tensor, tf.Tensor];
    const g = dy as tf.Tensor;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (b.rank === 2 && a.rank > 2 && !transposeA) {
      const rowsOf = (x: tf.Tensor) => tf.reshape(x, [-1, x.shape[x.rank - 1]!]); // (…, d) → (N, d)
      const grads = productGradients(() => rowsOf(g), () => rowsOf(a), () => b, false, transposeB);
      return { a: () => tf.reshape(grads.a(), a.shape), b: grads.b };
    }
    const grads = productGradients(() => g, () => a, () => b, transposeA, transposeB);
    return { a: () => sumToShape(grads.a(), a.shape), b: () => sumToShape(grads.b(), b.shape) };
  },
};

/** d(a·b)/da and /db for the four transpose settings, as in tfjs (operands made on demand). */
function productGradients(g: () => tf.Tensor, a: () => tf.Tensor, b: () => tf.Tensor, transposeA: boolean, transposeB: boolean): { a: () => tf.Tensor; b: () => tf.Tensor } {
  if (!transposeA && !transposeB) return { a: () => tf.matMul(g(), b(), false, true), b: () => tf.matMul(a(), g(), true, false) };
  if (!transposeA && transposeB) return { a: () => tf.matMul(g(), b(), false, false), b: () => tf.matMul(g(), a(), true, false) };
  if (transposeA && !transposeB) return { a: () => tf.matMul(b(), g(), false, true), b: () => tf.matMul(a(), g(), false, false) };
  return { a: () => tf.matMul(b(), g(), true, true), b: () => tf.matMul(g(), a(), true, true) };
}

/** The gradient of Add: dy to each input, broadcasts summed back with `sumToShape`. */
const addGrad: tf.GradConfig = {
  kernelName: tf.Add,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const [a, b] = saved as [tf.Tensor, tf.Tensor];
    const g = dy as tf.Tensor;
    return { a: () => sumToShape(g, a.shape), b: () => sumToShape(g, b.shape) };
  },
};

let registered = false;

/** Install the gradients above, for every backend, and the tape's order for gradients of gradients (idempotent). */
export function registerGradients(): void {
  if (registered) return;
  tf.registerGradient(batchMatMulGrad);
  tf.registerGradient(addGrad);
  installTapeOrder();
  registered = true;
}
