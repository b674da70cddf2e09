import type { Arch, ModelConfigInput } from '../config.js';
import type { ModelArgs } from './defaults.js';
import type { EncodedPair } from '../data/batching.js';
import type { DataProvenance, DataSpec } from '../data/spec.js';
import type { ReferentCase } from '../data/pt-en.js';
import { BOS_ID, EOS_ID, PAD_ID, type Tokenizer } from '../data/tokenizer.js';
import type { EvalOptions } from './evaluate.js';
import { DataError } from '../errors.js';
import type { Model, Objective } from '../model/model.js';
import { prepareContinuation } from './prepare/continuation.js';
import { prepareEncoderData } from './prepare/masked.js';
import { prepareSeq2Seq } from './prepare/seq2seq.js';
import type { CorpusSize } from './fit.js';
import type { TrainingData } from './trainer.js';

export type { DataProvenance, DataSpec };

export interface PreparedData {
  /** How the examples are batched and scored. */
  objective: Objective;
  /** The input tokenizer; for single-vocabulary families the same object as `target`. */
  source: Tokenizer;
  target: Tokenizer;
  /** Classification: the class names, by index. */
  labels?: string[];
  train: TrainingData & { batchesPerEpoch?(batchSize: number): number };
  valid: EncodedPair[];
  test?: EncodedPair[];
  /** Whether BLEU is reported (translation data). */
  bleu: boolean;
  /** Model maxLen that fits the data. */
  maxLen: number;
  /** A user's translation corpus: its size, which its default model and schedule are chosen from. */
  corpusSize?: CorpusSize;
  provenance: DataProvenance;
  /** pt-en only: how often the model names the right container on held-out container pairs. */
  referent?: { cases: ReferentCase[]; score(model: Model): Promise<number> };
}

export interface PrepareOptions {
  /** The family the data is prepared for. Default: encoder-decoder. */
  arch?: Arch;
  /** The model's maxLen if fixed; longer examples are skipped with a warning. */
  maxLen?: number;
  seed: number;
  /** Resuming: reuse these tokenizers (the ids must not change) … */
  tokenizers?: { source: Tokenizer; target: Tokenizer };
  /** … and compare the data with what the run started on. */
  expect?: DataProvenance;
}

export interface Reporter {
  info(message: string): void;
  warn(message: string): void;
}

const PREPARERS: Record<Arch, (spec: DataSpec, options: PrepareOptions, reporter: Reporter) => PreparedData> = {
  'encoder-decoder': prepareSeq2Seq,
  decoder: prepareContinuation,
  encoder: prepareEncoderData,
};

/** The model config a family needs for prepared data: the vocabulary sizes (and classes) come from the data. */
export function modelConfigFor(arch: Arch, model: ModelArgs, prepared: PreparedData): ModelConfigInput {
  const shared = { ...model, maxLen: model.maxLen ?? prepared.maxLen, padId: PAD_ID };
  if (arch === 'encoder-decoder') return { ...shared, arch, srcVocabSize: prepared.source.size, tgtVocabSize: prepared.target.size } as ModelConfigInput;
  if (arch === 'decoder') return { ...shared, arch, vocabSize: prepared.source.size } as ModelConfigInput;
  return { ...shared, arch, vocabSize: prepared.source.size, numClasses: prepared.labels?.length ?? 0 } as ModelConfigInput;
}

/** How prepared data is evaluated: its objective, the special ids, BLEU on detokenized text for translation. */
export function evaluationOf(prepared: PreparedData): EvalOptions {
  return {
    objective: prepared.objective,
    ids: { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID },
    bleu: prepared.bleu,
    tokensOf: (ids) => prepared.target.tokensOf(ids),
    detokenize: (ids) => prepared.target.decode(ids),
  };
}

/** Tokenize, split and encode a run's data for the family that trains on it. */
export function prepareData(spec: DataSpec, options: PrepareOptions, reporter: Reporter): PreparedData {
  const arch = options.arch ?? 'encoder-decoder';
  const prepare = PREPARERS[arch];
  if (prepare === undefined) throw new DataError(`unknown architecture '${String(arch)}'`);
  const prepared = prepare(spec, options, reporter);
  return { ...prepared, provenance: { ...prepared.provenance, arch, ...(prepared.labels ? { labels: prepared.labels } : {}) } };
}
