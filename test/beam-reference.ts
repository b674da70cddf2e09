import * as tf from '@tensorflow/tfjs';
import type { SpecialIds } from '../src/data/batching.js';
import type { Generation } from '../src/model/model.js';
import type { Generator } from '../src/infer/greedy.js';

/**
 * The reference the batched beam search is tested against: beam search for one prompt at a time,
 * K rows through the model per step, as the library did it before searching many prompts together.
 * No-repeat n-grams are checked here by a plain scan of every earlier position.
 */
export async function referenceBeamSearch(
  model: Generator,
  prompt: readonly number[],
  ids: SpecialIds,
  options: { beam: number; maxLen: number; lengthPenalty?: number; noRepeatNgram?: number },
): Promise<{ ids: number[]; scores: number[]; score: number }> {
  interface Hypothesis {
    ids: number[];
    scores: number[];
    logProb: number;
  }
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
    for (let step = 0; step < limit && alive.length > 0; step++) {
      const { logits } = decoder.step(alive.map((h) => (h.ids.length === 0 ? first : h.ids[h.ids.length - 1]!)));
      const logpT = tf.logSoftmax(logits);
      logits.dispose();
      const logp = (await logpT.array()) as number[][];
      logpT.dispose();
      const out: { row: number; token: number; total: number; tokenLogProb: number }[] = [];
      alive.forEach((h, row) => {
        logp[row]!.forEach((lp, token) => {
          if (repeats([...h.ids, token], options.noRepeatNgram ?? 0)) return;
          const total = h.logProb + lp;
          if (out.length < k || total > out[out.length - 1]!.total) {
            out.push({ row, token, total, tokenLogProb: lp });
            out.sort((a, b) => b.total - a.total || a.row - b.row || a.token - b.token);
            if (out.length > k) out.pop();
          }
        });
      });
      const next: Hypothesis[] = [];
      const rows: number[] = [];
      for (const c of out) {
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

/** Does the last n-gram of `seq` (eos excluded by the caller's choice of tokens) occur earlier in it? */
export function repeats(seq: readonly number[], n: number): boolean {
  if (n < 1 || seq.length < n) return false;
  const last = seq.slice(-n).join(',');
  for (let i = 0; i + n < seq.length; i++) if (seq.slice(i, i + n).join(',') === last) return true;
  return false;
}

/** Does any n-gram occur twice in `seq`? */
export function hasRepeatedNgram(seq: readonly number[], n: number): boolean {
  const seen = new Set<string>();
  for (let i = 0; i + n <= seq.length; i++) {
    const g = seq.slice(i, i + n).join(',');
    if (seen.has(g)) return true;
    seen.add(g);
  }
  return false;
}
