import * as tf from '@tensorflow/tfjs';

/**
 * Mean cross-entropy of logits (…, V) against target ids (…), over the targets where `mask` is 1.
 * With label smoothing ε the target distribution is (1 − ε)·onehot + ε/V.
 */
export function maskedCrossEntropy(logits: tf.Tensor, targets: tf.Tensor, mask: tf.Tensor, labelSmoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const vocab = logits.shape[logits.rank - 1]!;
    const logProbs = tf.logSoftmax(logits); // (…, V)
    let target = tf.oneHot(tf.cast(targets, 'int32'), vocab); // (…, V)
    if (labelSmoothing > 0) target = tf.add(tf.mul(target, 1 - labelSmoothing), labelSmoothing / vocab);
    const nll = tf.neg(tf.sum(tf.mul(target, logProbs), -1)); // (…)
    const count = tf.maximum(tf.sum(mask), 1);
    return tf.div(tf.sum(tf.mul(nll, mask)), count) as tf.Scalar;
  });
}

/** 1 where `ids` is not padding, as float32. */
export function notPadding(ids: tf.Tensor, padId: number): tf.Tensor {
  return tf.tidy(() => tf.cast(tf.notEqual(ids, padId), 'float32'));
}
