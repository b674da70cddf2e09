import * as tf from '@tensorflow/tfjs';
import type { Transformer } from '../model/transformer.js';
import { sequenceLoss, type LossOptions } from './loss.js';

export interface Batch {
  /** Source ids (B, Ts) int32. */
  src: tf.Tensor2D;
  /** Decoder input: target ids shifted right, starting with bos (B, Tt) int32. */
  tgtIn: tf.Tensor2D;
  /** Decoder output: the ids to predict (B, Tt) int32. */
  tgtOut: tf.Tensor2D;
}

/** The loss of one batch under teacher forcing: a scalar tensor (caller disposes). */
export function batchLoss(model: Transformer, batch: Batch, options: LossOptions & { training?: boolean } = {}): tf.Scalar {
  return tf.tidy(() => {
    const logits = model.forward(batch.src, batch.tgtIn, { training: options.training }); // (B, Tt, Vt)
    return sequenceLoss(logits, batch.tgtOut, { padId: model.config.padId, ...options });
  });
}

/**
 * One optimisation step on a batch: forward with dropout, backward, update. Returns the loss.
 * Everything it creates is freed before it returns (the optimizer keeps only its own slots).
 */
export function trainStep(model: Transformer, optimizer: tf.Optimizer, batch: Batch, options: LossOptions = {}): number {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const loss = optimizer.minimize(() => batchLoss(model, batch, { ...options, training: true }), true, vars);
  const value = loss!.dataSync()[0]!;
  loss!.dispose();
  return value;
}
