import { basename } from 'node:path';
import { bucketedBatches, type EncodedPair } from '../../data/batching.js';
import { describeSkips, holdOut, readAlignedCorpus, readCorpus } from '../../data/corpus.js';
import type { Tokenizer } from '../../data/tokenizer.js';
import type { Pair } from '../../data/types.js';
import { DataError } from '../../errors.js';
import { maxOf } from '../../util/objects.js';
import { mixSeed, Random } from '../../util/random.js';
import type { PreparedData, PrepareOptions, Reporter } from '../prepare-data.js';

/** SHA-256 of the data files as they were read for a run: training file, and --valid file if any. */
export interface DataHashes {
  train: string;
  valid?: string;
}

/** Longest sequence a model is built for when the data does not fix it (user corpora can have huge lines). */
export const MAX_AUTO_LEN = 128;
/** At most this many examples are held out for validation (validation runs greedy decoding). */
export const VALID_CAP = 1000;

/** Encode the splits; pairs longer than the model can hold are skipped and counted. */
export function encodeAll(
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

/**
 * Keep the examples whose length (as `need` measures it) fits in maxLen — the fixed one, or the
 * longest needed up to MAX_AUTO_LEN — warning about the rest; returns the kept splits and maxLen.
 */
export function fitLength<S extends Record<string, EncodedPair[] | undefined>>(splits: S, need: (p: EncodedPair) => number, fixedMaxLen: number | undefined, reporter: Reporter): { splits: S; maxLen: number } {
  const all = Object.values(splits).flatMap((items) => items ?? []);
  const maxLen = fixedMaxLen ?? Math.min(maxOf(all.map(need)), MAX_AUTO_LEN);
  const kept = Object.fromEntries(
    Object.entries(splits).map(([name, items]) => {
      if (items === undefined) return [name, undefined];
      const fit = items.filter((p) => need(p) <= maxLen);
      if (fit.length < items.length) reporter.warn(`skipped ${items.length - fit.length} ${name} examples longer than maxLen ${maxLen} tokens (set --max-len to change it)`);
      return [name, fit];
    }),
  ) as S;
  if ((kept.train?.length ?? 1) === 0) throw new DataError(`no training examples fit in maxLen ${maxLen}`);
  if ((kept.valid?.length ?? 1) === 0) throw new DataError(`no validation examples fit in maxLen ${maxLen}`);
  return { splits: kept, maxLen };
}

/** Finite data: epochs of length-bucketed batches, the order of epoch e fixed by (seed, e). */
export function epochData(items: EncodedPair[], seed: number): PreparedData['train'] {
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

/**
 * A parallel corpus in three parts: training, validation (checkpoints, early stopping) and test
 * (reported once at the end, never used for a choice). Each is a file given, or a held-out share
 * of the training file, whole groups of pairs sharing a source on one side, at most 1,000 pairs.
 */
export function corpusThreeSplits(
  files: { train: string; valid?: string; test?: string },
  fraction: number | undefined,
  seed: number,
  reporter: Reporter,
  read: (file: string) => { pairs: Pair[]; skipped: string; sha256: string },
): { train: Pair[]; valid: Pair[]; test: Pair[]; sha256: DataHashes & { test?: string } } {
  const corpus = read(files.train);
  if (corpus.skipped !== '') reporter.warn(`${basename(files.train)}: ${corpus.skipped}`);
  let pairs = corpus.pairs;
  const share = fraction ?? 0.05;
  const part = (given: string | undefined, what: string, salt: number) => {
    if (given !== undefined) return readCapped(given, what, reporter, read);
    const split = holdOut(pairs, share, mixSeed(seed, salt), VALID_CAP);
    pairs = split.train;
    return { pairs: split.valid, sha256: undefined };
  };
  const test = part(files.test, 'testing', 1);
  const valid = part(files.valid, 'validating', 2);
  return {
    train: pairs,
    valid: valid.pairs,
    test: test.pairs,
    sha256: { train: corpus.sha256, ...(valid.sha256 ? { valid: valid.sha256 } : {}), ...(test.sha256 ? { test: test.sha256 } : {}) },
  };
}

/** The pairs of a --valid or --test file, the first 1,000 when it has more. */
function readCapped(file: string, what: string, reporter: Reporter, read: (file: string) => { pairs: Pair[]; skipped: string; sha256: string }): { pairs: Pair[]; sha256: string } {
  const v = read(file);
  if (v.skipped !== '') reporter.warn(`${basename(file)}: ${v.skipped}`);
  if (v.pairs.length <= VALID_CAP) return v;
  reporter.info(`${what} on the first ${VALID_CAP} of ${v.pairs.length} pairs of ${basename(file)}`);
  return { pairs: v.pairs.slice(0, VALID_CAP), sha256: v.sha256 };
}

/** Two aligned files as pairs, read once (see `readAlignedCorpus`). */
export function readAlignedPairs(source: string, target: string): { pairs: Pair[]; skipped: string; sha256: string } {
  const corpus = readAlignedCorpus(source, target);
  return { pairs: corpus.pairs, skipped: describeSkips(corpus), sha256: corpus.sha256 };
}

/** A TSV corpus as pairs, read once: its skipped lines described, and the hash of the bytes parsed. */
export function readPairs(file: string): { pairs: Pair[]; skipped: string; sha256: string } {
  const corpus = readCorpus(file);
  return { pairs: corpus.pairs, skipped: describeSkips(corpus), sha256: corpus.sha256 };
}

/** Resuming: say when the training file is not what the run started on (training goes on with it). */
export function warnIfChanged(file: string, sha256: DataHashes, options: PrepareOptions, reporter: Reporter): void {
  const started = options.expect?.sha256?.train;
  if (started !== undefined && started !== sha256.train) {
    reporter.warn(`${file} changed since this run started; training continues on its current content`);
  }
}
