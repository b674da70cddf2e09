import type * as tf from '@tensorflow/tfjs';
import { makeBatch, targetTokens, type EncodedPair } from '../data/batching.js';
import { TrainingError } from '../errors.js';
import type { TrainingState } from '../io/checkpoint.js';
import type { Transformer } from '../model/transformer.js';
import { seedDropout } from '../ops/dropout.js';
import { mixSeed } from '../util/random.js';
import { evaluate, type EvalMetrics, type EvalOptions } from './evaluate.js';
import { learningRate, validateSchedule, type ScheduleOptions } from './schedule.js';
import type { DataParallel } from './parallel.js';
import type { Adam } from './adam.js';
import { trainStep } from './step.js';

/** Training batches, reproducible by step number (so a resumed run sees the same data). */
export interface TrainingData {
  batchAt(step: number, batchSize: number): EncodedPair[];
}

export interface TrainOptions {
  /** Stop after this many steps in total (a resumed run counts the steps already done). */
  steps: number;
  batchSize: number;
  schedule: ScheduleOptions;
  labelSmoothing: number;
  /** Global gradient-norm clipping threshold; 0 turns it off. */
  clipNorm: number;
  /** Validate (and checkpoint) every this many steps. */
  validEvery: number;
  /** Stop early once validation exact match reaches this. */
  untilExact?: number;
  /** Seeds the dropout masks (with the step number). */
  seed: number;
  /** Run each step on several threads (see parallel.ts; it holds the same optimizer). */
  parallel?: DataParallel;
}

export interface StepEvent {
  step: number;
  steps: number;
  loss: number;
  lr: number;
  /** Target tokens per second over the last few steps. */
  tokensPerSecond: number;
  elapsedSeconds: number;
}

/** One line of metrics.jsonl. */
export interface ValidationRecord extends EvalMetrics {
  step: number;
  /** Mean training loss since the previous validation. */
  trainLoss: number;
  lr: number;
  elapsedSeconds: number;
  tokensPerSecond: number;
}

export interface TrainHooks {
  onStep?(event: StepEvent): void;
  onValidation?(record: ValidationRecord): void;
  /** Persist the run; called after every validation. */
  checkpoint?(state: TrainingState): Promise<void>;
  /** Polled before every step: true stops the run (after a last checkpoint). */
  shouldStop?(): boolean;
}

export type StopReason = 'steps' | 'target' | 'interrupted';

export interface TrainResult {
  state: TrainingState;
  reason: StopReason;
  last?: ValidationRecord;
}

/**
 * The training loop: scheduled learning rate, a step per batch, validation and a checkpoint every
 * `validEvery` steps and at the end. A non-finite loss stops the run with a `TrainingError`, leaving
 * the last checkpoint as it was.
 */
export async function train(
  model: Transformer,
  optimizer: tf.Optimizer | Adam,
  data: TrainingData,
  valid: readonly EncodedPair[],
  evalOptions: EvalOptions,
  options: TrainOptions,
  start: TrainingState,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  validateSchedule(options.schedule);
  const state = { ...start };
  const began = performance.now();
  const elapsed = () => start.elapsedSeconds + (performance.now() - began) / 1000;
  const recent: { tokens: number; seconds: number }[] = [];
  let sessionTokens = 0;
  let sessionSeconds = 0;
  let lossSum = 0;
  let lossCount = 0;
  let last: ValidationRecord | undefined;
  let reason: StopReason = 'steps';
  let savedStep = start.step;

  const validate = async (lr: number) => {
    const metrics = evaluate(model, valid, evalOptions);
    last = {
      step: state.step,
      ...metrics,
      trainLoss: lossCount > 0 ? lossSum / lossCount : NaN,
      lr,
      elapsedSeconds: round(elapsed(), 2),
      tokensPerSecond: round(sessionSeconds > 0 ? sessionTokens / sessionSeconds : 0, 0),
    };
    lossSum = 0;
    lossCount = 0;
    state.elapsedSeconds = elapsed();
    hooks.onValidation?.(last);
    await hooks.checkpoint?.({ ...state });
    savedStep = state.step;
    return metrics;
  };

  try {
    while (state.step < options.steps) {
      await new Promise((done) => setImmediate(done)); // let signal handlers run between steps
      if (hooks.shouldStop?.() === true) {
        reason = 'interrupted';
        break;
      }
      const step = state.step + 1;
      const items = data.batchAt(state.step, options.batchSize);
      const lr = learningRate(step, options.schedule);
      (optimizer as unknown as { learningRate: number }).learningRate = lr;
      // Each step's masks come from their own seed stream (the same again when the run resumes).
      const dropoutSeed = mixSeed(options.seed, step) * 4096;
      const t0 = performance.now();
      let loss: number;
      if (options.parallel !== undefined) {
        ({ loss } = await options.parallel.step(items, evalOptions.ids, { labelSmoothing: options.labelSmoothing, clipNorm: options.clipNorm, dropoutSeed }));
      } else {
        const batch = makeBatch(items, evalOptions.ids);
        seedDropout(dropoutSeed);
        try {
          ({ loss } = trainStep(model, optimizer, batch, { labelSmoothing: options.labelSmoothing, clipNorm: options.clipNorm }));
        } finally {
          seedDropout(undefined);
          batch.src.dispose();
          batch.tgtIn.dispose();
          batch.tgtOut.dispose();
        }
      }
      const seconds = (performance.now() - t0) / 1000;
      if (!Number.isFinite(loss)) {
        throw new TrainingError(
          `the loss became ${loss} at step ${step}; stopped, keeping the checkpoint of step ${savedStep} (try a lower --lr or --clip)`,
        );
      }
      const tokens = targetTokens(items);
      state.step = step;
      state.tokensSeen += tokens;
      sessionTokens += tokens;
      sessionSeconds += seconds;
      lossSum += loss;
      lossCount++;
      recent.push({ tokens, seconds });
      if (recent.length > 20) recent.shift();
      const window = recent.reduce((a, r) => ({ tokens: a.tokens + r.tokens, seconds: a.seconds + r.seconds }), { tokens: 0, seconds: 0 });
      hooks.onStep?.({ step, steps: options.steps, loss, lr, tokensPerSecond: window.tokens / window.seconds, elapsedSeconds: elapsed() });
      if (step % options.validEvery === 0 || step === options.steps) {
        const metrics = await validate(lr);
        if (options.untilExact !== undefined && metrics.exactMatch >= options.untilExact) {
          reason = 'target';
          break;
        }
      }
    }
    if (reason === 'interrupted' && last?.step !== state.step) {
      state.elapsedSeconds = elapsed();
      await hooks.checkpoint?.({ ...state });
    }
  } finally {
    seedDropout(undefined);
  }
  state.elapsedSeconds = elapsed();
  return { state, reason, last };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
