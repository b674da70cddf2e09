import * as tf from '@tensorflow/tfjs';
import type { SpecialIds } from '../data/batching.js';
import type { Generation } from '../model/model.js';
import type { Generator, GreedyResult } from './greedy.js';

export interface BeamOptions {
  /** Hypotheses kept at each step (K). */
  beam: number;
  /** Longest output, in tokens (eos not counted). */
  maxLen: number;
  /** α of the length penalty ((5 + length) / 6)^α that final scores are divided by. Default: 0.6. */
  lengthPenalty?: number;
}

export interface BeamResult extends GreedyResult {
  /** Sum of token log-probabilities divided by the length penalty. */
  score: number;
}

interface Hypothesis {
  ids: number[];
  scores: number[];
  logProb: number;
}

/**
 * Beam search for one prompt (a source ending with eos, or a decoder-only prompt): keep the K most probable partial
 * outputs; a hypothesis that chooses eos is finished. The K best continuations are chosen among all
 * K × V, so with K = 1 this is exactly greedy decoding. The finished hypothesis with the best
 * length-penalised score wins.
 */
export async function beamSearch(model: Generator, prompt: readonly number[], ids: SpecialIds, options: BeamOptions): Promise<BeamResult> {
  const k = Math.max(1, Math.floor(options.beam));
  const alpha = options.lengthPenalty ?? 0.6;
  const penalty = (length: number) => Math.pow((5 + length) / 6, alpha);
  let decoder: Generation | undefined;
  let alive: Hypothesis[] = [{ ids: [], scores: [], logProb: 0 }];
  const finished: Hypothesis[] = [];
  try {
    decoder = model.startGeneration([[...prompt]]);
    const first = decoder.first[0]!;
    const limit = Math.max(0, Math.min(options.maxLen, decoder.capacity));
    // At most `limit` tokens, like greedy decoding: hypotheses still going then end without eos.
    for (let step = 0; step < limit && alive.length > 0; step++) {
      const { logits } = decoder.step(alive.map((h) => (h.ids.length === 0 ? first : h.ids[h.ids.length - 1]!)));
      const logpT = tf.logSoftmax(logits);
      logits.dispose();
      const logp = (await logpT.array()) as number[][];
      logpT.dispose();
      const candidates = topCandidates(alive, logp, k);
      const next: Hypothesis[] = [];
      const rows: number[] = [];
      for (const c of candidates) {
        const parent = alive[c.row]!;
        const hyp = { ids: [...parent.ids], scores: [...parent.scores, c.tokenLogProb], logProb: c.total };
        if (c.token === ids.eos) {
          finished.push(hyp);
        } else {
          hyp.ids.push(c.token);
          next.push(hyp);
          rows.push(c.row);
        }
      }
      alive = next;
      if (alive.length > 0) decoder.select(rows);
    }
    finished.push(...alive);
  } finally {
    decoder?.dispose();
  }
  const ranked = finished.map((h) => ({ h, score: h.logProb / penalty(h.scores.length) }));
  ranked.sort((a, b) => b.score - a.score);
  const best = ranked[0]!;
  return { ids: best.h.ids, scores: best.h.scores, score: best.score };
}

/** The k best (row, token) continuations by total log-probability; ties keep the lower row and token. */
function topCandidates(alive: readonly Hypothesis[], logp: number[][], k: number) {
  const out: { row: number; token: number; total: number; tokenLogProb: number }[] = [];
  alive.forEach((h, row) => {
    logp[row]!.forEach((lp, token) => {
      const total = h.logProb + lp;
      if (out.length < k || total > out[out.length - 1]!.total) {
        out.push({ row, token, total, tokenLogProb: lp });
        out.sort((a, b) => b.total - a.total || a.row - b.row || a.token - b.token);
        if (out.length > k) out.pop();
      }
    });
  });
  return out;
}
