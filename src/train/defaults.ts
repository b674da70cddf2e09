import type { Arch, DecoderConfig, EncoderConfig, EncoderDecoderConfig } from '../config.js';
import type { TrainingArgs } from '../io/run-record.js';
import { DECODER_RECIPES } from './recipes/decoder.js';
import { ENCODER_RECIPES } from './recipes/encoder.js';

export type { TrainingArgs };

/** Model settings a user can change with flags (vocabulary sizes and classes come from the data). */
export type ModelArgs = Partial<
  Omit<EncoderDecoderConfig, 'arch' | 'srcVocabSize' | 'tgtVocabSize' | 'padId'> &
    Omit<DecoderConfig, 'arch' | 'vocabSize' | 'padId'> &
    Omit<EncoderConfig, 'arch' | 'vocabSize' | 'padId' | 'numClasses'>
>;

export interface Recipe {
  model: ModelArgs;
  training: TrainingArgs;
}

const SYNTHETIC: Recipe = {
  model: { dModel: 64, numHeads: 4, numEncoderLayers: 2, numDecoderLayers: 2, dFF: 256, dropout: 0 },
  training: { steps: 3000, batchSize: 64, lr: 2e-3, warmup: 100, schedule: 'noam', labelSmoothing: 0, clip: 1, validEvery: 100, untilExact: 1, seed: 1 },
};

/**
 * Encoder–decoder defaults per kind of data: small synthetic tasks train fastest without dropout
 * or label smoothing and stop as soon as every validation sequence is right; translation keeps
 * both regularisers.
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

/** The kinds of data a recipe is chosen by: a task name, or 'corpus' / 'text' for a user's file. */
export type RecipeKey = 'copy' | 'reverse' | 'sort' | 'pt-en' | 'pt' | 'referent' | 'corpus' | 'text';

/** Decoder-only and encoder-only defaults, by kind of data. */
export const FAMILY_RECIPES: Record<Exclude<Arch, 'encoder-decoder'>, Partial<Record<RecipeKey, Recipe>>> = {
  decoder: DECODER_RECIPES,
  encoder: ENCODER_RECIPES,
};

/** The family a kind of data trains by default: translation tasks the encoder–decoder, referent the encoder, pt the decoder. */
export const DEFAULT_ARCH: Record<RecipeKey, Arch> = {
  copy: 'encoder-decoder',
  reverse: 'encoder-decoder',
  sort: 'encoder-decoder',
  'pt-en': 'encoder-decoder',
  corpus: 'encoder-decoder',
  pt: 'decoder',
  text: 'decoder',
  referent: 'encoder',
};

/** The defaults for a family on a kind of data, or undefined where that family does not train on it. */
export function recipeFor(arch: Arch, key: RecipeKey): Recipe | undefined {
  if (arch === 'encoder-decoder') return key === 'corpus' || key in RECIPES ? RECIPES[key as keyof typeof RECIPES] : undefined;
  return FAMILY_RECIPES[arch][key];
}
