import * as tf from '@tensorflow/tfjs';

export interface LossOptions {
  /** Target id that marks padding; those positions do not count. Default: 0. */
  padId?: number;
  /** Spread this much probability mass evenly over the vocabulary (0 = plain cross-entropy). Default: 0. */
  labelSmoothing?: number;
}

/**
 * Mean token cross-entropy of logits (B, T, V) against target ids (B, T), over non-padding targets.
 * With label smoothing ε the target distribution is (1 − ε)·onehot + ε/V.
 */
export function sequenceLoss(logits: tf.Tensor, targets: tf.Tensor, options: LossOptions = {}): tf.Scalar {
  const { padId = 0, labelSmoothing = 0 } = options;
  return tf.tidy(() => {
    const vocab = logits.shape[logits.rank - 1]!;
    const logProbs = tf.logSoftmax(logits); // (B, T, V)
    let target = tf.oneHot(tf.cast(targets, 'int32'), vocab); // (B, T, V)
    if (labelSmoothing > 0) target = tf.add(tf.mul(target, 1 - labelSmoothing), labelSmoothing / vocab);
    const nll = tf.neg(tf.sum(tf.mul(target, logProbs), -1)); // (B, T)
    const keep = tf.cast(tf.notEqual(targets, padId), 'float32'); // (B, T)
    const count = tf.maximum(tf.sum(keep), 1);
    return tf.div(tf.sum(tf.mul(nll, keep)), count) as tf.Scalar;
  });
}
