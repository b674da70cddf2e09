/**
 * atencao's public API, grouped by what a user does with it.
 */

// Attention, step by step: pure functions and the layers that own the weights.
export { scaledDotProductAttention, type AttentionResult, type AttentionOptions } from './attention/scaled-dot-product.js';
export { paddingMask, causalMask, combineMasks } from './attention/masks.js';
export { AtencaoLayer, withInitSeed, type LayerOutput } from './layers/base.js';
export { QKVProjection, splitHeads, mergeHeads, type QKVProjectionArgs, type Projected } from './layers/qkv-projection.js';
export {
  MultiHeadAttention,
  type MultiHeadAttentionArgs,
  type MultiHeadAttentionCallArgs,
  type MultiHeadAttentionResult,
  type KeyValueCache,
} from './layers/multi-head-attention.js';
export { FeedForward, gelu, type FeedForwardArgs } from './layers/feed-forward.js';
export { LayerNorm, type LayerNormArgs } from './layers/layer-norm.js';
export { PositionalEncoding, sinusoidTable, type PositionalEncodingArgs } from './layers/positional-encoding.js';
export { TokenEmbedding, type TokenEmbeddingArgs } from './layers/token-embedding.js';
export { EncoderLayer, type BlockArgs, type EncoderLayerArgs, type EncoderLayerCallArgs } from './layers/encoder-layer.js';
export { DecoderLayer, type DecoderLayerCallArgs, type DecoderWeights } from './layers/decoder-layer.js';
export { residual } from './layers/residual.js';
export { LAYER_CLASSES, serializeLayer, deserializeLayer, type SerializedLayer } from './layers/registry.js';

// Build a model of one of the three families.
export {
  ARCHS,
  DEFAULTS,
  DEFAULT_CONFIG,
  resolveConfig,
  validateConfig,
  countParameters,
  describeConfig,
  MAX_PARAMETERS,
  MAX_POSITION_TABLE,
  CONFIG_BOUNDS,
  type Arch,
  type ModelConfig,
  type ModelConfigInput,
  type EncoderDecoderConfigInput,
  type DecoderConfigInput,
  type EncoderConfigInput,
  type EncoderDecoderConfig,
  type DecoderConfig,
  type EncoderConfig,
  type TransformerConfig,
  type TransformerConfigInput,
  type Activation,
  type NormPlacement,
  type PositionalEncodingKind,
} from './config.js';
export { createModel, FAMILIES } from './model/create.js';
export { Transformer, createTransformer, type TransformerArgs, type CreateOptions, type EncodeResult, type DecodeResult } from './model/transformer.js';
export { DecoderOnly } from './model/decoder-only.js';
export { EncoderOnly } from './model/encoder-only.js';
export { Encoder, Decoder, type StackArgs, type EncoderArgs } from './model/stack.js';
export type {
  Model,
  Batch,
  Objective,
  Seq2SeqBatch,
  LanguageModelBatch,
  MaskedLanguageModelBatch,
  ClassificationBatch,
  Generation,
  GenerationOptions,
  AttentionWeights,
  AttentionKind as ModelAttentionKind,
  ForwardOptions,
  LossOptions,
  Scored,
} from './model/model.js';

// Data: tokenizers, synthetic tasks, the toy Portuguese corpus, user corpora, batches.
export { Tokenizer, PAD_ID, BOS_ID, EOS_ID, UNK_ID, CLS_ID, SEP, MASK, type TokenizerKind, type TokenizerJSON } from './data/tokenizer.js';
export { trainBpe, BpeModel, pieces, BYTE_TOKENS, type BpeModelJSON } from './data/bpe.js';
export { SyntheticTask, SYNTHETIC_TASKS, solve, type SyntheticTaskName, type SyntheticOptions } from './data/tasks.js';
export { generatePtEn, referentSentence, SEED_PAIRS, CONTAINERS, toTsv, type ReferentCase, type PtEnCorpus, type PtEnOptions } from './data/pt-en.js';
export { readCorpus, readAlignedCorpus, parseCorpus, holdOut, describeSkips, readDataFile, readTextFile, MAX_DATA_BYTES, MAX_LINE_BYTES, type Corpus, type DataFile } from './data/corpus.js';
export { generateReferent, referentNouns, REFERENT_LABELS, type ReferentCorpus } from './data/pt-en.js';
export { BATCHERS, disposeBatch, makeBatch, makeLanguageModelBatch, makeMaskedBatch, makeClassificationBatch, type Example, type EncodedPair, type SpecialIds } from './data/batching.js';
export type { DataSpec, DataProvenance } from './data/spec.js';
export type { Pair, Splits } from './data/types.js';

// Train: a step, a stepper, the loop, whole runs saved to a folder.
export { trainStep, batchLoss, gradients } from './train/step.js';
export { FlatAdamStepper, ParallelStepper, DeviceStepper, createStepper, lossValue, type Stepper, type StepInput, type StepOutcome, type StepperKind } from './train/stepper.js';
export { sequenceLoss } from './train/loss.js';
export { maskedCrossEntropy } from './model/loss.js';
export { learningRate, type ScheduleOptions } from './train/schedule.js';
export { corpusBleu, exactMatch, sacreBleu, chrF, tokenize13a, type BleuResult, type SacreBleuResult, type SacreBleuOptions, type ChrfOptions, type References } from './train/metrics.js';
export { evaluate, type EvalMetrics, type EvalOptions } from './train/evaluate.js';
export { train, betterValidation, type TrainOptions, type TrainResult, type TrainHooks, type ValidationRecord, type StepEvent } from './train/trainer.js';
export { startRun, resumeRun, type RunOptions, type RunSummary, type RunReporter } from './train/run.js';
export { fitCorpus, scheduleFor, FIT_BATCH_SIZE, type CorpusSize } from './train/fit.js';
export { measureStepSeconds, planLine } from './train/plan.js';
export { BestKeeper, BEST_DIR } from './train/best.js';
export { splitByTokens, paddedTokens, type Batcher } from './data/batching.js';
export { DEFAULT_MAX_TOKENS, shareGradient } from './train/step.js';
export { projectedCrossEntropy, type ProjectedCrossEntropyOptions } from './ops/projected-cross-entropy.js';
export type { Projection } from './model/base.js';
export { relaxedSimdInUse, setRelaxedSimd } from './ops/kernels/batch-matmul.js';
export { directDecodingEnabled, setDirectDecoding } from './ops/direct/decoder.js';
export { linear } from './ops/linear.js';
export { profileTrainStep, profileTable, type StepProfile } from './bench/profile.js';
export { normalizeText, learnCasing, restoreCase, type TextForm } from './data/case.js';
export { prepareData, type PreparedData } from './train/prepare-data.js';
export { RECIPES, FAMILY_RECIPES, recipeFor, type TrainingArgs, type ModelArgs } from './train/defaults.js';
export { DECODER_RECIPES } from './train/recipes/decoder.js';
export { ENCODER_RECIPES } from './train/recipes/encoder.js';
export { maskTokens, MASK_RATE } from './train/prepare/masked.js';

// Use a trained model: load a folder, translate, decode.
export { loadModel, loadModelDir, loadModelFolder, requireArch, type LoadedModel } from './infer/load.js';
export { Translator, type Translation, type TranslateOptions, type AttentionMaps } from './infer/translator.js';
export { greedyDecode, greedyDecodeScored, type Generator } from './infer/greedy.js';
export { beamSearch, beamSearchBatch, type BeamOptions, type BeamResult } from './infer/beam.js';
export { bannedNext, outputLimit, MAX_LEN_RATIO, MAX_LEN_EXTRA } from './infer/guard.js';
export { generateText, generateIds, type GenerateOptions, type GenerateTextOptions, type Generated, type GeneratedIds, type StopReason } from './infer/generate.js';
export { samplingDistribution, sampleFrom, softmax, topK, topP, argmax, type SamplingOptions } from './infer/sample.js';
export { classifyText, classifyTexts, fillMask, encoderIds, type Classification, type FillMaskResult, type FillMaskOptions, type MaskPrediction, type MaskCandidate } from './infer/classify.js';
export { attentionMaps, fromTranslation, asModelAttention, checkKinds, attentionLayers, kindTitle, KINDS_OF, decoderPrompt, type ModelAttention, type AttentionMap, type AttentionMapOptions } from './infer/attention-maps.js';
export { buildModel } from './model/load.js';
export { loadModelFiles } from './model/load-files.js';
export { saveModelFiles, readModelFiles } from './io/model-files.js';
export { readModelFolder, type ModelFolder } from './io/model-dir.js';
export { lockFolder, lockHolder, LOCK_FILE, type FolderLock, type LockHolder } from './io/lock.js';
export { planModel } from './io/weights.js';

// Look into it: terminal heatmaps, SVG and HTML reports.
export { renderHeatmap, type HeatmapOptions } from './viz/terminal.js';
export { renderSvg } from './viz/svg.js';
export { renderHtml, explorerExample, type HtmlExample, type HtmlReportInput, type ExplorerExample } from './viz/html.js';
export { attentionPanels, ATTENTION_KINDS, KIND_TITLES, describeText, textLabels, visibleText, type AttentionKind, type Panel, type PanelSelection } from './viz/panels.js';

// Look inside: causal tools over a traced forward pass, aggregate views, step-by-step decoding.
export { trace, disposeTrace, anatomy, replaceHead, replacePosition, type Trace, type TraceHooks, type TraceInput, type StackName, type AttentionRecord } from './inspect/trace.js';
export { prepareProbe, probeInput, disposeInput, decisionValue, type Probe, type Decision, type ProbeOptions } from './inspect/probe.js';
export { ablateHeads, parseHeads, headKinds, type AblationResult, type AblateOptions, type HeadRef, type HeadGrid, type AblationMode } from './inspect/ablate.js';
export { patchActivations, defaultCorruption, type PatchResult, type PatchOptions, type PatchGrid, type ResidualGrid } from './inspect/patch.js';
export { logitLens, type LensResult, type LensOptions, type LensCandidate } from './inspect/lens.js';
export { attentionRollout, rolloutMaps, rolloutOf, valueNorms, type ValueNormResult } from './inspect/aggregate.js';
export { neuronView, type NeuronView, type NeuronOptions } from './inspect/neurons.js';
export { decodeSteps, stepKeys, type StepsResult, type StepsOptions, type DecodingStep, type StepHypothesis, type StepCandidate } from './inspect/steps.js';
export { gridsSvg, gridTable, linePlotSvg, inspectPage, stepsHtml, type Grid, type Series } from './inspect/render.js';
export { explorerPage } from './inspect/explorer.js';
export { LstmSeq2Seq, createLstmSeq2Seq, type LstmSeq2SeqConfig } from './rnn/seq2seq.js';
export { LstmCell, type LstmState } from './rnn/lstm.js';
export { readReferent, generateDistanceCases, type ReferentReading, type DistanceCase, type DistanceOptions } from './data/pt-en.js';

// Films: the attention of one input as a model learns.
export { filmObserver, filmProbe, recordFrame, FilmRecorder, parseFilm, readFilm, FILM_JSONL, FILM_MAX_FRAMES, FILM_MAX_BYTES, type FilmFrame, type FilmMap, type FilmProbe, type FilmOptions } from './train/film.js';
export { renderFilmHtml } from './viz/film.js';
export { readArchive, writeArchive, unpackModelArchive, type ArchiveFile } from './io/archive.js';

// From and to other tools: Hugging Face checkpoints in, safetensors and ONNX out.
export { importCheckpoint, readCheckpoint, type ImportedCheckpoint } from './interchange/import.js';
export { readHfConfig, HF_FAMILIES, type HfModel, type HfFamily } from './interchange/hf-config.js';
export { exportModel, exportSafetensors, safetensorsName, EXPORT_FORMATS, type ExportFormat, type ExportedFile } from './interchange/export.js';
export { exportOnnx, OPSET, type OnnxPart } from './interchange/onnx-export.js';
export { readSafetensors, encodeSafetensors, SafetensorsFile, type SafetensorsEntry } from './interchange/safetensors.js';
export { HfTokenizer, tokenizerFromJSON, type HfTokenizerJSON } from './data/hf-tokenizer.js';
export { INTERCHANGE_DEFAULTS, type GeluApproximation } from './config.js';

// Named errors.
export { AtencaoError, ConfigError, BackendError, ShapeError, ModelFormatError, UsageError, DataError, TrainingError, WriteError, LockedError } from './errors.js';

// Backends: choose one, list what runs here; WebGPU adapters.
export { setBackend, currentBackend, describeBackend, listBackends, isDeviceBackend, DEVICE_BACKENDS, BACKEND_NAMES, type BackendName, type BackendInfo, type BackendStatus, type ConcreteBackend } from './backend.js';
export { describeAdapter, type GpuAdapter } from './gpu-adapter.js';
