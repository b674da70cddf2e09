import * as tf from '@tensorflow/tfjs';
import { recordingGradients, recordingHigherOrder, sumRows } from './gradients.js';
import { fusedLayerNormFits, LAYER_NORM, LAYER_NORM_GRAD } from './kernels/layer-norm.js';

type LayerNormOp = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;

/**
 * Layer normalisation over the last axis, y = (x − μ)/√(σ² + ε)·γ + β, with a hand-written gradient.
 *
 * Autograd through the forward ops records ~25 kernels per call and reduces dγ, dβ with sums over
 * the leading axes, which the wasm backend runs slowly. The closed form needs about half as many:
 * with x̂ = (x − μ)·r, r = 1/√(σ² + ε) and g = dy·γ,
 *   dx = r·(g − mean(g) − x̂·mean(g·x̂)),   dγ = Σ dy·x̂,   dβ = Σ dy,
 * the sums over rows done by sumRows.
 */
function makeLayerNorm(epsilon: number): LayerNormOp {
  return tf.customGrad((x, gamma, beta, save) => {
    const input = x as tf.Tensor;
    const axis = input.rank - 1;
    const centred = tf.sub(input, tf.mean(input, axis, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.mul(centred, centred), axis, true), epsilon)); // (…, 1)
    const normed = tf.mul(centred, rstd); // x̂ (…, d)
    (save as (tensors: tf.Tensor[]) => void)([normed, rstd, gamma as tf.Tensor]);
    return {
      value: tf.add(tf.mul(normed, gamma as tf.Tensor), beta as tf.Tensor),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xhat, r, g] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const scaled = tf.mul(dy, g); // dL/dx̂
        const dx = tf.mul(r, tf.sub(tf.sub(scaled, tf.mean(scaled, axis, true)), tf.mul(xhat, tf.mean(tf.mul(scaled, xhat), axis, true))));
        return [dx, sumRows(tf.mul(dy, xhat)), sumRows(dy)];
      },
    };
  }) as LayerNormOp;
}

/**
 * The same LayerNorm and gradient as two kernels of the backend (ops/kernels/layer-norm.ts): one
 * call each way instead of about 10 forward and 15 backward.
 */
function makeFusedLayerNorm(epsilon: number): LayerNormOp {
  return tf.customGrad((x, gamma, beta, save) => {
    const [y, xhat, rstd] = tf.engine().runKernel(LAYER_NORM, { x: x as tf.Tensor, gamma: gamma as tf.Tensor, beta: beta as tf.Tensor }, { epsilon }) as tf.Tensor[];
    (save as (tensors: tf.Tensor[]) => void)([xhat!, rstd!, gamma as tf.Tensor]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [h, r, g] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        return tf.engine().runKernel(LAYER_NORM_GRAD, { dy, xhat: h, rstd: r, gamma: g }) as tf.Tensor[];
      },
    };
  }) as LayerNormOp;
}

const ops = new Map<string, LayerNormOp>();

/** Whether `layerNorm` runs the fused kernels for these operands on the active backend. */
export function layerNormIsFused(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): boolean {
  return tf.getKernel(LAYER_NORM, tf.getBackend()) !== undefined && fusedLayerNormFits(x, gamma, beta);
}

/**
 * LayerNorm of x (…, d) with scale γ (d) and shift β (d): fused kernels where the backend has them
 * (`layerNormIsFused`), else tf ops with the closed-form gradient; both compute the same formulas.
 * `fused: false` asks for the tf-ops version.
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number, options: { fused?: boolean } = {}): tf.Tensor {
  const fused = options.fused !== false && layerNormIsFused(x, gamma, beta) && !recordingHigherOrder();
  // Nothing is being differentiated (inference): the kernel alone, without customGrad's bookkeeping.
  if (fused && !recordingGradients()) {
    const [y, xhat, rstd] = tf.engine().runKernel(LAYER_NORM, { x, gamma, beta }, { epsilon }) as tf.Tensor[];
    tf.dispose([xhat!, rstd!]);
    return y!;
  }
  const key = `${fused ? 'fused' : 'ops'}:${epsilon}`;
  let op = ops.get(key);
  if (op === undefined) {
    op = fused ? makeFusedLayerNorm(epsilon) : makeLayerNorm(epsilon);
    ops.set(key, op);
  }
  return op(x, gamma, beta);
}
