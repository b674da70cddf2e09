import type { TransformerConfig } from '../config.js';
import type { TrainingArgs } from '../io/run-record.js';

export type { TrainingArgs };

export type ModelArgs = Partial<Omit<TransformerConfig, 'srcVocabSize' | 'tgtVocabSize' | 'padId'>>;

export interface Recipe {
  model: ModelArgs;
  training: TrainingArgs;
}

const SYNTHETIC: Recipe = {
  model: { dModel: 64, numHeads: 4, numEncoderLayers: 2, numDecoderLayers: 2, dFF: 256, dropout: 0 },
  training: { steps: 3000, batchSize: 64, lr: 2e-3, warmup: 100, schedule: 'noam', labelSmoothing: 0, clip: 1, validEvery: 100, untilExact: 1, seed: 1 },
};

/**
 * Defaults per kind of data: small synthetic tasks train fastest without dropout or label smoothing
 * and stop as soon as every validation sequence is right; translation keeps both regularisers.
 */
export const RECIPES: Record<'copy' | 'reverse' | 'sort' | 'pt-en' | 'corpus', Recipe> = {
  copy: SYNTHETIC,
  reverse: SYNTHETIC,
  sort: SYNTHETIC,
  'pt-en': {
    model: { dModel: 64, numHeads: 4, numEncoderLayers: 2, numDecoderLayers: 2, dFF: 256, dropout: 0.1 },
    training: { steps: 4000, batchSize: 64, lr: 2e-3, warmup: 300, schedule: 'noam', labelSmoothing: 0.1, clip: 1, validEvery: 250, untilExact: 1, seed: 1 },
  },
  corpus: {
    model: { dModel: 128, numHeads: 4, numEncoderLayers: 2, numDecoderLayers: 2, dFF: 512, dropout: 0.1 },
    training: { steps: 10000, batchSize: 64, lr: 1e-3, warmup: 1000, schedule: 'noam', labelSmoothing: 0.1, clip: 1, validEvery: 500, seed: 1 },
  },
};
