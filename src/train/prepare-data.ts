import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { bucketedBatches, type EncodedPair } from '../data/batching.js';
import { describeSkips, holdOut, readCorpus } from '../data/corpus.js';
import { generatePtEn, type ReferentCase } from '../data/pt-en.js';
import { SyntheticTask, type SyntheticTaskName } from '../data/tasks.js';
import { BOS_ID, EOS_ID, PAD_ID, Tokenizer, type TokenizerKind } from '../data/tokenizer.js';
import type { Pair } from '../data/types.js';
import { DataError } from '../errors.js';
import { greedyDecode } from '../infer/greedy.js';
import type { Transformer } from '../model/transformer.js';
import { maxOf } from '../util/objects.js';
import { mixSeed, Random } from '../util/random.js';
import type { TrainingData } from './trainer.js';

export type DataSpec =
  | { kind: 'task'; task: SyntheticTaskName; symbols?: number; minLen?: number; maxLen?: number }
  | { kind: 'pt-en'; size?: number }
  | { kind: 'corpus'; file: string; valid?: string; validFraction?: number; tokenizer: TokenizerKind };

/** Where a run's data came from, recorded in config.json. */
export interface DataProvenance {
  spec: DataSpec;
  description: string;
  trainPairs?: number;
  validPairs: number;
  testPairs?: number;
  /** SHA-256 of the corpus files, to notice when they change between runs. */
  sha256?: { train: string; valid?: string };
}

export interface PreparedData {
  source: Tokenizer;
  target: Tokenizer;
  train: TrainingData & { batchesPerEpoch?(batchSize: number): number };
  valid: EncodedPair[];
  test?: EncodedPair[];
  /** Whether BLEU is reported (translation data). */
  bleu: boolean;
  /** Model maxLen that fits the data. */
  maxLen: number;
  provenance: DataProvenance;
  /** pt-en only: how often the model names the right container on held-out container pairs. */
  referent?: { cases: ReferentCase[]; score(model: Transformer): number };
}

export interface PrepareOptions {
  /** The model's maxLen if fixed; longer pairs are skipped with a warning. */
  maxLen?: number;
  seed: number;
  /** Resuming: reuse these tokenizers (the ids must not change) … */
  tokenizers?: { source: Tokenizer; target: Tokenizer };
  /** … and compare the data with what the run started on. */
  expect?: DataProvenance;
}

interface Reporter {
  info(message: string): void;
  warn(message: string): void;
}

/** Longest sequence a model is built for when the data does not fix it (user corpora can have huge lines). */
const MAX_AUTO_LEN = 128;
const VALID_CAP = 1000;

export function prepareData(spec: DataSpec, options: PrepareOptions, reporter: Reporter): PreparedData {
  if (spec.kind === 'task') return prepareTask(spec, options);
  if (spec.kind === 'pt-en') return preparePtEn(spec, options, reporter);
  return prepareCorpus(spec, options, reporter);
}

function prepareTask(spec: Extract<DataSpec, { kind: 'task' }>, options: PrepareOptions): PreparedData {
  const task = new SyntheticTask(spec.task, { symbols: spec.symbols, minLen: spec.minLen, maxLen: spec.maxLen, seed: options.seed });
  const alphabet = task.alphabet.join('');
  const source = options.tokenizers?.source ?? Tokenizer.build('char', [alphabet]);
  const target = options.tokenizers?.target ?? Tokenizer.build('char', [alphabet]);
  const encode = (p: Pair): EncodedPair => ({ src: source.encode(p.source, { eos: true }), tgt: target.encode(p.target) });
  const maxLen = options.maxLen ?? task.options.maxLen + 1;
  if (task.options.maxLen + 1 > maxLen) {
    throw new DataError(`sequences of length ${task.options.maxLen} need a model maxLen of at least ${task.options.maxLen + 1} (got ${maxLen})`);
  }
  const o = task.options;
  return {
    source,
    target,
    train: {
      batchAt: (step, batchSize) => {
        const random = new Random(mixSeed(options.seed, step));
        return Array.from({ length: batchSize }, () => encode(task.sample(random)));
      },
    },
    valid: task.valid.map(encode),
    test: task.test.map(encode),
    bleu: false,
    maxLen,
    provenance: {
      spec,
      description: `${spec.task} task: ${o.symbols} symbols, lengths ${o.minLen}–${o.maxLen}, seed ${options.seed}`,
      validPairs: task.valid.length,
      testPairs: task.test.length,
    },
  };
}

function preparePtEn(spec: Extract<DataSpec, { kind: 'pt-en' }>, options: PrepareOptions, reporter: Reporter): PreparedData {
  const corpus = generatePtEn({ seed: options.seed, size: spec.size });
  const source = options.tokenizers?.source ?? Tokenizer.build('word', corpus.train.map((p) => p.source));
  const target = options.tokenizers?.target ?? Tokenizer.build('word', corpus.train.map((p) => p.target));
  const encoded = encodeAll({ train: corpus.train, valid: corpus.valid, test: corpus.test }, source, target, options.maxLen, reporter);
  const referentCases = corpus.heldOutReferent;
  return {
    source,
    target,
    train: epochData(encoded.train, options.seed),
    valid: encoded.valid,
    test: encoded.test,
    bleu: true,
    maxLen: encoded.maxLen,
    provenance: {
      spec,
      description: `pt-en toy translation, seed ${options.seed}: ${corpus.train.length} training pairs`,
      trainPairs: encoded.train.length,
      validPairs: encoded.valid.length,
      testPairs: encoded.test!.length,
    },
    referent: {
      cases: referentCases,
      score: (model) => referentAccuracy(model, referentCases, source, target),
    },
  };
}

function prepareCorpus(spec: Extract<DataSpec, { kind: 'corpus' }>, options: PrepareOptions, reporter: Reporter): PreparedData {
  const corpus = readCorpus(spec.file);
  const skipped = describeSkips(corpus);
  if (skipped !== '') reporter.warn(`${basename(spec.file)}: ${skipped}`);
  let train = corpus.pairs;
  let valid: Pair[];
  if (spec.valid !== undefined) {
    const v = readCorpus(spec.valid);
    const vSkipped = describeSkips(v);
    if (vSkipped !== '') reporter.warn(`${basename(spec.valid)}: ${vSkipped}`);
    valid = v.pairs;
    if (valid.length > VALID_CAP) {
      reporter.info(`validating on the first ${VALID_CAP} of ${valid.length} pairs of ${basename(spec.valid)}`);
      valid = valid.slice(0, VALID_CAP);
    }
  } else {
    // At most VALID_CAP pairs are held out (validation runs greedy decoding); the rest train.
    ({ train, valid } = holdOut(corpus.pairs, spec.validFraction ?? 0.05, options.seed, VALID_CAP));
  }
  const sha256 = { train: fileHash(spec.file), valid: spec.valid ? fileHash(spec.valid) : undefined };
  if (options.expect?.sha256 !== undefined && options.expect.sha256.train !== sha256.train) {
    reporter.warn(`${spec.file} changed since this run started; training continues on its current content`);
  }
  const source = options.tokenizers?.source ?? Tokenizer.build(spec.tokenizer, train.map((p) => p.source));
  const target = options.tokenizers?.target ?? Tokenizer.build(spec.tokenizer, train.map((p) => p.target));
  const encoded = encodeAll({ train, valid }, source, target, options.maxLen, reporter);
  return {
    source,
    target,
    train: epochData(encoded.train, options.seed),
    valid: encoded.valid,
    bleu: true,
    maxLen: encoded.maxLen,
    provenance: {
      spec,
      description: `${basename(spec.file)}: ${encoded.train.length} training pairs, ${encoded.valid.length} validation pairs (${spec.tokenizer} tokens)`,
      trainPairs: encoded.train.length,
      validPairs: encoded.valid.length,
      sha256,
    },
  };
}

/** Encode the splits; pairs longer than the model can hold are skipped and counted. */
function encodeAll(
  splits: { train: Pair[]; valid: Pair[]; test?: Pair[] },
  source: Tokenizer,
  target: Tokenizer,
  fixedMaxLen: number | undefined,
  reporter: Reporter,
): { train: EncodedPair[]; valid: EncodedPair[]; test?: EncodedPair[]; maxLen: number } {
  const encode = (p: Pair): EncodedPair => ({ src: source.encode(p.source, { eos: true }), tgt: target.encode(p.target) });
  const all = { train: splits.train.map(encode), valid: splits.valid.map(encode), test: splits.test?.map(encode) };
  const need = (p: EncodedPair) => Math.max(p.src.length, p.tgt.length + 1);
  const longest = maxOf([...all.train, ...all.valid, ...(all.test ?? [])].map(need));
  const maxLen = fixedMaxLen ?? Math.min(longest, MAX_AUTO_LEN);
  const keep = (items: EncodedPair[], name: string) => {
    const kept = items.filter((p) => need(p) <= maxLen);
    if (kept.length < items.length) {
      reporter.warn(`skipped ${items.length - kept.length} ${name} pairs longer than maxLen ${maxLen} tokens (set --max-len to change it)`);
    }
    return kept;
  };
  const train = keep(all.train, 'training');
  const valid = keep(all.valid, 'validation');
  if (train.length === 0) throw new DataError(`no training pairs fit in maxLen ${maxLen}`);
  if (valid.length === 0) throw new DataError(`no validation pairs fit in maxLen ${maxLen}`);
  return { train, valid, test: all.test ? keep(all.test, 'test') : undefined, maxLen };
}

/** Finite data: epochs of length-bucketed batches, the order of epoch e fixed by (seed, e). */
function epochData(items: EncodedPair[], seed: number): PreparedData['train'] {
  let cached: { epoch: number; batchSize: number; batches: EncodedPair[][] } | undefined;
  const epochBatches = (epoch: number, batchSize: number) => {
    if (cached?.epoch !== epoch || cached.batchSize !== batchSize) {
      cached = { epoch, batchSize, batches: bucketedBatches(items, batchSize, new Random(mixSeed(seed, epoch))) };
    }
    return cached.batches;
  };
  return {
    batchAt: (step, batchSize) => {
      const perEpoch = epochBatches(0, batchSize).length;
      const batches = epochBatches(Math.floor(step / perEpoch), batchSize);
      return batches[step % perEpoch]!;
    },
    batchesPerEpoch: (batchSize) => epochBatches(0, batchSize).length,
  };
}

/** Fraction of referent sentences whose greedy translation says "until the <right noun>". */
export function referentAccuracy(model: Transformer, cases: readonly ReferentCase[], source: Tokenizer, target: Tokenizer): number {
  if (cases.length === 0) return 0;
  const outputs = greedyDecode(model, cases.map((c) => source.encode(c.source, { eos: true })), { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID }, { maxLen: model.config.maxLen - 1 });
  let right = 0;
  outputs.forEach((ids, i) => {
    const tokens = target.tokensOf(ids);
    const at = tokens.findIndex((t, j) => t === 'until' && tokens[j + 1] === 'the');
    if (at >= 0 && tokens[at + 2] === cases[i]!.referentEn) right++;
  });
  return right / cases.length;
}

function fileHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
