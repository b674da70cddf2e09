import * as tf from '@tensorflow/tfjs';
import type { SpecialIds } from '../data/batching.js';
import type { Generation, GenerationOptions } from '../model/model.js';
import { bannedNext } from './guard.js';

/** A model that writes text: the encoder–decoder (prompt = source) and the decoder-only model (prompt = its start). */
export interface Generator {
  startGeneration(prompts: readonly number[][], options?: GenerationOptions): Generation;
}

export interface GreedyOptions {
  /** Longest output, in tokens (eos not counted). */
  maxLen: number;
  /** A lower limit per prompt (same order as the prompts), e.g. from `outputLimit`; `maxLen` still applies. */
  maxLens?: readonly number[];
  /** No n-gram of this length may appear twice in an output (off when absent or 0). */
  noRepeatNgram?: number;
  /** Prompts decoded together. Default: 128. */
  batchSize?: number;
  /** Use the key/value cache (default). `false` re-runs the model on the whole prefix at every step. */
  cache?: boolean;
}

export interface GreedyResult {
  /** Output ids without bos/eos. */
  ids: number[];
  /** Log-probability of each chosen token (eos included when produced). */
  scores: number[];
}

/**
 * Greedy decoding: at every step append the most likely next token, until each prompt has
 * produced eos or `maxLen` tokens. Prompts are id arrays (an encoder–decoder's sources end with
 * eos; a decoder-only model's prompts start with bos); returns the output ids without eos.
 */
export async function greedyDecode(model: Generator, prompts: readonly number[][], ids: SpecialIds, options: GreedyOptions): Promise<number[][]> {
  return (await greedyDecodeScored(model, prompts, ids, options)).map((r) => r.ids);
}

/** `greedyDecode` with the log-probability of every chosen token. */
export async function greedyDecodeScored(model: Generator, prompts: readonly number[][], ids: SpecialIds, options: GreedyOptions): Promise<GreedyResult[]> {
  return decodeInChunks(prompts, options.batchSize ?? 128, options, (chunk, limits) => decodeChunk(model, chunk, ids, limits, options));
}

/**
 * Decode prompts chunk by chunk and put the results back in the prompts' order. Prompts of one
 * length go together: every row of a batch then sits at the same position. `decode` gets a
 * chunk's prompts and their output limits (`maxLen`, lowered by `maxLens`).
 */
export async function decodeInChunks<R>(
  prompts: readonly number[][],
  batchSize: number,
  limits: { maxLen: number; maxLens?: readonly number[] },
  decode: (chunk: number[][], limits: number[]) => Promise<R[]>,
): Promise<R[]> {
  const size = Math.max(1, Math.floor(batchSize));
  const results = new Array<R>(prompts.length);
  for (const group of groupByLength(prompts)) {
    for (let start = 0; start < group.length; start += size) {
      const chunk = group.slice(start, start + size);
      const decoded = await decode(chunk.map((i) => prompts[i]!), chunk.map((i) => Math.min(limits.maxLen, limits.maxLens?.[i] ?? Infinity)));
      chunk.forEach((i, j) => (results[i] = decoded[j]!));
    }
  }
  return results;
}

/** Indices of the prompts, grouped by prompt length (groups in order of first appearance). */
export function groupByLength(prompts: readonly number[][]): number[][] {
  const groups = new Map<number, number[]>();
  prompts.forEach((p, i) => {
    const g = groups.get(p.length);
    if (g) g.push(i);
    else groups.set(p.length, [i]);
  });
  return [...groups.values()];
}

async function decodeChunk(model: Generator, prompts: readonly number[][], ids: SpecialIds, limits: readonly number[], options: GreedyOptions): Promise<GreedyResult[]> {
  const b = prompts.length;
  const results: GreedyResult[] = prompts.map(() => ({ ids: [], scores: [] }));
  const generation = model.startGeneration(prompts, { cache: options.cache ?? true });
  // At most `limit` tokens per row: a sequence still going after that stops without eos.
  const rowLimits = limits.map((l) => Math.max(0, Math.min(l, generation.capacity)));
  const done = rowLimits.map((l) => l === 0);
  const guard = (options.noRepeatNgram ?? 0) > 0;
  let last = [...generation.first];
  try {
    for (let step = 0; done.includes(false); step++) {
      // A finished row keeps being fed (its outputs are ignored) so the batch stays rectangular.
      const { logits } = generation.step(last);
      const picked = guard ? await pickUnrepeated(logits, results, done, options.noRepeatNgram!) : await pickBest(logits);
      logits.dispose();
      last = picked.best.map((id, i) => {
        if (done[i]) return ids.pad;
        results[i]!.scores.push(picked.logProb[i]!);
        if (id === ids.eos) done[i] = true;
        else {
          results[i]!.ids.push(id);
          if (step + 1 >= rowLimits[i]!) done[i] = true;
        }
        return id;
      });
    }
  } finally {
    generation.dispose();
  }
  return results;
}

/** The most likely next token of every row and its log-probability. */
async function pickBest(logits: tf.Tensor2D): Promise<{ best: number[]; logProb: number[] }> {
  const [bestT, logProbT] = tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    return [tf.argMax(logp, -1), tf.max(logp, -1)];
  });
  // Read asynchronously: a GPU backend cannot read a tensor synchronously.
  const [best, logProb] = await Promise.all([bestT.data(), logProbT.data()]);
  tf.dispose([bestT, logProbT]);
  return { best: Array.from(best), logProb: Array.from(logProb) };
}

/** The most likely next token of every live row that repeats no n-gram of its output (first of equals). */
async function pickUnrepeated(logits: tf.Tensor2D, results: readonly GreedyResult[], done: readonly boolean[], n: number): Promise<{ best: number[]; logProb: number[] }> {
  const [rows, vocab] = logits.shape;
  const logpT = tf.logSoftmax(logits);
  const logp = await logpT.data();
  logpT.dispose();
  const best = new Array<number>(rows).fill(0);
  const logProb = new Array<number>(rows).fill(-Infinity);
  for (let r = 0; r < rows; r++) {
    if (done[r]) continue;
    const banned = bannedNext(results[r]!.ids, n);
    for (let t = 0; t < vocab; t++) {
      const lp = logp[r * vocab + t]!;
      if (lp > logProb[r]! && !banned.has(t)) {
        best[r] = t;
        logProb[r] = lp;
      }
    }
  }
  return { best, logProb };
}
