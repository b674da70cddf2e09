import * as tf from '@tensorflow/tfjs';
import { BATCHERS, type Example } from '../data/batching.js';
import { TrainingError } from '../errors.js';
import type { TrainingState } from '../io/checkpoint.js';
import type { EvalMetrics, TrainingArgs, ValidationRecord } from '../io/run-record.js';
import type { Model } from '../model/model.js';
import { mixSeed } from '../util/random.js';
import { evaluate, type EvalOptions } from './evaluate.js';
import { learningRate, validateSchedule, type ScheduleOptions } from './schedule.js';
import type { Stepper } from './stepper.js';
import { round } from '../util/numbers.js';

/** Training batches, reproducible by step number (so a resumed run sees the same data). */
export interface TrainingData {
  batchAt(step: number, batchSize: number): Example[];
}

export interface TrainOptions {
  /** The training examples, by step. */
  data: TrainingData;
  /** Validation examples, evaluated every `validEvery` steps. */
  valid: readonly Example[];
  /** The objective and special ids (and BLEU for translation) of training and validation. */
  evaluation: EvalOptions;
  /** Where the run stands (step 0 for a new run). */
  start: TrainingState;
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
  /** Stop early once validation BLEU (0–1) reaches this (translation). */
  untilBleu?: number;
  /**
   * Early stopping: stop after this many validations in a row without a better validation score
   * (see `betterValidation`).
   */
  patience?: number;
  /** Stop once the run has trained this many seconds (counting earlier sessions of a resumed run). */
  timeLimitSeconds?: number;
  /** Seeds the dropout masks (with the step number). */
  seed: number;
  /**
   * Read losses kept on the device (a device stepper's) every this many steps, all at once and
   * asynchronously; steps report to `onStep` then. Default 10. Losses given as numbers report at once.
   */
  readLossEvery?: number;
}

/** The loop's options from a run's recorded training settings, for the given data and starting point. */
export function loopOptions(t: TrainingArgs, run: Pick<TrainOptions, 'data' | 'valid' | 'evaluation' | 'start' | 'readLossEvery'>): TrainOptions {
  return {
    ...run,
    steps: t.steps,
    batchSize: t.batchSize,
    schedule: { lr: t.lr, warmup: t.warmup, kind: t.schedule },
    labelSmoothing: t.labelSmoothing,
    clipNorm: t.clip,
    validEvery: t.validEvery,
    untilExact: t.untilExact,
    untilBleu: t.untilBleu,
    patience: t.patience,
    timeLimitSeconds: t.timeLimit,
    seed: t.seed,
  };
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

export type { ValidationRecord };

export interface TrainHooks {
  onStep?(event: StepEvent): void;
  onValidation?(record: ValidationRecord): void;
  /** Persist the run; called after every validation. */
  checkpoint?(state: TrainingState): Promise<void>;
  /** Polled before every step: true stops the run (after a last checkpoint). */
  shouldStop?(): boolean;
  /**
   * Awaited after every step with the model's new weights (before validation): for recordings that
   * look at the model as it learns (a film of its attention). Time spent here is not training time.
   */
  afterStep?(step: number): Promise<void>;
  /** Called after the checkpoint of a validation that scored better than every earlier one of this session. */
  onBest?(record: ValidationRecord): Promise<void>;
}

export type StopReason = 'steps' | 'target' | 'interrupted' | 'time' | 'plateau';

export interface TrainResult {
  state: TrainingState;
  reason: StopReason;
  last?: ValidationRecord;
  /** The best validation of this session (see `betterValidation`). */
  best?: ValidationRecord;
}

/**
 * Whether validation `a` is better than `b`, to keep the best checkpoint and stop early: by BLEU for
 * translation, else exact match where it has a meaning; ties (and other objectives) by lower loss.
 */
export function betterValidation(a: EvalMetrics, b: EvalMetrics): boolean {
  const main = (r: EvalMetrics) => r.bleu ?? r.exactMatch;
  const [x, y] = [main(a), main(b)];
  if (x !== undefined && y !== undefined && x !== y) return x > y;
  return a.loss < b.loss;
}

/**
 * The training loop: scheduled learning rate, a step per batch (the stepper computes and applies
 * the gradients), validation and a checkpoint every `validEvery` steps and at the end. A
 * non-finite loss stops the run with a `TrainingError`, leaving the last checkpoint as it was.
 */
export async function train(model: Model, stepper: Stepper, options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  validateSchedule(options.schedule);
  const { data, valid, evaluation: evalOptions, start } = options;
  const state = { ...start };
  const began = performance.now();
  const elapsed = () => start.elapsedSeconds + (performance.now() - began) / 1000;
  const recent: { tokens: number; seconds: number }[] = [];
  let sessionTokens = 0;
  let sessionSeconds = 0;
  let lossSum = 0;
  let lossCount = 0;
  let last: ValidationRecord | undefined;
  let best: ValidationRecord | undefined;
  let sinceBest = 0;
  let reason: StopReason = 'steps';
  let savedStep = start.step;
  // Steps whose loss has not been read yet (a device stepper's), in order.
  const pending: { step: number; lr: number; loss: number | tf.Scalar; tokens: number }[] = [];
  const readEvery = Math.max(1, Math.floor(options.readLossEvery ?? 10));
  let lastRead = performance.now();

  /** Read the pending losses (one asynchronous read for all of them), then report those steps. */
  const readLosses = async () => {
    if (pending.length === 0) return;
    const onDevice = pending.flatMap((p) => (typeof p.loss === 'number' ? [] : [p.loss]));
    let values: ArrayLike<number> = [];
    if (onDevice.length > 0) {
      const stacked = tf.stack(onDevice);
      values = await stacked.data();
      tf.dispose([stacked, ...onDevice]);
    }
    const steps = pending.splice(0, pending.length);
    const now = performance.now();
    // The device ran these steps while the loop queued them: share the wall time between them.
    const seconds = (now - lastRead) / 1000 / steps.length;
    lastRead = now;
    let k = 0;
    for (const p of steps) {
      const loss = typeof p.loss === 'number' ? p.loss : values[k++]!;
      if (!Number.isFinite(loss)) {
        throw new TrainingError(
          `the loss became ${loss} at step ${p.step}; stopped, keeping the checkpoint of step ${savedStep} (try a lower --lr or --clip)`,
        );
      }
      sessionTokens += p.tokens;
      sessionSeconds += seconds;
      lossSum += loss;
      lossCount++;
      recent.push({ tokens: p.tokens, seconds });
      if (recent.length > 20) recent.shift();
      const window = recent.reduce((a, r) => ({ tokens: a.tokens + r.tokens, seconds: a.seconds + r.seconds }), { tokens: 0, seconds: 0 });
      hooks.onStep?.({ step: p.step, steps: options.steps, loss, lr: p.lr, tokensPerSecond: window.tokens / window.seconds, elapsedSeconds: elapsed() });
    }
  };

  const validate = async (lr: number) => {
    await readLosses();
    const metrics = await evaluate(model, valid, evalOptions);
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
    if (best === undefined || betterValidation(last, best)) {
      best = last;
      sinceBest = 0;
      await hooks.onBest?.(last);
    } else {
      sinceBest++;
    }
    lastRead = performance.now(); // validation time is not training time
    return metrics;
  };

  try {
    while (state.step < options.steps) {
      await new Promise((done) => setImmediate(done)); // let signal handlers run between steps
      if (hooks.shouldStop?.() === true) {
        reason = 'interrupted';
        break;
      }
      if (options.timeLimitSeconds !== undefined && elapsed() >= options.timeLimitSeconds) {
        reason = 'time';
        break;
      }
      const step = state.step + 1;
      const items = data.batchAt(state.step, options.batchSize);
      const lr = learningRate(step, options.schedule);
      // Each step's masks come from their own seed stream (the same again when the run resumes).
      const dropoutSeed = mixSeed(options.seed, step) * 4096;
      const { loss } = await stepper.step({
        objective: evalOptions.objective,
        items,
        ids: evalOptions.ids,
        lr,
        labelSmoothing: options.labelSmoothing,
        clipNorm: options.clipNorm,
        dropoutSeed,
      });
      const tokens = BATCHERS[evalOptions.objective].targets(items, evalOptions.ids);
      state.step = step;
      state.tokensSeen += tokens;
      pending.push({ step, lr, loss, tokens });
      if (typeof loss === 'number' || pending.length >= readEvery) await readLosses();
      if (hooks.afterStep !== undefined) {
        const before = performance.now();
        await hooks.afterStep(step);
        lastRead += performance.now() - before;
      }
      if (step % options.validEvery === 0 || step === options.steps) {
        const metrics = await validate(lr);
        if (options.untilExact !== undefined && metrics.exactMatch !== undefined && metrics.exactMatch >= options.untilExact) {
          reason = 'target';
          break;
        }
        if (options.untilBleu !== undefined && metrics.bleu !== undefined && metrics.bleu >= options.untilBleu) {
          reason = 'target';
          break;
        }
        if (options.patience !== undefined && sinceBest >= options.patience) {
          reason = 'plateau';
          break;
        }
      }
    }
    await readLosses();
  } finally {
    tf.dispose(pending.flatMap((p) => (typeof p.loss === 'number' ? [] : [p.loss])));
  }
  // Out of time between validations: validate and save where it stopped.
  if (reason === 'time' && last?.step !== state.step && state.step > start.step) await validate(learningRate(state.step, options.schedule));
  if (reason === 'interrupted' && last?.step !== state.step) {
    state.elapsedSeconds = elapsed();
    await hooks.checkpoint?.({ ...state });
  }
  state.elapsedSeconds = elapsed();
  return { state, reason, last, ...(best === undefined ? {} : { best }) };
}
