import * as tf from '@tensorflow/tfjs';
import type { SpecialIds } from '../data/batching.js';
import type { Generation, GenerationOptions } from '../model/model.js';

/** A model that writes text: the encoder–decoder (prompt = source) and the decoder-only model (prompt = its start). */
export interface Generator {
  startGeneration(prompts: readonly number[][], options?: GenerationOptions): Generation;
}

export interface GreedyOptions {
  /** Longest output, in tokens (eos not counted). */
  maxLen: number;
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
  const batchSize = options.batchSize ?? 128;
  const results = new Array<GreedyResult>(prompts.length);
  // Prompts of one length go together: every row of a batch then sits at the same position.
  for (const group of groupByLength(prompts)) {
    for (let start = 0; start < group.length; start += batchSize) {
      const chunk = group.slice(start, start + batchSize);
      const decoded = await decodeChunk(model, chunk.map((i) => prompts[i]!), ids, options.maxLen, options.cache ?? true);
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

async function decodeChunk(model: Generator, prompts: readonly number[][], ids: SpecialIds, maxLen: number, cache: boolean): Promise<GreedyResult[]> {
  const b = prompts.length;
  const results: GreedyResult[] = prompts.map(() => ({ ids: [], scores: [] }));
  const done = new Array<boolean>(b).fill(false);
  const generation = model.startGeneration(prompts, { cache });
  const limit = Math.max(0, Math.min(maxLen, generation.capacity));
  let last = [...generation.first];
  try {
    // At most `limit` tokens: a sequence still going after that stops without eos.
    for (let step = 0; step < limit && done.includes(false); step++) {
      // A finished row keeps being fed (its outputs are ignored) so the batch stays rectangular.
      const { logits } = generation.step(last);
      const [bestT, logProbT] = tf.tidy(() => {
        const logp = tf.logSoftmax(logits);
        return [tf.argMax(logp, -1), tf.max(logp, -1)];
      });
      logits.dispose();
      // Read asynchronously: a GPU backend cannot read a tensor synchronously.
      const [best, logProb] = await Promise.all([bestT.data(), logProbT.data()]);
      tf.dispose([bestT, logProbT]);
      last = Array.from(best as Int32Array, (id, i) => {
        if (done[i]) return ids.pad;
        results[i]!.scores.push(logProb[i]!);
        if (id === ids.eos) done[i] = true;
        else results[i]!.ids.push(id);
        return id;
      });
    }
  } finally {
    generation.dispose();
  }
  return results;
}
