import * as tf from '@tensorflow/tfjs';
import { BATCHERS, disposeBatch, splitByTokens, type Example, type SpecialIds } from '../data/batching.js';
import type { Batch, LossOptions, Model, Objective } from '../model/model.js';
import { seedDropout } from '../ops/dropout.js';
import { mixSeed } from '../util/random.js';
import { Adam } from './adam.js';
import { plainGradient, type ThreadGradient } from './adam-kernels.js';
import type { ParamLayout } from './params.js';

export type { Batch } from '../model/model.js';

export interface StepOptions extends Omit<LossOptions, 'training'> {
  /** Rescale gradients whose global L2 norm exceeds this (0 or undefined: no clipping). */
  clipNorm?: number;
}

export interface StepResult {
  loss: number;
  /** Global L2 norm of the gradients before clipping (computed only when clipping is on). */
  gradNorm?: number;
}

/** The loss of one batch (a scalar tensor; the caller disposes). */
export function batchLoss(model: Model, batch: Batch, options: LossOptions = {}): tf.Scalar {
  return model.loss(batch, options);
}

/** The model's trainable variables, in the order of its weights (and of a ParamLayout). */
export function trainableVariables(model: Pick<Model, 'trainableWeights'>): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/**
 * Gradients of a batch's loss (with dropout) for every trainable variable, by name, in the order of
 * the model's weights. A weight the loss does not reach (the masked-LM head while classifying) gets
 * a zero gradient in its place: tf.train.adam pairs its moments with the gradients by position, so
 * the order must not depend on which weights the loss reaches.
 */
export function gradients(model: Model, batch: Batch, options: Omit<LossOptions, 'training'>): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const vars = trainableVariables(model);
  const { value, grads } = tf.variableGrads(() => model.loss(batch, { ...options, training: true }), vars);
  const ordered: tf.NamedTensorMap = {};
  for (const v of vars) ordered[v.name] = grads[v.name] ?? tf.zerosLike(v);
  return { value, grads: ordered };
}

/**
 * One optimisation step on a batch: forward with dropout, backward, optional global-norm clipping,
 * update (skipped when the loss is not finite, so a NaN never reaches the weights). Everything it
 * creates is freed before it returns (the optimizer keeps only its own state). With the library's
 * `Adam` the update runs on flat buffers; any tf.Optimizer works too, its loss read asynchronously.
 */
export async function trainStep(model: Model, optimizer: tf.Optimizer | Adam, batch: Batch, options: StepOptions = {}): Promise<StepResult> {
  if (optimizer instanceof Adam) {
    const loss = flatGradient(model, batch, options, optimizer.layout, optimizer.grad);
    const gradNorm = Number.isFinite(loss) ? optimizer.step(trainableVariables(model), options.clipNorm ?? 0) : undefined;
    return { loss, gradNorm };
  }
  const { value, grads } = gradients(model, batch, options);
  const loss = (await value.data())[0]!;
  value.dispose();
  if (!Number.isFinite(loss)) {
    tf.dispose(Object.values(grads));
    return { loss };
  }
  applyStep(optimizer, grads, options.clipNorm ?? 0);
  return { loss };
}

/**
 * The gradient of a batch's mean loss (with dropout), written into `target` as one flat vector in
 * `layout` order; returns the loss. Nothing it creates outlives it.
 */
export function flatGradient(model: Model, batch: Batch, options: Omit<LossOptions, 'training'>, layout: ParamLayout, target: Float32Array): number {
  const vars = trainableVariables(model);
  const { value, grads } = gradients(model, batch, options);
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

/**
 * Padded tokens (rows × longest row) a step computes at once on one thread before it cuts its batch
 * into pieces. The peak memory of a step grows with it (the logits alone are 4·V bytes a token),
 * and the wasm heap never gives memory back, so a few long batches would set the memory of a whole
 * run. 768 leaves the synthetic tasks' batches (64 × 11) whole.
 */
export const DEFAULT_MAX_TOKENS = 768;

/** Piece vectors for a gradient given as a plain array, one per layout (kept: a step runs every few ms). */
const pieceVectors = new WeakMap<ParamLayout, Float32Array>();

/**
 * flatGradient for a share of a batch given as examples, its dropout masks seeded by `dropoutSeed`,
 * into `target` (a plain vector or a thread's gradient in the optimizer's memory). A share of more
 * than `maxTokens` padded tokens is cut into pieces (splitByTokens) whose gradients are added, each
 * weighted by its share of the scored targets: the gradient of the whole share's mean loss, up to
 * float rounding, with at most `maxTokens` tokens' activations alive at a time. Piece 0 keeps
 * `dropoutSeed` (a share that is not cut is computed exactly as a whole batch), piece i > 0 draws
 * its masks from mixSeed(dropoutSeed, i).
 */
export function shareGradient(model: Model, objective: Objective, items: readonly Example[], ids: SpecialIds, labelSmoothing: number, dropoutSeed: number | undefined, layout: ParamLayout, target: Float32Array | ThreadGradient, maxTokens = Infinity): number {
  const batcher = BATCHERS[objective];
  const pieces = splitByTokens(items, maxTokens, batcher.length);
  const out = target instanceof Float32Array ? target : target.grad;
  if (pieces.length === 1) return pieceGradient(model, objective, items, ids, labelSmoothing, dropoutSeed, layout, out);
  const sums = target instanceof Float32Array ? plainGradient(target, piecesOf(layout)) : target;
  const total = batcher.targets(items, ids);
  let loss = 0;
  let first = true;
  pieces.forEach((piece, i) => {
    const count = batcher.targets(piece, ids);
    if (count === 0) return; // nothing scored: its loss and gradient are 0
    const w = count / total;
    const seed = dropoutSeed === undefined || i === 0 ? dropoutSeed : mixSeed(dropoutSeed, i);
    // grad = Σ w·(piece's gradient), summed from zero in float64 and rounded to float32 per piece.
    loss += w * pieceGradient(model, objective, piece, ids, labelSmoothing, seed, layout, first ? sums.grad : sums.piece);
    if (first) sums.weigh(w);
    else sums.addPiece(w);
    first = false;
  });
  if (first) out.fill(0);
  return loss;
}

function piecesOf(layout: ParamLayout): Float32Array {
  let piece = pieceVectors.get(layout);
  if (piece === undefined) pieceVectors.set(layout, (piece = new Float32Array(layout.size)));
  return piece;
}

/** flatGradient of one batch made from `items`. */
function pieceGradient(model: Model, objective: Objective, items: readonly Example[], ids: SpecialIds, labelSmoothing: number, dropoutSeed: number | undefined, layout: ParamLayout, target: Float32Array): number {
  const batch = BATCHERS[objective].make(items, ids);
  seedDropout(dropoutSeed);
  try {
    return flatGradient(model, batch, { labelSmoothing }, layout, target);
  } finally {
    seedDropout(undefined);
    disposeBatch(batch);
  }
}

/**
 * The update half of a step, on the device: rescale the gradients to a global L2 norm of at most
 * `clip` (0: no clipping), apply them, free them. Nothing is read back: the scale is a tensor,
 * clip / max(norm, clip), which is 1 when the norm is within the threshold.
 */
export function applyStep(optimizer: tf.Optimizer, grads: tf.NamedTensorMap, clip: number): void {
  try {
    if (clip <= 0) {
      optimizer.applyGradients(grads);
      return;
    }
    const clipped = tf.tidy(() => {
      // stack + sum rather than addN: WebGPU's AddN takes at most 8 inputs, a model has dozens.
      const norm = tf.sqrt(tf.sum(tf.stack(Object.values(grads).map((g) => tf.sum(tf.square(g))))));
      const scale = tf.div(clip, tf.maximum(norm, clip));
      return Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.mul(g, scale)])) as tf.NamedTensorMap;
    });
    optimizer.applyGradients(clipped);
    tf.dispose(Object.values(clipped));
  } finally {
    tf.dispose(Object.values(grads));
  }
}
