import type { ModelArgs, Recipe, TrainingArgs } from './defaults.js';

/** What the defaults for a user's parallel corpus are chosen from. */
export interface CorpusSize {
  /** Training pairs kept. */
  pairs: number;
  /** Mean target tokens per pair (after tokenization). */
  meanTargetTokens: number;
}

/** Sizes of encoder–decoder, from a few thousand pairs up. */
const SIZES: { upTo: number; model: ModelArgs; lr: number; epochs: number }[] = [
  { upTo: 3_000, model: { dModel: 64, numHeads: 4, numEncoderLayers: 2, numDecoderLayers: 2, dFF: 256, dropout: 0.2 }, lr: 2e-3, epochs: 30 },
  { upTo: 50_000, model: { dModel: 128, numHeads: 4, numEncoderLayers: 2, numDecoderLayers: 2, dFF: 512, dropout: 0.1 }, lr: 1.5e-3, epochs: 16 },
  { upTo: 500_000, model: { dModel: 256, numHeads: 4, numEncoderLayers: 3, numDecoderLayers: 3, dFF: 1024, dropout: 0.1 }, lr: 7e-4, epochs: 6 },
  { upTo: Infinity, model: { dModel: 512, numHeads: 8, numEncoderLayers: 6, numDecoderLayers: 6, dFF: 2048, dropout: 0.1 }, lr: 5e-4, epochs: 3 },
];

export const FIT_BATCH_SIZE = 64;
const MIN_STEPS = 500;
const MAX_STEPS = 200_000;
/** Validations in a row without a better BLEU before a corpus run stops early. */
const PATIENCE = 3;

/**
 * Defaults for a translation corpus, from its size (the rule the README states):
 * - model: d 64 under 3,000 pairs, d 128 (2+2 layers) under 50,000, d 256 (3+3) under 500,000,
 *   d 512 (6+6) above; dropout 0.2 for the smallest, else 0.1;
 * - steps: 30, 16, 6 or 3 passes over the pairs in batches of 64 (at least 500 steps), or as many
 *   as fit in `timeLimit` seconds at the measured speed when there is one;
 * - warm-up: a sixth of the steps (at least 100, at most 4,000); validation ten times per run;
 *   early stopping after 3 validations without a better BLEU (the best weights are kept).
 */
export function fitCorpus(size: CorpusSize, budget?: { seconds: number; secondsPerStep: number }): Recipe {
  const band = SIZES.find((s) => size.pairs <= s.upTo)!;
  const batchesPerEpoch = Math.max(1, Math.ceil(size.pairs / FIT_BATCH_SIZE));
  const byData = clamp(band.epochs * batchesPerEpoch, MIN_STEPS, MAX_STEPS);
  const steps = budget === undefined ? byData : clamp(Math.floor(budget.seconds / budget.secondsPerStep), 50, MAX_STEPS);
  return { model: { ...band.model }, training: { ...scheduleFor(steps, band.lr), patience: PATIENCE } };
}

/** The schedule of a run of `steps` steps at peak rate `lr` (warm-up and validation sized to it). */
export function scheduleFor(steps: number, lr: number): TrainingArgs {
  return {
    steps,
    batchSize: FIT_BATCH_SIZE,
    lr,
    warmup: Math.min(clamp(roundTo(steps / 6, 10), 100, 4000), Math.ceil(steps / 3)),
    schedule: 'noam',
    labelSmoothing: 0.1,
    clip: 1,
    validEvery: Math.max(10, roundTo(steps / 10, 10)),
    seed: 1,
  };
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

function roundTo(x: number, unit: number): number {
  return Math.max(unit, Math.round(x / unit) * unit);
}
