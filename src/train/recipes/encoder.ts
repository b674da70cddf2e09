import type { Recipe, RecipeKey, TrainingArgs } from '../defaults.js';

const TEXT_TRAINING: TrainingArgs = { steps: 3000, batchSize: 64, lr: 2e-3, warmup: 300, schedule: 'noam', labelSmoothing: 0, clip: 1, validEvery: 250, seed: 1 };

/**
 * Encoder-only (BERT) defaults, by kind of data. Masked-LM pre-training keeps dropout; the
 * referent classifier, like the small synthetic tasks, learns fastest without it and with a short
 * warm-up, and stops as soon as every validation sentence is right (about 50 steps; the held-out
 * container pairs are then right too).
 */
export const ENCODER_RECIPES: Partial<Record<RecipeKey, Recipe>> = {
  pt: { model: { dModel: 64, numHeads: 4, numLayers: 2, dFF: 256, dropout: 0.1 }, training: TEXT_TRAINING },
  text: { model: { dModel: 128, numHeads: 4, numLayers: 3, dFF: 512, dropout: 0.1 }, training: { ...TEXT_TRAINING, steps: 5000, lr: 1e-3, warmup: 500, validEvery: 500 } },
  referent: {
    model: { dModel: 64, numHeads: 4, numLayers: 2, dFF: 256, dropout: 0 },
    training: { steps: 1000, batchSize: 64, lr: 3e-3, warmup: 50, schedule: 'noam', labelSmoothing: 0, clip: 1, validEvery: 25, untilExact: 1, seed: 1 },
  },
};
