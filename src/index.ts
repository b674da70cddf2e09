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
export { AtencaoError, ConfigError, BackendError, ShapeError, ModelFormatError, UsageError, DataError, TrainingError, WriteError } from './errors.js';
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
export { Tokenizer, PAD_ID, BOS_ID, EOS_ID, UNK_ID, type TokenizerKind, type TokenizerJSON } from './data/tokenizer.js';
export { SyntheticTask, SYNTHETIC_TASKS, solve, type SyntheticTaskName, type SyntheticOptions } from './data/tasks.js';
export { generatePtEn, referentSentence, SEED_PAIRS, CONTAINERS, toTsv, type ReferentCase, type PtEnCorpus, type PtEnOptions } from './data/pt-en.js';
export { readCorpus, parseCorpus, holdOut, describeSkips, type Corpus } from './data/corpus.js';
export type { Pair, Splits } from './data/types.js';
export { trainStep, batchLoss, type Batch } from './train/step.js';
export { learningRate, type ScheduleOptions } from './train/schedule.js';
export { corpusBleu, exactMatch, type BleuResult } from './train/metrics.js';
export { evaluate, type EvalMetrics } from './train/evaluate.js';
export { train, type TrainOptions, type TrainHooks, type ValidationRecord, type StepEvent } from './train/trainer.js';
export { startRun, resumeRun, type RunOptions, type RunSummary, type RunReporter } from './train/run.js';
export { RECIPES, type TrainingArgs, type ModelArgs } from './train/defaults.js';
export { Translator, type Translation, type TranslateOptions, type AttentionMaps } from './infer/translator.js';
export { loadModel } from './io/load-model.js';
export { greedyDecode, greedyDecodeScored } from './infer/greedy.js';
export { beamSearch, type BeamOptions } from './infer/beam.js';
export { IncrementalDecoder } from './infer/incremental.js';
export { loadModelFiles, saveModelFiles } from './io/model-files.js';
export { renderHeatmap, type HeatmapOptions } from './viz/terminal.js';
export { renderSvg } from './viz/svg.js';
export { renderHtml, type HtmlExample, type HtmlReportInput } from './viz/html.js';
export { attentionPanels, ATTENTION_KINDS, type AttentionKind, type Panel } from './viz/panels.js';
