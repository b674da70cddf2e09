import type { ModelConfigInput } from '../config.js';
import { BOS_ID, EOS_ID, PAD_ID } from '../data/tokenizer.js';
import { createModel } from '../model/create.js';
import type { TrainingArgs } from './defaults.js';
import type { PreparedData } from './prepare-data.js';
import { median } from '../util/numbers.js';
import { createStepper, lossValue, type StepperKind } from './stepper.js';

/** Steps timed to measure a run's speed, after the first ones (which compile and warm caches). */
const WARM_STEPS = 2;
const TIMED_STEPS = 4;

/**
 * Seconds one training step takes here, measured before the run on a throwaway copy of the model
 * (same size, same stepper, real batches; learning rate ~0), so the run itself starts untouched.
 * The median of a few steps after two warm-up ones.
 */
export async function measureStepSeconds(
  config: ModelConfigInput,
  prepared: PreparedData,
  training: Pick<TrainingArgs, 'batchSize' | 'seed' | 'labelSmoothing' | 'clip' | 'maxTokens'>,
  stepper: { backend: string; threads: number; kind?: StepperKind },
): Promise<number> {
  const model = createModel(config, { seed: training.seed });
  const runner = await createStepper(model, { lr: 1e-9, backend: stepper.backend, threads: stepper.threads, kind: stepper.kind, maxTokens: training.maxTokens });
  try {
    const seconds: number[] = [];
    for (let i = 0; i < WARM_STEPS + TIMED_STEPS; i++) {
      // Batches from across the data: their lengths, so their cost, vary.
      const items = prepared.train.batchAt(i * 37, training.batchSize);
      const began = performance.now();
      await lossValue(
        await runner.step({ objective: prepared.objective, items, ids: { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID }, lr: 1e-9, labelSmoothing: training.labelSmoothing, clipNorm: training.clip }),
      );
      if (i >= WARM_STEPS) seconds.push((performance.now() - began) / 1000);
    }
    return median(seconds);
  } finally {
    await runner.dispose();
    model.dispose();
  }
}

/** The plan printed before the first step of a run on a corpus: its schedule and how long it should take. */
export function planLine(training: TrainingArgs, prepared: PreparedData, secondsPerStep: number): string {
  const size = prepared.corpusSize;
  const perEpoch = prepared.train.batchesPerEpoch?.(training.batchSize);
  const epochs = perEpoch === undefined ? '' : ` (${(training.steps / perEpoch).toFixed(1)} passes over the ${size?.pairs.toLocaleString('en') ?? ''} pairs)`;
  const stops = [
    training.timeLimit === undefined ? '' : `after ${duration(training.timeLimit)} of training`,
    training.patience === undefined ? '' : `after ${training.patience} validations without a better score`,
    training.untilBleu === undefined ? '' : `at validation BLEU ${(100 * training.untilBleu).toFixed(1)}`,
  ].filter((x) => x !== '');
  return [
    `plan: ${training.steps.toLocaleString('en')} steps of ${training.batchSize}${epochs}, peak lr ${training.lr} after ${training.warmup} warm-up steps,`,
    `validate every ${training.validEvery}${stops.length > 0 ? `; stop early ${stops.join(' or ')}` : ''};`,
    `${secondsPerStep.toFixed(2)} s/step measured here → about ${duration(training.steps * secondsPerStep)} of steps`,
  ].join(' ');
}

/** "45 s", "13 min", "2.5 h". */
export function duration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
