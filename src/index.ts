export { scaledDotProductAttention, type AttentionResult, type AttentionOptions } from './attention/scaled-dot-product.js';
export { paddingMask, causalMask, combineMasks } from './attention/masks.js';
export {
  DEFAULT_CONFIG,
  resolveConfig,
  validateConfig,
  countParameters,
  type TransformerConfig,
  type TransformerConfigInput,
  type Activation,
  type NormPlacement,
  type PositionalEncodingKind,
} from './config.js';
export { AtencaoError, ConfigError, BackendError, ShapeError, ModelFormatError, UsageError, DataError, TrainingError } from './errors.js';
export {
  setBackend,
  currentBackend,
  describeBackend,
  BACKEND_NAMES,
  type BackendName,
  type BackendInfo,
  type ConcreteBackend,
} from './backend.js';
export { AtencaoLayer, withInitSeed } from './layers/base.js';
export { QKVProjection, splitHeads, mergeHeads, type QKVProjectionArgs, type Projected } from './layers/qkv-projection.js';
export {
  MultiHeadAttention,
  type MultiHeadAttentionArgs,
  type MultiHeadAttentionCallArgs,
  type MultiHeadAttentionResult,
} from './layers/multi-head-attention.js';
export { FeedForward, gelu, type FeedForwardArgs } from './layers/feed-forward.js';
export { LayerNorm, type LayerNormArgs } from './layers/layer-norm.js';
export { PositionalEncoding, sinusoidTable, type PositionalEncodingArgs } from './layers/positional-encoding.js';
export { TokenEmbedding, type TokenEmbeddingArgs } from './layers/token-embedding.js';
export { EncoderLayer, type BlockArgs, type EncoderLayerCallArgs } from './layers/encoder-layer.js';
export { DecoderLayer, type DecoderLayerCallArgs } from './layers/decoder-layer.js';
export { residual } from './layers/residual.js';
export { LAYER_CLASSES, serializeLayer, deserializeLayer, type SerializedLayer } from './layers/registry.js';
export { Encoder, Decoder, type StackArgs } from './model/stack.js';
export {
  Transformer,
  createTransformer,
  type TransformerArgs,
  type CreateOptions,
  type EncodeResult,
  type DecodeResult,
  type ForwardOptions,
} from './model/transformer.js';
export { sequenceLoss, type LossOptions } from './train/loss.js';
