import type { Recipe, RecipeKey, TrainingArgs } from '../defaults.js';

const TEXT_TRAINING: TrainingArgs = { steps: 3000, batchSize: 64, lr: 2e-3, warmup: 300, schedule: 'noam', labelSmoothing: 0, clip: 1, validEvery: 250, seed: 1 };

/** Encoder-only (BERT) defaults, by kind of data. */
export const ENCODER_RECIPES: Partial<Record<RecipeKey, Recipe>> = {
  pt: { model: { dModel: 64, numHeads: 4, numLayers: 2, dFF: 256, dropout: 0.1 }, training: TEXT_TRAINING },
  text: { model: { dModel: 128, numHeads: 4, numLayers: 3, dFF: 512, dropout: 0.1 }, training: { ...TEXT_TRAINING, steps: 5000, lr: 1e-3, warmup: 500, validEvery: 500 } },
  referent: {
    model: { dModel: 64, numHeads: 4, numLayers: 2, dFF: 256, dropout: 0.1 },
    training: { steps: 2000, batchSize: 64, lr: 1e-3, warmup: 200, schedule: 'noam', labelSmoothing: 0, clip: 1, validEvery: 100, untilExact: 1, seed: 1 },
  },
};
