import * as tf from '@tensorflow/tfjs';
import {
  Decoder,
  DecoderLayer,
  DecoderOnly,
  Encoder,
  EncoderLayer,
  EncoderOnly,
  FeedForward,
  LayerNorm,
  MultiHeadAttention,
  PositionalEncoding,
  QKVProjection,
  TokenEmbedding,
  Transformer,
  type AtencaoLayer,
} from '../src/index.js';
import { randomArray, rng } from './helpers.js';

/** One instance of every layer class with inputs to call it on (and call options). */
const random = rng(5);
const x = () => tf.tensor(randomArray([2, 3, 8], random) as number[], [2, 3, 8]);
const memory = () => tf.tensor(randomArray([2, 4, 8], random) as number[], [2, 4, 8]);
const ids = (v: number, t: number) => tf.tensor2d(Array.from({ length: 2 * t }, (_, i) => 1 + (i * 5) % (v - 1)), [2, t], 'int32');

const block = { dModel: 8, numHeads: 2, dFF: 16, dropout: 0.1, activation: 'gelu' as const, normPlacement: 'post' as const };
const stack = { ...block, vocabSize: 9, numLayers: 2, maxLen: 10, positionalEncoding: 'learned' as const };

export const LAYER_CASES: [string, () => AtencaoLayer, () => tf.Tensor | tf.Tensor[], Record<string, unknown>?][] = [
  ['QKVProjection', () => new QKVProjection({ numHeads: 2, keyDim: 3, valueDim: 5 }), () => [x(), memory(), memory()]],
  ['MultiHeadAttention', () => new MultiHeadAttention({ numHeads: 2, keyDim: 3, valueDim: 2, useBias: false, outputDim: 7 }), () => [x(), memory()], { useCausalMask: false }],
  ['FeedForward', () => new FeedForward({ dFF: 12, activation: 'gelu', dropout: 0.2 }), x],
  ['LayerNorm', () => new LayerNorm({ epsilon: 1e-3 }), x],
  ['PositionalEncoding (sinusoidal)', () => new PositionalEncoding({ maxLen: 6 }), x],
  ['PositionalEncoding (learned)', () => new PositionalEncoding({ maxLen: 6, kind: 'learned' }), x],
  ['TokenEmbedding', () => new TokenEmbedding({ vocabSize: 9, dModel: 8 }), () => ids(9, 3)],
  ['EncoderLayer', () => new EncoderLayer(block), x],
  ['DecoderLayer', () => new DecoderLayer(block), () => [x(), memory()]],
  ['Encoder', () => new Encoder(stack), () => ids(9, 5)],
  ['Decoder', () => new Decoder(stack), () => [ids(9, 3), memory()]],
  ['Encoder (causal)', () => new Encoder({ ...stack, causal: true }), () => ids(9, 5)],
  ['Transformer', () => new Transformer({ srcVocabSize: 9, tgtVocabSize: 11, dModel: 8, numHeads: 2, dFF: 8, maxLen: 7, tieEmbeddings: true }), () => [ids(9, 5), ids(11, 4)]],
  ['DecoderOnly', () => new DecoderOnly({ vocabSize: 9, dModel: 8, numHeads: 2, dFF: 8, maxLen: 7, numLayers: 2, normPlacement: 'post' }), () => ids(9, 5)],
  ['EncoderOnly', () => new EncoderOnly({ vocabSize: 9, dModel: 8, numHeads: 2, dFF: 8, maxLen: 7, numLayers: 1, numClasses: 3, tieEmbeddings: true, positionalEncoding: 'learned' }), () => ids(9, 6)],
];

