import { BATCHERS, type Example } from '../data/batching.js';
import { TrainingError } from '../errors.js';
import type { TrainingState } from '../io/checkpoint.js';
import type { ValidationRecord } from '../io/run-record.js';
import type { Model } from '../model/model.js';
import { mixSeed } from '../util/random.js';
import { evaluate, type EvalOptions } from './evaluate.js';
import { learningRate, validateSchedule, type ScheduleOptions } from './schedule.js';
import type { Stepper } from './stepper.js';

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
  /** Seeds the dropout masks (with the step number). */
  seed: number;
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
}

export type StopReason = 'steps' | 'target' | 'interrupted';

export interface TrainResult {
  state: TrainingState;
  reason: StopReason;
  last?: ValidationRecord;
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

  while (state.step < options.steps) {
    await new Promise((done) => setImmediate(done)); // let signal handlers run between steps
    if (hooks.shouldStop?.() === true) {
      reason = 'interrupted';
      break;
    }
    const step = state.step + 1;
    const items = data.batchAt(state.step, options.batchSize);
    const lr = learningRate(step, options.schedule);
    // Each step's masks come from their own seed stream (the same again when the run resumes).
    const dropoutSeed = mixSeed(options.seed, step) * 4096;
    const t0 = performance.now();
    const { loss } = await stepper.step({
      objective: evalOptions.objective,
      items,
      ids: evalOptions.ids,
      lr,
      labelSmoothing: options.labelSmoothing,
      clipNorm: options.clipNorm,
      dropoutSeed,
    });
    const seconds = (performance.now() - t0) / 1000;
    if (!Number.isFinite(loss)) {
      throw new TrainingError(
        `the loss became ${loss} at step ${step}; stopped, keeping the checkpoint of step ${savedStep} (try a lower --lr or --clip)`,
      );
    }
    const tokens = BATCHERS[evalOptions.objective].targets(items, evalOptions.ids);
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
      if (options.untilExact !== undefined && metrics.exactMatch !== undefined && metrics.exactMatch >= options.untilExact) {
        reason = 'target';
        break;
      }
    }
  }
  if (reason === 'interrupted' && last?.step !== state.step) {
    state.elapsedSeconds = elapsed();
    await hooks.checkpoint?.({ ...state });
  }
  state.elapsedSeconds = elapsed();
  return { state, reason, last };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
