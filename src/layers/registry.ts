import * as tf from '@tensorflow/tfjs';
import { ModelFormatError } from '../errors.js';
import { DecoderLayer } from './decoder-layer.js';
import { EncoderLayer } from './encoder-layer.js';
import { FeedForward } from './feed-forward.js';
import { LayerNorm } from './layer-norm.js';
import { MultiHeadAttention } from './multi-head-attention.js';
import { PositionalEncoding } from './positional-encoding.js';
import { QKVProjection } from './qkv-projection.js';
import { TokenEmbedding } from './token-embedding.js';
import type { AtencaoLayer } from './base.js';

/**
 * Every atencao layer class, by its serialized class name. The stacks and models (src/model/)
 * add themselves with `registerLayerClass`, so this file needs nothing from above it.
 */
export const LAYER_CLASSES: Record<string, unknown> = {
  QKVProjection,
  MultiHeadAttention,
  FeedForward,
  LayerNorm,
  PositionalEncoding,
  TokenEmbedding,
  EncoderLayer,
  DecoderLayer,
};

/** Make a class built on these layers (a stack, a model) known to `deserializeLayer`. */
export function registerLayerClass(cls: { className: string }): void {
  LAYER_CLASSES[cls.className] = cls;
}

export interface SerializedLayer {
  className: string;
  config: tf.serialization.ConfigDict;
}

/** `{ className, config }` of a layer, the form tfjs writes into model.json. */
export function serializeLayer(layer: AtencaoLayer): SerializedLayer {
  return { className: (layer.constructor as unknown as { className: string }).className, config: layer.getConfig() };
}

/** Rebuild a layer from `{ className, config }` (unbuilt: weights are created on first use). */
export function deserializeLayer(serialized: SerializedLayer): AtencaoLayer {
  const name = serialized?.className;
  const cls = (LAYER_CLASSES as Record<string, unknown>)[name];
  if (typeof cls !== 'function') {
    throw new ModelFormatError(
      `unknown layer class '${String(name)}' (known: ${Object.keys(LAYER_CLASSES).join(', ')})`,
    );
  }
  const ctor = cls as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable> & {
    fromConfig: (c: typeof cls, config: tf.serialization.ConfigDict) => AtencaoLayer;
  };
  return ctor.fromConfig(cls as never, serialized.config) as AtencaoLayer;
}
