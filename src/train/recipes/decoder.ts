import type { Recipe, RecipeKey, TrainingArgs } from '../defaults.js';

const SYNTHETIC_DECODER: Recipe = {
  model: { dModel: 64, numHeads: 4, numLayers: 2, dFF: 256, dropout: 0 },
  training: { steps: 3000, batchSize: 64, lr: 2e-3, warmup: 100, schedule: 'noam', labelSmoothing: 0, clip: 1, validEvery: 100, untilExact: 1, seed: 1 },
};
const TEXT_TRAINING: TrainingArgs = { steps: 3000, batchSize: 64, lr: 2e-3, warmup: 300, schedule: 'noam', labelSmoothing: 0, clip: 1, validEvery: 250, seed: 1 };

/** Decoder-only (GPT) defaults, by kind of data. */
export const DECODER_RECIPES: Partial<Record<RecipeKey, Recipe>> = {
  copy: SYNTHETIC_DECODER,
  reverse: SYNTHETIC_DECODER,
  sort: SYNTHETIC_DECODER,
  pt: { model: { dModel: 64, numHeads: 4, numLayers: 2, dFF: 256, dropout: 0.1 }, training: TEXT_TRAINING },
  text: { model: { dModel: 128, numHeads: 4, numLayers: 3, dFF: 512, dropout: 0.1 }, training: { ...TEXT_TRAINING, steps: 5000, lr: 1e-3, warmup: 500, validEvery: 500 } },
};
