import * as tf from '@tensorflow/tfjs';
import type { SpecialIds } from '../data/batching.js';
import type { Transformer } from '../model/transformer.js';
import { maxOf } from '../util/objects.js';
import { IncrementalDecoder } from './incremental.js';

export interface GreedyOptions {
  /** Longest output, in tokens (eos not counted). */
  maxLen: number;
  /** Sentences decoded together. Default: 128. */
  batchSize?: number;
  /** Use the key/value cache (default). `false` re-runs the decoder on the whole prefix at every step. */
  cache?: boolean;
}

export interface GreedyResult {
  /** Output ids without bos/eos. */
  ids: number[];
  /** Log-probability of each chosen token (eos included when produced). */
  scores: number[];
}

/**
 * Greedy decoding: at every step append the most likely next token, until each sentence has
 * produced eos or `maxLen` tokens. Sources are id arrays (ending with eos); returns the output ids
 * without bos/eos.
 */
export function greedyDecode(model: Transformer, sources: readonly number[][], ids: SpecialIds, options: GreedyOptions): number[][] {
  return greedyDecodeScored(model, sources, ids, options).map((r) => r.ids);
}

/** `greedyDecode` with the log-probability of every chosen token. */
export function greedyDecodeScored(model: Transformer, sources: readonly number[][], ids: SpecialIds, options: GreedyOptions): GreedyResult[] {
  const batchSize = options.batchSize ?? 128;
  const limit = Math.max(0, Math.min(options.maxLen, model.config.maxLen - 1));
  const results: GreedyResult[] = [];
  for (let start = 0; start < sources.length; start += batchSize) {
    const chunk = sources.slice(start, start + batchSize);
    results.push(...decodeChunk(model, chunk, ids, limit, options.cache ?? true));
  }
  return results;
}

/** Pad sources into a (B, Ts) int32 tensor. */
export function sourceTensor(sources: readonly number[][], pad: number): tf.Tensor2D {
  const ts = maxOf(sources.map((s) => s.length));
  const data = new Int32Array(sources.length * ts).fill(pad);
  sources.forEach((s, i) => data.set(s, i * ts));
  return tf.tensor2d(data, [sources.length, ts], 'int32');
}

/** Encode padded sources: memory (B, Ts, d) and its mask; nothing else is left allocated, even on error. */
export function encodeSources(model: Transformer, sources: readonly number[][], pad: number): { memory: tf.Tensor; memoryMask: tf.Tensor } {
  const src = sourceTensor(sources, pad);
  try {
    const { memory, memoryMask } = model.encode(src);
    return { memory, memoryMask };
  } finally {
    src.dispose();
  }
}

function decodeChunk(model: Transformer, sources: readonly number[][], ids: SpecialIds, limit: number, cached: boolean): GreedyResult[] {
  const b = sources.length;
  const results: GreedyResult[] = sources.map(() => ({ ids: [], scores: [] }));
  const done = new Array<boolean>(b).fill(false);
  const { memory, memoryMask } = encodeSources(model, sources, ids.pad);
  let decoder: IncrementalDecoder | undefined;
  let last = new Array<number>(b).fill(ids.bos);
  try {
    decoder = cached ? new IncrementalDecoder(model, memory, memoryMask) : undefined;
    // At most `limit` tokens: a sentence still going after that stops without eos.
    for (let step = 0; step < limit && done.includes(false); step++) {
      // A finished row keeps being fed (its outputs are ignored) so the batch stays rectangular.
      const logits = decoder ? decoder.step(last).logits : prefixLogits(model, results, ids, memory, memoryMask, step);
      const [best, logProb] = tf.tidy(() => {
        const logp = tf.logSoftmax(logits);
        return [tf.argMax(logp, -1).dataSync(), tf.max(logp, -1).dataSync()];
      });
      logits.dispose();
      last = Array.from(best, (id, i) => {
        if (done[i]) return ids.pad;
        results[i]!.scores.push(logProb[i]!);
        if (id === ids.eos) done[i] = true;
        else results[i]!.ids.push(id);
        return id;
      });
    }
  } finally {
    decoder?.dispose();
    tf.dispose([memory, memoryMask]);
  }
  return results;
}

/** Without a cache: decode the whole prefix [bos, …outputs] and take the last position's logits (B, Vt). */
function prefixLogits(model: Transformer, results: GreedyResult[], ids: SpecialIds, memory: tf.Tensor, memoryMask: tf.Tensor, step: number): tf.Tensor2D {
  return tf.tidy(() => {
    const rows = results.map((r) => [ids.bos, ...r.ids.slice(0, step), ...new Array<number>(Math.max(0, step - r.ids.length)).fill(ids.pad)]);
    const prefix = tf.tensor2d(rows, [rows.length, step + 1], 'int32');
    const { hidden } = model.decode(prefix, memory, memoryMask);
    const lastRow = tf.slice(hidden, [0, step, 0], [rows.length, 1, -1]); // (B, 1, d)
    return tf.reshape(model.project(lastRow), [rows.length, -1]) as tf.Tensor2D;
  });
}
