import * as tf from '@tensorflow/tfjs';
import type { Batch, ClassificationBatch, LanguageModelBatch, MaskedLanguageModelBatch, Objective, Seq2SeqBatch } from '../model/model.js';
import { maxOf } from '../util/objects.js';
import type { Random } from '../util/random.js';

/**
 * One training example as token ids. What `src` and `tgt` hold depends on the objective:
 * - seq2seq: the source ending with eos; the bare target (bos/eos are added per batch);
 * - lm: the prompt, not scored (empty for plain text); the continuation, scored, then eos;
 * - masked-lm: the corrupted sequence; the original ids where scored, padId elsewhere;
 * - classify: the sequence starting with [CLS]; [label].
 */
export interface EncodedPair {
  src: number[];
  tgt: number[];
}
export type Example = EncodedPair;

export interface SpecialIds {
  pad: number;
  bos: number;
  eos: number;
}

/** Pad a list of pairs into tensors: src (B, Ts), tgtIn = [bos, …tgt] and tgtOut = [...tgt, eos], (B, Tt). */
export function makeBatch(items: readonly EncodedPair[], ids: SpecialIds): Seq2SeqBatch {
  const ts = maxOf(items.map((p) => p.src.length));
  const tt = maxOf(items.map((p) => p.tgt.length)) + 1;
  const src = new Int32Array(items.length * ts).fill(ids.pad);
  const tgtIn = new Int32Array(items.length * tt).fill(ids.pad);
  const tgtOut = new Int32Array(items.length * tt).fill(ids.pad);
  items.forEach((p, i) => {
    src.set(p.src, i * ts);
    tgtIn[i * tt] = ids.bos;
    tgtIn.set(p.tgt, i * tt + 1);
    tgtOut.set(p.tgt, i * tt);
    tgtOut[i * tt + p.tgt.length] = ids.eos;
  });
  return {
    kind: 'seq2seq',
    src: tf.tensor2d(src, [items.length, ts], 'int32'),
    tgtIn: tf.tensor2d(tgtIn, [items.length, tt], 'int32'),
    tgtOut: tf.tensor2d(tgtOut, [items.length, tt], 'int32'),
  };
}

/**
 * One epoch of batches with length bucketing: shuffle, sort chunks of 32 batches by length so each
 * batch holds similar lengths (little padding), cut into batches, then shuffle the batch order.
 */
export function bucketedBatches<T extends EncodedPair>(items: readonly T[], batchSize: number, random: Random): T[][] {
  const order = random.shuffle([...items]);
  const chunk = batchSize * 32;
  const batches: T[][] = [];
  for (let start = 0; start < order.length; start += chunk) {
    const sorted = order.slice(start, start + chunk).sort((a, b) => a.src.length + a.tgt.length - (b.src.length + b.tgt.length));
    for (let i = 0; i < sorted.length; i += batchSize) batches.push(sorted.slice(i, i + batchSize));
  }
  return random.shuffle(batches);
}

/** Number of target tokens a seq2seq or lm batch trains on (targets plus eos). */
export function targetTokens(items: readonly EncodedPair[]): number {
  return items.reduce((n, p) => n + p.tgt.length + 1, 0);
}

/**
 * Causal LM batch: each sequence is [bos, …prompt, …continuation, eos]; the input is all but its
 * last id, the target at t is the id at t + 1, and targets inside the prompt are padId (not scored).
 */
export function makeLanguageModelBatch(items: readonly Example[], ids: SpecialIds): LanguageModelBatch {
  const t = maxOf(items.map((p) => p.src.length + p.tgt.length + 1));
  const input = new Int32Array(items.length * t).fill(ids.pad);
  const target = new Int32Array(items.length * t).fill(ids.pad);
  items.forEach((p, i) => {
    const seq = [ids.bos, ...p.src, ...p.tgt, ids.eos];
    input.set(seq.slice(0, -1), i * t);
    target.set(seq.slice(p.src.length + 1), i * t + p.src.length);
  });
  return { kind: 'lm', ids: tf.tensor2d(input, [items.length, t], 'int32'), targets: tf.tensor2d(target, [items.length, t], 'int32') };
}

/** Masked-LM batch: the corrupted ids and the scored originals, both padded. */
export function makeMaskedBatch(items: readonly Example[], ids: SpecialIds): MaskedLanguageModelBatch {
  const t = maxOf(items.map((p) => p.src.length));
  const input = new Int32Array(items.length * t).fill(ids.pad);
  const target = new Int32Array(items.length * t).fill(ids.pad);
  items.forEach((p, i) => {
    input.set(p.src, i * t);
    target.set(p.tgt.slice(0, t), i * t);
  });
  return { kind: 'masked-lm', ids: tf.tensor2d(input, [items.length, t], 'int32'), targets: tf.tensor2d(target, [items.length, t], 'int32') };
}

/** Classification batch: padded ids (B, T) and one label per sequence (B). */
export function makeClassificationBatch(items: readonly Example[], ids: SpecialIds): ClassificationBatch {
  const t = maxOf(items.map((p) => p.src.length));
  const input = new Int32Array(items.length * t).fill(ids.pad);
  items.forEach((p, i) => input.set(p.src, i * t));
  return {
    kind: 'classify',
    ids: tf.tensor2d(input, [items.length, t], 'int32'),
    labels: tf.tensor1d(Int32Array.from(items.map((p) => p.tgt[0]!)), 'int32'),
  };
}

/** How an objective turns examples into a batch. */
export interface Batcher {
  make(items: readonly Example[], ids: SpecialIds): Batch;
  /** How many scored targets the examples hold (the weight of their mean loss). */
  targets(items: readonly Example[], ids: SpecialIds): number;
  /** How many positions an example takes in its row of a batch (a batch is rows × the longest). */
  length(item: Example): number;
}

/** How each objective turns examples into a batch, how many scored targets they hold, how long a row is. */
export const BATCHERS: Record<Objective, Batcher> = {
  seq2seq: { make: makeBatch, targets: (items) => targetTokens(items), length: (p) => Math.max(p.src.length, p.tgt.length + 1) },
  lm: { make: makeLanguageModelBatch, targets: (items) => targetTokens(items), length: (p) => p.src.length + p.tgt.length + 1 },
  'masked-lm': { make: makeMaskedBatch, targets: (items, ids) => items.reduce((n, p) => n + p.tgt.filter((t) => t !== ids.pad).length, 0), length: (p) => p.src.length },
  classify: { make: makeClassificationBatch, targets: (items) => items.length, length: (p) => p.src.length },
};

/** Padded size of a batch of `items`: rows × the longest row. */
export function paddedTokens(items: readonly Example[], length: (item: Example) => number): number {
  let longest = 0;
  for (const p of items) longest = Math.max(longest, length(p));
  return items.length * longest;
}

/**
 * Cut a batch into pieces of at most `maxTokens` padded tokens (rows × the piece's longest row),
 * so that a few long examples never need the memory of a whole batch of them: longest first, each
 * piece filled while it stays within the budget; an example longer than the budget goes alone.
 * A batch within the budget comes back whole, in its order. Infinity (or 0): never cut.
 */
export function splitByTokens<T extends Example>(items: readonly T[], maxTokens: number, length: (item: Example) => number): T[][] {
  if (!(maxTokens > 0) || paddedTokens(items, length) <= maxTokens) return [[...items]];
  const sorted = [...items].sort((a, b) => length(b) - length(a));
  const pieces: T[][] = [];
  let piece: T[] = [];
  for (const item of sorted) {
    // Sorted longest first, so a piece's first example is its longest.
    if (piece.length > 0 && (piece.length + 1) * length(piece[0]!) > maxTokens) {
      pieces.push(piece);
      piece = [];
    }
    piece.push(item);
  }
  pieces.push(piece);
  return pieces;
}

/** Free a batch's tensors. */
export function disposeBatch(batch: Batch): void {
  tf.dispose(Object.values(batch).filter((v): v is tf.Tensor => v instanceof tf.Tensor));
}
