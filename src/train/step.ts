import * as tf from '@tensorflow/tfjs';
import type { Transformer } from '../model/transformer.js';
import { makeBatch, type EncodedPair, type SpecialIds } from '../data/batching.js';
import { seedDropout } from '../ops/dropout.js';
import { Adam } from './adam.js';
import type { ParamLayout } from './params.js';
import { sequenceLoss, type LossOptions } from './loss.js';

export interface Batch {
  /** Source ids (B, Ts) int32. */
  src: tf.Tensor2D;
  /** Decoder input: target ids shifted right, starting with bos (B, Tt) int32. */
  tgtIn: tf.Tensor2D;
  /** Decoder output: the ids to predict (B, Tt) int32. */
  tgtOut: tf.Tensor2D;
}

export interface StepOptions extends LossOptions {
  /** Rescale gradients whose global L2 norm exceeds this (0 or undefined: no clipping). */
  clipNorm?: number;
}

export interface StepResult {
  loss: number;
  /** Global L2 norm of the gradients before clipping (computed only when clipping is on). */
  gradNorm?: number;
}

/** The loss of one batch under teacher forcing: a scalar tensor (caller disposes). */
export function batchLoss(model: Transformer, batch: Batch, options: LossOptions & { training?: boolean } = {}): tf.Scalar {
  return tf.tidy(() => {
    const logits = model.forward(batch.src, batch.tgtIn, { training: options.training }); // (B, Tt, Vt)
    return sequenceLoss(logits, batch.tgtOut, { padId: model.config.padId, ...options });
  });
}

/** The model's trainable variables, in the order of its weights (and of a ParamLayout). */
export function trainableVariables(model: Transformer): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/**
 * One optimisation step on a batch: forward with dropout, backward, optional global-norm clipping,
 * update (skipped when the loss is not finite, so a NaN never reaches the weights). Everything it
 * creates is freed before it returns (the optimizer keeps only its own state). With the library's
 * `Adam` the update runs on flat buffers; any tf.Optimizer works too.
 */
export function trainStep(model: Transformer, optimizer: tf.Optimizer | Adam, batch: Batch, options: StepOptions = {}): StepResult {
  if (optimizer instanceof Adam) {
    const loss = flatGradient(model, batch, options, optimizer.layout, optimizer.grad);
    const gradNorm = Number.isFinite(loss) ? optimizer.step(trainableVariables(model), options.clipNorm ?? 0) : undefined;
    return { loss, gradNorm };
  }
  const { value, grads } = tf.variableGrads(() => batchLoss(model, batch, { ...options, training: true }), trainableVariables(model));
  const loss = value.dataSync()[0]!;
  value.dispose();
  return applyStep(optimizer, grads, loss, options.clipNorm ?? 0);
}

/**
 * The gradient of a batch's mean loss (with dropout), written into `target` as one flat vector in
 * `layout` order; returns the loss. Nothing it creates outlives it.
 */
export function flatGradient(model: Transformer, batch: Batch, options: LossOptions, layout: ParamLayout, target: Float32Array): number {
  const vars = trainableVariables(model);
  const { value, grads } = tf.variableGrads(() => batchLoss(model, batch, { ...options, training: true }), vars);
  try {
    layout.gather(
      vars.map((v) => grads[v.name]!),
      target,
    );
    return value.dataSync()[0]!;
  } finally {
    tf.dispose([value, ...Object.values(grads)]);
  }
}

/** flatGradient for a share of a batch given as id lists, its dropout masks seeded by `dropoutSeed`. */
export function shareGradient(model: Transformer, items: readonly EncodedPair[], ids: SpecialIds, labelSmoothing: number, dropoutSeed: number | undefined, layout: ParamLayout, target: Float32Array): number {
  const batch = makeBatch(items, ids);
  seedDropout(dropoutSeed);
  try {
    return flatGradient(model, batch, { labelSmoothing }, layout, target);
  } finally {
    seedDropout(undefined);
    tf.dispose([batch.src, batch.tgtIn, batch.tgtOut]);
  }
}

/**
 * The update half of a step: clip the gradients to a global norm if asked, apply them (skipped when
 * the loss is not finite, so a NaN never reaches the weights) and free them.
 */
export function applyStep(optimizer: tf.Optimizer, grads: tf.NamedTensorMap, loss: number, clip: number): StepResult {
  try {
    const gradNorm = clip > 0 ? tf.tidy(() => tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))).dataSync()[0]!) : undefined;
    if (gradNorm !== undefined && gradNorm > clip) {
      const scale = clip / gradNorm;
      const clipped = tf.tidy(() => Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.mul(g, scale)])));
      optimizer.applyGradients(clipped);
      tf.dispose(Object.values(clipped));
    } else if (Number.isFinite(loss)) {
      optimizer.applyGradients(grads);
    }
    return { loss, gradNorm };
  } finally {
    tf.dispose(Object.values(grads));
  }
}
