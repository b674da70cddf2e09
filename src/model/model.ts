import type * as tf from '@tensorflow/tfjs';
import type { Arch, ModelConfig } from '../config.js';
import type { LayerVariable } from '../layers/base.js';

/**
 * Batches, typed per training objective. Every id tensor is int32 and padded with the config's
 * padId; `targets` hold padId wherever a position is not scored.
 */
export interface Seq2SeqBatch {
  kind: 'seq2seq';
  /** Source ids (B, Ts). */
  src: tf.Tensor2D;
  /** Decoder input: target ids shifted right, starting with bos (B, Tt). */
  tgtIn: tf.Tensor2D;
  /** Decoder output: the ids to predict (B, Tt). */
  tgtOut: tf.Tensor2D;
}

/** Causal language modelling: predict ids[t + 1] at position t; only the continuation is scored. */
export interface LanguageModelBatch {
  kind: 'lm';
  /** Input ids (B, T): bos, the prompt, the continuation. */
  ids: tf.Tensor2D;
  /** The next id at every position (B, T); padId where the loss does not count (the prompt). */
  targets: tf.Tensor2D;
}

/** Masked language modelling: predict the original id where the input was corrupted. */
export interface MaskedLanguageModelBatch {
  kind: 'masked-lm';
  /** Input ids (B, T) with ~15% of the tokens masked, replaced or kept. */
  ids: tf.Tensor2D;
  /** The original id at the chosen positions, padId elsewhere (B, T). */
  targets: tf.Tensor2D;
}

/** Sequence classification from the [CLS] (first) position. */
export interface ClassificationBatch {
  kind: 'classify';
  /** Input ids (B, T), starting with [CLS]. */
  ids: tf.Tensor2D;
  /** Class index of each sequence (B). */
  labels: tf.Tensor1D;
}

export type Batch = Seq2SeqBatch | LanguageModelBatch | MaskedLanguageModelBatch | ClassificationBatch;
export type Objective = Batch['kind'];

export interface ForwardOptions {
  /** Apply dropout. Default: false. */
  training?: boolean;
  /** Also return the attention weights of every layer. */
  returnAttention?: boolean;
}

/** Scores and what they are scored against. */
export interface Scored {
  /** (…, V) or (B, C) */
  logits: tf.Tensor;
  /** Ids or labels, the logits' shape without its last axis. */
  targets: tf.Tensor;
  /** 1 where a target counts, 0 where it is padding (same shape as targets, float32). */
  mask: tf.Tensor;
}

export interface LossOptions {
  training?: boolean;
  /** Spread this much probability mass evenly over the classes (0 = plain cross-entropy). */
  labelSmoothing?: number;
}

/**
 * Attention weights by kind, each a list over layers of (B, H, Tq, Tk):
 * `encoder` (bidirectional self-attention), `decoder` (causal self-attention), `cross`.
 */
export type AttentionWeights = Partial<Record<AttentionKind, tf.Tensor[]>>;
export type AttentionKind = 'encoder' | 'decoder' | 'cross';

/** What a model that writes text needs to decode step by step (a key/value cache behind it). */
export interface Generation {
  /** Rows decoded together. */
  readonly rows: number;
  /** Positions fed so far. */
  readonly length: number;
  /** Tokens it can still write: the steps left before maxLen, one position kept for eos. */
  readonly capacity: number;
  /** The tokens to feed at the first step, one per row (bos, or each prompt's last token). */
  readonly first: readonly number[];
  /**
   * Feed one token per row and get the next-token logits (B, V); with `returnAttention`, each
   * kind's weights of the new position, per layer (B, H, 1, Tk).
   */
  step(tokens: readonly number[], returnAttention?: boolean): { logits: tf.Tensor2D; weights?: AttentionWeights };
  /** Keep rows `rows` of every cached tensor, in that order (beam search reorders hypotheses). */
  select(rows: readonly number[]): void;
  dispose(): void;
}

export interface GenerationOptions {
  /** Use the key/value cache (default). `false` re-runs the model on the whole prefix at every step. */
  cache?: boolean;
}

/**
 * The interface the three families implement, and all that training, evaluation, saving and the
 * attention views use. A model is also an `AtencaoLayer` (weights with stable paths, `dispose`).
 */
export interface Model {
  readonly arch: Arch;
  readonly config: ModelConfig;
  /** Layer name: the prefix of the weight names in model.json. */
  readonly name: string;
  /** Names of the id inputs `apply` takes (model.json's topology). */
  readonly inputNames: readonly string[];
  /** The objectives this family trains on (the batches `score` accepts). */
  readonly objectives: readonly Objective[];
  /** Logits of a batch and the targets they are scored against. */
  score(batch: Batch, options?: ForwardOptions): Scored;
  /** The mean cross-entropy of a batch over its scored targets (a scalar; the caller disposes). */
  loss(batch: Batch, options?: LossOptions): tf.Scalar;
  /**
   * The attention weights of every layer for one input, as the model reads it in `score`:
   * for seq2seq the source and the target input, for the others the ids.
   */
  attention(inputs: AttentionInputs): AttentionWeights;
  /** Step-by-step decoding from prompts (families that write text). */
  startGeneration?(prompts: readonly number[][], options?: GenerationOptions): Generation;
  namedWeights(prefix?: string): [string, LayerVariable][];
  /** TF.js's way to call a layer (symbolic tensors for model.json's topology). */
  apply(inputs: tf.SymbolicTensor | tf.SymbolicTensor[]): unknown;
  readonly trainableWeights: LayerVariable[];
  countTrainableParams(): number;
  dispose(): unknown;
  readonly isDisposed: boolean;
}

export interface AttentionInputs {
  /** (B, T) ids: the source for an encoder–decoder, the sequence for the others. */
  ids: tf.Tensor2D;
  /** Encoder–decoder only: the decoder input (B, Tt). */
  targetIds?: tf.Tensor2D;
}
