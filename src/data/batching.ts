import * as tf from '@tensorflow/tfjs';
import { maxOf } from '../util/objects.js';
import type { Random } from '../util/random.js';

/** A pair as token ids: `src` ends with eos; `tgt` is the bare target (bos/eos are added per batch). */
export interface EncodedPair {
  src: number[];
  tgt: number[];
}

export interface SpecialIds {
  pad: number;
  bos: number;
  eos: number;
}

/** Batch tensors; see `Batch` in train/step.ts. */
export interface BatchTensors {
  src: tf.Tensor2D;
  tgtIn: tf.Tensor2D;
  tgtOut: tf.Tensor2D;
}

/** Pad a list of pairs into tensors: src (B, Ts), tgtIn = [bos, …tgt] and tgtOut = [...tgt, eos], (B, Tt). */
export function makeBatch(items: readonly EncodedPair[], ids: SpecialIds): BatchTensors {
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

/** Number of target tokens a batch trains on (targets plus eos). */
export function targetTokens(items: readonly EncodedPair[]): number {
  return items.reduce((n, p) => n + p.tgt.length + 1, 0);
}
