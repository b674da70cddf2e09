import * as tf from '@tensorflow/tfjs';
import { maskedCrossEntropy, notPadding } from '../model/loss.js';

export interface SequenceLossOptions {
  /** Target id that marks padding; those positions do not count. Default: 0. */
  padId?: number;
  /** Spread this much probability mass evenly over the vocabulary (0 = plain cross-entropy). Default: 0. */
  labelSmoothing?: number;
}

/**
 * Mean token cross-entropy of logits (B, T, V) against target ids (B, T), over non-padding targets.
 * With label smoothing ε the target distribution is (1 − ε)·onehot + ε/V.
 */
export function sequenceLoss(logits: tf.Tensor, targets: tf.Tensor, options: SequenceLossOptions = {}): tf.Scalar {
  const { padId = 0, labelSmoothing = 0 } = options;
  return tf.tidy(() => maskedCrossEntropy(logits, targets, notPadding(targets, padId), labelSmoothing));
}
