/**
 * The records a training run writes into its model folder besides the weights: its settings
 * (config.json) and its validation history (metrics.jsonl). Plain types, so every level can
 * read them.
 */

export type ScheduleKind = 'noam' | 'constant';

/** Training settings a user can change with flags. */
export interface TrainingArgs {
  steps: number;
  batchSize: number;
  lr: number;
  warmup: number;
  schedule: ScheduleKind;
  labelSmoothing: number;
  clip: number;
  validEvery: number;
  /** Stop once validation exact match reaches this (omit to train all steps). */
  untilExact?: number;
  /** Stop once validation BLEU reaches this, in [0, 1] (translation). */
  untilBleu?: number;
  /** Stop after this many validations in a row without a better score (early stopping). */
  patience?: number;
  /** Stop after this many seconds of training in all (resumed runs included). */
  timeLimit?: number;
  seed: number;
  /**
   * Padded tokens (rows × longest row) a thread computes at once; a longer batch is cut into pieces
   * whose gradients are added (the same step, in less memory). Default 768.
   */
  maxTokens?: number;
  /** Fine-tuning: the model folder whose weights the run started from. */
  init?: string;
}

/** Metrics of a model on a set of examples. */
export interface EvalMetrics {
  /** Mean cross-entropy per scored target (no label smoothing; teacher forcing for text). */
  loss: number;
  /** Fraction of scored targets predicted right (a classifier's accuracy). */
  tokenAccuracy: number;
  /**
   * Fraction of examples the model gets entirely right: the greedy output equals the target
   * (translation, continuation tasks) or the label is right (classification). Absent where it
   * has no meaning (plain language modelling, masked LM).
   */
  exactMatch?: number;
  /**
   * Corpus BLEU-4 of the greedy outputs, for translation, in [0, 1]: as sacreBLEU computes it
   * (13a tokenization of the detokenized text) when the evaluation could detokenize, else over
   * the model's target tokens.
   */
  bleu?: number;
  /** Corpus chrF (sacreBLEU's chrF2 defaults) of the greedy outputs, in [0, 1], when the evaluation could detokenize. */
  chrf?: number;
  /** Number of examples evaluated. */
  n: number;
}

/** One line of metrics.jsonl. */
export interface ValidationRecord extends EvalMetrics {
  step: number;
  /** Mean training loss since the previous validation. */
  trainLoss: number;
  lr: number;
  elapsedSeconds: number;
  tokensPerSecond: number;
}
