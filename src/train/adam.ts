import * as tf from '@tensorflow/tfjs';
import { TrainingError } from '../errors.js';
import { adamRange, allocateAdamMemory, gradientNorm, gradientVector, weightVector, momentVectors, threadGradient, type AdamBuffers, type ThreadGradient, type AdamMemory, type AdamScalars } from './adam-kernels.js';
import { WeightSync, type ParamLayout } from './params.js';

import type { NamedTensor } from '../io/checkpoint.js';

export type { NamedTensor };

const f = Math.fround;

/**
 * Adam on flat float32 vectors.
 *
 * tf.train.adam runs ~14 small kernels per weight tensor (over 1,100 per step for the standard
 * models), which costs more than the arithmetic itself; here a few SIMD loops update every
 * parameter (~1 ms for a million). The weights it produces are bit for bit those of tf.train.adam
 * (a test checks this), and its state is saved and restored in tf.train.adam's format (`iter`, then
 * `<weight>/m` and `<weight>/v` per weight), so checkpoints move between the two.
 *
 * Weights, moments and one gradient vector per training thread live in shared memory, so a
 * data-parallel step (parallel.ts) has every thread write its gradient where the update reads it.
 */
export interface AdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export class Adam {
  /** Read at every step, so a schedule can change it between steps. */
  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** Weights, moments and one gradient vector per thread, in shared memory. */
  readonly memory: AdamMemory;
  readonly buffers: AdamBuffers;
  /** grads[k]: the gradient vector thread k writes (grads[0] is this thread's). */
  readonly grads: Float32Array[];
  /** This thread's gradient vector with its piece vector (see shareGradient). */
  readonly threadGradient: ThreadGradient;
  /** Steps taken. */
  iterations = 0;
  // β1ᵗ⁺¹ and β2ᵗ⁺¹ as float32 running products, as tf.train.adam keeps them.
  /** Whether buffers.weights still holds the variables' values (see `step`). */
  private readonly sync = new WeightSync();
  private accBeta1: number;
  private accBeta2: number;

  /** `threads`: how many threads will compute gradients for it (see DataParallel). */
  constructor(
    readonly layout: ParamLayout,
    options: AdamOptions,
    threads = 1,
  ) {
    this.learningRate = options.learningRate;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-7;
    this.accBeta1 = f(this.beta1);
    this.accBeta2 = f(this.beta2);
    this.memory = allocateAdamMemory(layout.size, threads);
    this.buffers = { weights: weightVector(this.memory), ...momentVectors(this.memory) };
    this.grads = Array.from({ length: threads }, (_, k) => gradientVector(this.memory, k));
    this.threadGradient = threadGradient(this.memory, 0);
  }

  /** This thread's gradient vector. */
  get grad(): Float32Array {
    return this.grads[0]!;
  }

  /** The constants for the next step; advances the step count. */
  nextScalars(): AdamScalars {
    const s: AdamScalars = {
      beta1: this.beta1,
      oneMinusBeta1: 1 - this.beta1,
      beta2: this.beta2,
      oneMinusBeta2: 1 - this.beta2,
      biasCorrection1: f(1 - this.accBeta1),
      biasCorrection2: f(1 - this.accBeta2),
      epsilon: this.epsilon,
      negLearningRate: -this.learningRate,
    };
    this.accBeta1 = f(this.accBeta1 * f(this.beta1));
    this.accBeta2 = f(this.accBeta2 * f(this.beta2));
    this.iterations++;
    return s;
  }

  /**
   * One step on this thread with the gradient in `grad`: the variables' current values are read,
   * updated and written back. Returns the global gradient norm when clipping is on.
   */
  step(vars: readonly tf.Variable[], clipNorm = 0): number | undefined {
    if (!this.sync.current(vars)) this.layout.gather(vars, this.buffers.weights);
    const norm = this.update(clipNorm);
    this.layout.scatter(this.buffers.weights, vars);
    this.sync.record(vars);
    return norm;
  }

  /**
   * One step on the flat weights with gradient vector `gradient` (a thread number), clipped to a
   * global norm of `clipNorm` when that is positive; returns the norm then.
   */
  update(clipNorm = 0, gradient = 0): number | undefined {
    const norm = clipNorm > 0 ? gradientNorm(this.grads[gradient]!) : undefined;
    const scale = norm !== undefined && norm > clipNorm ? clipNorm / norm : 1;
    adamRange(this.memory, gradient, scale, this.nextScalars(), 0, this.layout.size);
    return norm;
  }

  /** The state as tf.train.adam's getWeights gives it (new tensors: the caller disposes them). */
  async getWeights(): Promise<NamedTensor[]> {
    const { names, shapes } = this.layout;
    const slot = (flat: Float32Array, suffix: string) => names.map((name, i) => ({ name: `${name}/${suffix}`, tensor: tf.tensor(this.layout.view(flat, i).slice(), shapes[i]) }));
    return [{ name: 'iter', tensor: tf.scalar(this.iterations, 'int32') }, ...slot(this.buffers.m, 'm'), ...slot(this.buffers.v, 'v')];
  }

  /**
   * Restore state saved by getWeights (or by tf.train.adam for the same model). As in
   * tf.train.adam, the moments are matched to the weights by position (`iter`, then every m, then
   * every v), since weight names can differ between sessions; their shapes are checked.
   */
  async setWeights(list: readonly NamedTensor[]): Promise<void> {
    const iter = list.find((w) => w.name === 'iter');
    const slots = list.filter((w) => w !== iter);
    const { names, shapes } = this.layout;
    // tf.train.adam saved before its first step holds only `iter`: no moments yet, i.e. zeros.
    if (iter !== undefined && slots.length === 0) {
      this.buffers.m.fill(0);
      this.buffers.v.fill(0);
    } else if (iter === undefined || slots.length !== 2 * names.length) {
      throw new TrainingError(`the optimizer state does not match the model (${iter === undefined ? 'no iteration count' : `${slots.length} moment tensors for ${names.length} weights`})`);
    }
    slots.forEach((slot, j) => {
      const i = j % names.length;
      if (!tf.util.arraysEqual(slot.tensor.shape, shapes[i]!)) {
        throw new TrainingError(`the optimizer state does not match the model (${slot.name} has shape [${slot.tensor.shape}], ${names[i]} has [${shapes[i]}])`);
      }
    });
    slots.forEach((slot, j) => {
      const target = j < names.length ? this.buffers.m : this.buffers.v;
      target.set(slot.tensor.dataSync() as Float32Array, this.layout.offsets[j % names.length]!);
    });
    this.iterations = (await iter.tensor.data())[0]!;
    // The running products after `iterations` steps, exactly as an uninterrupted run has them.
    this.accBeta1 = f(this.beta1);
    this.accBeta2 = f(this.beta2);
    for (let t = 0; t < this.iterations; t++) {
      this.accBeta1 = f(this.accBeta1 * f(this.beta1));
      this.accBeta2 = f(this.accBeta2 * f(this.beta2));
    }
  }

  dispose(): void {
    // Plain memory: nothing to free in tfjs.
  }
}
