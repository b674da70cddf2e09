import * as tf from '@tensorflow/tfjs';
import { BATCHERS, disposeBatch, splitByTokens, type Example, type SpecialIds } from '../data/batching.js';
import type { Model, Objective } from '../model/model.js';
import type { OptimizerState } from '../io/checkpoint.js';
import { seedDropout } from '../ops/dropout.js';
import { Adam, type NamedTensor } from './adam.js';
import { DataParallel } from './parallel.js';
import { ParamLayout } from './params.js';
import { applyStep, DEFAULT_MAX_TOKENS, gradients, shareGradient, trainableVariables, type StepResult } from './step.js';
import { isDeviceBackend } from '../backend.js';
import { mixSeed } from '../util/random.js';
import { UsageError } from '../errors.js';

/** Everything one optimisation step needs besides the model. */
export interface StepInput {
  objective: Objective;
  items: readonly Example[];
  ids: SpecialIds;
  /** Learning rate of this step (from the schedule). */
  lr: number;
  labelSmoothing: number;
  /** Global gradient-norm clipping threshold; 0 turns it off. */
  clipNorm: number;
  /** Seeds this step's dropout masks. */
  dropoutSeed?: number;
}

/**
 * How a step's gradients are computed and applied. The trainer calls `step` and never asks which
 * kind it holds; checkpoints save and restore `optimizer` (tf.train.adam's format for all kinds).
 */
export interface Stepper {
  /** A short description for logs ("flat Adam, 2 threads"). */
  readonly description: string;
  step(input: StepInput): Promise<StepOutcome>;
  readonly optimizer: OptimizerState;
  dispose(): Promise<void>;
}

/**
 * What a step returns: its loss as a number, or as a scalar still on the device, which the trainer
 * reads later together with other steps' (and disposes). A device stepper cannot skip the update of
 * a step whose loss is not finite; the trainer stops at the next read, before any checkpoint.
 */
export interface StepOutcome {
  loss: number | tf.Scalar;
}

/** A step's loss as a number, waiting for the device if it is still there (and freeing it). */
export async function lossValue({ loss }: StepOutcome): Promise<number> {
  if (typeof loss === 'number') return loss;
  const value = (await loss.data())[0]!;
  loss.dispose();
  return value;
}

/** Adam's settings for every run: β 0.9/0.98, ε 1e-9 (the paper's). */
export const ADAM = { beta1: 0.9, beta2: 0.98, epsilon: 1e-9 } as const;

/** Flat-buffer SIMD Adam on this thread (the fast CPU path for one thread). */
export class FlatAdamStepper implements Stepper {
  readonly description = 'flat Adam, 1 thread';
  readonly optimizer: Adam;

  /**
   * `maxTokens`: padded tokens computed at once; a longer batch is cut into pieces whose
   * gradients are added (see shareGradient).
   */
  constructor(private readonly model: Model, lr: number, private readonly maxTokens = DEFAULT_MAX_TOKENS) {
    this.optimizer = new Adam(ParamLayout.of(trainableVariables(model)), { learningRate: lr, ...ADAM }, 1);
  }

  async step(input: StepInput): Promise<StepResult> {
    this.optimizer.learningRate = input.lr;
    const { layout, threadGradient } = this.optimizer;
    const loss = shareGradient(this.model, input.objective, input.items, input.ids, input.labelSmoothing, input.dropoutSeed, layout, threadGradient, this.maxTokens);
    // A loss that is not finite skips the update, so a NaN never reaches the weights.
    const gradNorm = Number.isFinite(loss) ? this.optimizer.step(trainableVariables(this.model), input.clipNorm ?? 0) : undefined;
    return { loss, gradNorm };
  }

  async dispose(): Promise<void> {
    this.optimizer.dispose();
  }
}

/** Flat Adam with each batch split between this thread and worker threads (data-parallel). */
export class ParallelStepper implements Stepper {
  readonly description: string;

  private constructor(
    readonly optimizer: Adam,
    private readonly parallel: DataParallel,
  ) {
    this.description = `flat Adam, ${parallel.size} threads`;
  }

  /** `maxTokens`: padded tokens each thread computes at once (see shareGradient). */
  static async start(model: Model, lr: number, threads: number, backend: string, maxTokens = DEFAULT_MAX_TOKENS): Promise<ParallelStepper> {
    const optimizer = new Adam(ParamLayout.of(trainableVariables(model)), { learningRate: lr, ...ADAM }, threads);
    try {
      return new ParallelStepper(optimizer, await DataParallel.start(model, optimizer, backend, maxTokens));
    } catch (error) {
      optimizer.dispose();
      throw error;
    }
  }

  async step(input: StepInput): Promise<StepResult> {
    this.optimizer.learningRate = input.lr;
    return this.parallel.step(input.objective, input.items, input.ids, input);
  }

  async dispose(): Promise<void> {
    await this.parallel.dispose();
    this.optimizer.dispose();
  }
}

/**
 * `tf.train.adam` on the backend's own tensors: the step (forward, loss, gradients, clipping,
 * update) stays on the device, and the loss is read back with an asynchronous `data()`. The path
 * for GPU backends, where reading a tensor synchronously stalls or fails.
 */
export class DeviceStepper implements Stepper {
  readonly description = 'tf.train.adam on the device';
  readonly optimizer: tf.AdamOptimizer & OptimizerState;

  /** `maxTokens`: padded tokens computed at once; a longer batch is cut into pieces whose gradients are added. */
  constructor(private readonly model: Model, lr: number, private readonly maxTokens = DEFAULT_MAX_TOKENS) {
    this.optimizer = tf.train.adam(lr, ADAM.beta1, ADAM.beta2, ADAM.epsilon) as tf.AdamOptimizer & OptimizerState;
  }

  async step(input: StepInput): Promise<StepOutcome> {
    (this.optimizer as unknown as { learningRate: number }).learningRate = input.lr;
    const batcher = BATCHERS[input.objective];
    const pieces = splitByTokens(input.items, this.maxTokens, batcher.length);
    const total = batcher.targets(input.items, input.ids);
    let value: tf.Scalar | undefined;
    let grads: tf.NamedTensorMap | undefined;
    for (const [i, piece] of pieces.entries()) {
      const w = pieces.length === 1 ? 1 : total > 0 ? batcher.targets(piece, input.ids) / total : 0;
      if (w === 0 && value !== undefined) continue; // nothing scored: a zero gradient
      const batch = batcher.make(piece, input.ids);
      seedDropout(i === 0 || input.dropoutSeed === undefined ? input.dropoutSeed : mixSeed(input.dropoutSeed, i));
      try {
        const part = gradients(this.model, batch, { labelSmoothing: input.labelSmoothing });
        if (pieces.length === 1) ({ value, grads } = part);
        else [value, grads] = addWeighted(value, grads, part, w);
      } finally {
        seedDropout(undefined);
        disposeBatch(batch);
      }
    }
    applyStep(this.optimizer, grads!, input.clipNorm);
    // The loss stays on the device: the trainer reads several steps' losses at once.
    return { loss: value! };
  }

  async dispose(): Promise<void> {
    this.optimizer.dispose();
  }
}

/** sum + w · part for a loss and its gradients (sum undefined: w · part); frees `sum` and `part`. */
function addWeighted(value: tf.Scalar | undefined, grads: tf.NamedTensorMap | undefined, part: { value: tf.Scalar; grads: tf.NamedTensorMap }, w: number): [tf.Scalar, tf.NamedTensorMap] {
  const next = tf.tidy(() => {
    const scaled = (t: tf.Tensor, old: tf.Tensor | undefined) => (old === undefined ? tf.mul(t, w) : tf.add(old, tf.mul(t, w)));
    return {
      value: scaled(part.value, value) as tf.Scalar,
      grads: Object.fromEntries(Object.entries(part.grads).map(([k, g]) => [k, scaled(g, grads?.[k])])) as tf.NamedTensorMap,
    };
  });
  tf.dispose([part.value, ...Object.values(part.grads), ...(value === undefined ? [] : [value]), ...Object.values(grads ?? {})]);
  return [next.value, next.grads];
}

export type StepperKind = 'flat' | 'parallel' | 'device';

/**
 * The stepper for a backend: on-device Adam where reading tensors back is costly (GPU backends
 * and native TensorFlow; the flat kinds are refused there), flat Adam on one thread or several
 * (`threads`) on wasm and cpu.
 */
export async function createStepper(model: Model, options: { lr: number; backend: string; threads: number; kind?: StepperKind; maxTokens?: number }): Promise<Stepper> {
  const kind = options.kind ?? defaultStepperKind(options.backend, options.threads);
  if (kind !== 'device' && isDeviceBackend(options.backend)) {
    throw new UsageError(`the ${kind} stepper reads tensors synchronously, which ${options.backend} cannot do well: use --stepper device (its default)`);
  }
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (kind === 'device') return new DeviceStepper(model, options.lr, maxTokens);
  if (kind === 'parallel' && options.threads > 1) return ParallelStepper.start(model, options.lr, options.threads, options.backend, maxTokens);
  return new FlatAdamStepper(model, options.lr, maxTokens);
}

export function defaultStepperKind(backend: string, threads: number): StepperKind {
  if (isDeviceBackend(backend) || backend === 'webgl') return 'device';
  return threads > 1 ? 'parallel' : 'flat';
}

export type { NamedTensor };
