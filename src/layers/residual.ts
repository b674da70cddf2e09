import * as tf from '@tensorflow/tfjs';
import type { NormPlacement } from '../config.js';
import { residualDropout } from '../ops/dropout.js';
import type { LayerNorm } from './layer-norm.js';

/**
 * The residual wiring around every sublayer, written once:
 * pre-norm  x + dropout(sublayer(norm(x)))   (default; trains stably without warm-up tricks)
 * post-norm norm(x + dropout(sublayer(x)))   (the 2017 paper)
 * The sum and the dropout are one op (`residualDropout`: one kernel on wasm).
 */
export function residual(
  x: tf.Tensor,
  norm: LayerNorm,
  placement: NormPlacement,
  rate: number,
  training: boolean | undefined,
  sublayer: (h: tf.Tensor) => tf.Tensor,
): tf.Tensor {
  if (placement === 'pre') {
    return residualDropout(x, sublayer(norm.forward(x).output), rate, training);
  }
  return norm.forward(residualDropout(x, sublayer(x), rate, training)).output;
}
