import * as tf from '@tensorflow/tfjs';
import { BATCHERS, disposeBatch, type Example, type SpecialIds } from '../data/batching.js';
import type { Model, Objective } from '../model/model.js';
import type { OptimizerState } from '../io/checkpoint.js';
import { seedDropout } from '../ops/dropout.js';
import { Adam, type NamedTensor } from './adam.js';
import { DataParallel } from './parallel.js';
import { ParamLayout } from './params.js';
import { applyStep, gradients, trainableVariables, trainStep, type StepResult } from './step.js';
import { isDeviceBackend } from '../backend.js';
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

  constructor(private readonly model: Model, lr: number) {
    this.optimizer = new Adam(ParamLayout.of(trainableVariables(model)), { learningRate: lr, ...ADAM }, 1);
  }

  async step(input: StepInput): Promise<StepResult> {
    this.optimizer.learningRate = input.lr;
    const batch = BATCHERS[input.objective].make(input.items, input.ids);
    seedDropout(input.dropoutSeed);
    try {
      return await trainStep(this.model, this.optimizer, batch, { labelSmoothing: input.labelSmoothing, clipNorm: input.clipNorm });
    } finally {
      seedDropout(undefined);
      disposeBatch(batch);
    }
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

  static async start(model: Model, lr: number, threads: number, backend: string): Promise<ParallelStepper> {
    const optimizer = new Adam(ParamLayout.of(trainableVariables(model)), { learningRate: lr, ...ADAM }, threads);
    try {
      return new ParallelStepper(optimizer, await DataParallel.start(model, optimizer, backend));
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

  constructor(private readonly model: Model, lr: number) {
    this.optimizer = tf.train.adam(lr, ADAM.beta1, ADAM.beta2, ADAM.epsilon) as tf.AdamOptimizer & OptimizerState;
  }

  async step(input: StepInput): Promise<StepOutcome> {
    (this.optimizer as unknown as { learningRate: number }).learningRate = input.lr;
    const batch = BATCHERS[input.objective].make(input.items, input.ids);
    seedDropout(input.dropoutSeed);
    let value: tf.Scalar;
    let grads: tf.NamedTensorMap;
    try {
      ({ value, grads } = gradients(this.model, batch, { labelSmoothing: input.labelSmoothing }));
    } finally {
      seedDropout(undefined);
      disposeBatch(batch);
    }
    applyStep(this.optimizer, grads, input.clipNorm);
    // The loss stays on the device: the trainer reads several steps' losses at once.
    return { loss: value };
  }

  async dispose(): Promise<void> {
    this.optimizer.dispose();
  }
}

export type StepperKind = 'flat' | 'parallel' | 'device';

/**
 * The stepper for a backend: on-device Adam where reading tensors back is costly (GPU backends
 * and native TensorFlow; the flat kinds are refused there), flat Adam on one thread or several
 * (`threads`) on wasm and cpu.
 */
export async function createStepper(model: Model, options: { lr: number; backend: string; threads: number; kind?: StepperKind }): Promise<Stepper> {
  const kind = options.kind ?? defaultStepperKind(options.backend, options.threads);
  if (kind !== 'device' && isDeviceBackend(options.backend)) {
    throw new UsageError(`the ${kind} stepper reads tensors synchronously, which ${options.backend} cannot do well: use --stepper device (its default)`);
  }
  if (kind === 'device') return new DeviceStepper(model, options.lr);
  if (kind === 'parallel' && options.threads > 1) return ParallelStepper.start(model, options.lr, options.threads, options.backend);
  return new FlatAdamStepper(model, options.lr);
}

export function defaultStepperKind(backend: string, threads: number): StepperKind {
  if (isDeviceBackend(backend) || backend === 'webgl') return 'device';
  return threads > 1 ? 'parallel' : 'flat';
}

export type { NamedTensor };
