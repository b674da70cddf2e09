import type * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../config.js';
import type { LayerVariable } from '../layers/base.js';
import type { FeedForward } from '../layers/feed-forward.js';
import type { LayerNorm } from '../layers/layer-norm.js';
import type { MultiHeadAttention } from '../layers/multi-head-attention.js';
import { DirectDecoder, directDecodingEnabled, type DirectBlock, type DirectLinear, type DirectNorm, type DirectStack } from '../ops/direct/decoder.js';
import { WasmHeap } from '../ops/direct/heap.js';
import type { Decoder, Encoder } from './stack.js';

/*
 * The direct decoder's view of a model, for both generation paths: the layers' weights, read in
 * place, and the facts of the config that change the arithmetic.
 */

/**
 * The config fields whose meaning the direct decoder knows. A config with any other field (one
 * added after it was written) decodes through the engine until the direct decoder learns it.
 */
const DIRECT_FIELDS = new Set([
  'arch', 'dModel', 'numHeads', 'dFF', 'dropout', 'maxLen', 'activation', 'normPlacement', 'positionalEncoding', 'tieEmbeddings', 'padId',
  'layerNormEpsilon', 'scaleEmbeddings', 'embeddingNorm', 'geluApproximation',
  'srcVocabSize', 'tgtVocabSize', 'numEncoderLayers', 'numDecoderLayers', 'vocabSize', 'numLayers',
]);

/**
 * Why a model decodes through the engine on this backend, or null when the direct decoder can run
 * it: its config, its stack and every attention layer of the stack are checked.
 */
export function directRefusal(config: ModelConfig, stack: Encoder | Decoder, attentions: readonly MultiHeadAttention[]): string | null {
  const unknown = Object.keys(config).find((key) => !DIRECT_FIELDS.has(key));
  if (unknown !== undefined) return `config field ${unknown}`;
  const { dModel, numHeads, activation, geluApproximation, normPlacement } = stack.stackArgs;
  if (activation !== 'relu' && activation !== 'gelu') return `activation ${String(activation)}`;
  if (geluApproximation !== 'tanh' && geluApproximation !== 'none') return `geluApproximation ${String(geluApproximation)}`;
  if (normPlacement !== 'pre' && normPlacement !== 'post') return `normPlacement ${String(normPlacement)}`;
  // The layer-norm kernel reads rows 4 floats at a time.
  if (dModel % 4 !== 0) return `dModel ${dModel} (not a multiple of 4)`;
  const split = (a: MultiHeadAttention) => a.numHeads === numHeads && a.keyDim * numHeads === dModel && a.valueDim === a.keyDim && (a.outputDim ?? dModel) === dModel;
  if (!attentions.every(split)) return 'attention heads that do not split dModel evenly';
  return null;
}

/**
 * The direct decoder for a stack when the switch is on, the backend is wasm and the model fits;
 * otherwise undefined. The decoder takes over `extra.owned` (freed with it) only when it starts.
 */
export function startDirect(
  config: ModelConfig,
  stack: Encoder | Decoder,
  attentions: readonly MultiHeadAttention[],
  blocks: DirectBlock[],
  output: DirectStack['output'],
  rows: number,
  extra: { memoryMask?: DirectStack['memoryMask']; owned?: tf.Tensor[] } = {},
): DirectDecoder | undefined {
  const heap = directDecodingEnabled() ? WasmHeap.active() : null;
  if (heap === null || directRefusal(config, stack, attentions) !== null) return undefined;
  const a = stack.stackArgs;
  const positions = stack.positions.positions(a.maxLen); // (maxLen, d)
  const description: DirectStack = {
    dModel: a.dModel,
    numHeads: a.numHeads,
    dFF: a.dFF,
    maxLen: a.maxLen,
    vocabSize: a.vocabSize,
    activation: a.activation,
    geluApproximation: a.geluApproximation,
    normPlacement: a.normPlacement,
    embedding: stack.embedding.table.read(),
    scaleEmbeddings: stack.embedding.scale,
    positions,
    ...(stack.embeddingNorm ? { embeddingNorm: directNorm(stack.embeddingNorm) } : {}),
    blocks,
    ...(stack.finalNorm ? { finalNorm: directNorm(stack.finalNorm) } : {}),
    output,
    ...(extra.memoryMask ? { memoryMask: extra.memoryMask } : {}),
  };
  try {
    return new DirectDecoder(heap, description, rows, [positions, ...(extra.owned ?? [])]);
  } catch (error) {
    positions.dispose();
    throw error;
  }
}

/** The output projection of a model with a (d, V) kernel or tied to its token table, plus a bias. */
export function projectionOf(model: { outputKernel?: LayerVariable; outputBias: LayerVariable; decoder: Encoder | Decoder }): DirectStack['output'] {
  const bias = model.outputBias.read();
  return model.outputKernel ? { kernel: model.outputKernel.read(), transposed: false, bias } : { kernel: model.decoder.embedding.table.read(), transposed: true, bias };
}

export function directLinear(kernel: LayerVariable, bias: LayerVariable | undefined): DirectLinear {
  return bias === undefined ? { kernel: kernel.read() } : { kernel: kernel.read(), bias: bias.read() };
}

export function directNorm(norm: LayerNorm): DirectNorm {
  return { gamma: norm.gamma.read(), beta: norm.beta.read(), epsilon: norm.epsilon };
}

export function directSelfAttention(attention: MultiHeadAttention, norm: LayerNorm): DirectBlock['self'] {
  const p = attention.projection;
  return { norm: directNorm(norm), query: directLinear(p.wq, p.bq), key: directLinear(p.wk, p.bk), value: directLinear(p.wv, p.bv), output: directLinear(attention.wo, attention.bo) };
}

export function directFeedForward(ff: FeedForward, norm: LayerNorm): DirectBlock['feedForward'] {
  return { norm: directNorm(norm), inner: directLinear(ff.w1, ff.b1), outer: directLinear(ff.w2, ff.b2) };
}
