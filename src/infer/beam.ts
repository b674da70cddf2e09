import * as tf from '@tensorflow/tfjs';
import type { SpecialIds } from '../data/batching.js';
import type { Generation } from '../model/model.js';
import { decodeInChunks, type Generator, type GreedyResult } from './greedy.js';
import { bannedNext } from './guard.js';

export interface BeamOptions {
  /** Hypotheses kept at each step (K). */
  beam: number;
  /** Longest output, in tokens (eos not counted). */
  maxLen: number;
  /** A lower limit per prompt (same order as the prompts), e.g. from `outputLimit`; `maxLen` still applies. */
  maxLens?: readonly number[];
  /** α of the length penalty ((5 + length) / 6)^α that final scores are divided by. Default: 0.6. */
  lengthPenalty?: number;
  /** No n-gram of this length may appear twice in an output (off when absent or 0). */
  noRepeatNgram?: number;
  /** Prompts searched together, each with up to K rows in the model's batch. Default: 32. */
  batchSize?: number;
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

/** The search for one prompt: its live hypotheses (rows of the batch, in order) and the finished ones. */
interface Search {
  alive: Hypothesis[];
  finished: Hypothesis[];
  /** Steps this prompt may take. */
  limit: number;
  /** The token fed first for this prompt. */
  first: number;
}

/** A beam candidate: a parent hypothesis's batch row and the token appended. */
export interface Candidate {
  /** Row of the batch the parent hypothesis sits in. */
  row: number;
  token: number;
  total: number;
  tokenLogProb: number;
}

/**
 * Beam search for one prompt (a source ending with eos, or a decoder-only prompt): keep the K most probable partial
 * outputs; a hypothesis that chooses eos is finished. The K best continuations are chosen among all
 * K × V, so with K = 1 this is exactly greedy decoding. The finished hypothesis with the best
 * length-penalised score wins.
 */
export async function beamSearch(model: Generator, prompt: readonly number[], ids: SpecialIds, options: BeamOptions): Promise<BeamResult> {
  return (await beamSearchBatch(model, [[...prompt]], ids, { ...options, maxLens: options.maxLens?.slice(0, 1) }))[0]!;
}

/**
 * Beam search for many prompts at once: the live hypotheses of every prompt of a chunk (up to
 * `batchSize` prompts × K) form one batch, so each step is one call of the model instead of one per
 * prompt. Each prompt's search is exactly `beamSearch` on its own (the same choices, the same ties);
 * prompts of one length go together, as in greedy decoding, so no row is padded.
 */
export async function beamSearchBatch(model: Generator, prompts: readonly number[][], ids: SpecialIds, options: BeamOptions): Promise<BeamResult[]> {
  return decodeInChunks(prompts, options.batchSize ?? 32, options, (chunk, limits) => searchChunk(model, chunk, limits, ids, options));
}

async function searchChunk(model: Generator, prompts: readonly number[][], limits: readonly number[], ids: SpecialIds, options: BeamOptions): Promise<BeamResult[]> {
  const k = Math.max(1, Math.floor(options.beam));
  const penalty = lengthPenalty(options.lengthPenalty);
  let generation: Generation | undefined;
  let searches: Search[] = [];
  try {
    generation = model.startGeneration(prompts);
    const g = generation;
    searches = prompts.map((_, i) => ({ alive: [{ ids: [], scores: [], logProb: 0 }], finished: [], limit: Math.max(0, Math.min(limits[i]!, g.capacity)), first: g.first[i]! }));
    // Row i of the batch is prompt i; a prompt allowed no token is finished before the first step.
    let rows = searches.flatMap((s, i) => (s.limit > 0 ? [i] : []));
    for (const s of searches) if (s.limit === 0) finish(s);
    for (let step = 0; rows.length > 0; step++) {
      if (!isIdentity(rows, g.rows)) g.select(rows);
      const active = searches.filter((s) => s.alive.length > 0);
      const { logits } = g.step(active.flatMap((s) => s.alive.map((h) => (h.ids.length === 0 ? s.first : h.ids[h.ids.length - 1]!))));
      const vocab = logits.shape[1];
      const logpT = tf.logSoftmax(logits);
      logits.dispose();
      // Read asynchronously: a GPU backend cannot read a tensor synchronously.
      const logp = await logpT.data();
      logpT.dispose();
      rows = [];
      let base = 0;
      for (const s of active) {
        const candidates = topCandidates(s.alive, logp, base, vocab, k, options.noRepeatNgram);
        const next: Hypothesis[] = [];
        const kept: number[] = [];
        for (const c of candidates) {
          const parent = s.alive[c.row - base]!;
          const hyp = { ids: [...parent.ids], scores: [...parent.scores, c.tokenLogProb], logProb: c.total };
          if (c.token === ids.eos) {
            s.finished.push(hyp);
          } else {
            hyp.ids.push(c.token);
            next.push(hyp);
            kept.push(c.row);
          }
        }
        base += s.alive.length;
        s.alive = next;
        // At most `limit` tokens, like greedy decoding: hypotheses still going then end without eos.
        if (step + 1 >= s.limit) finish(s);
        else rows.push(...kept);
      }
    }
  } finally {
    generation?.dispose();
  }
  return searches.map((s) => {
    const ranked = s.finished.map((h) => ({ h, score: h.logProb / penalty(h.scores.length) }));
    ranked.sort((a, b) => b.score - a.score);
    const best = ranked[0]!;
    return { ids: best.h.ids, scores: best.h.scores, score: best.score };
  });
}

/** The divisor of a finished hypothesis's log-probability: ((5 + length) / 6)^α, α 0.6 by default. */
export function lengthPenalty(alpha = 0.6): (length: number) => number {
  return (length) => Math.pow((5 + length) / 6, alpha);
}

/** The live hypotheses end as they are. */
function finish(s: Search): void {
  s.finished.push(...s.alive);
  s.alive = [];
}

function isIdentity(rows: readonly number[], count: number): boolean {
  return rows.length === count && rows.every((r, i) => r === i);
}

/**
 * The k best (row, token) continuations of one prompt's hypotheses (batch rows base … base + n − 1
 * of the flat (rows, V) log-probabilities) by total log-probability; ties keep the lower row and
 * token. Tokens that would repeat an n-gram are never candidates.
 */
export function topCandidates(alive: readonly Pick<Hypothesis, 'ids' | 'logProb'>[], logp: ArrayLike<number>, base: number, vocab: number, k: number, noRepeatNgram?: number): Candidate[] {
  const out: Candidate[] = [];
  alive.forEach((h, i) => {
    const row = base + i;
    const banned = bannedNext(h.ids, noRepeatNgram);
    const offset = row * vocab;
    for (let token = 0; token < vocab; token++) {
      const lp = logp[offset + token]!;
      const total = h.logProb + lp;
      if (out.length >= k && !(total > out[out.length - 1]!.total)) continue;
      if (banned.has(token)) continue;
      // Candidates come in (row, token) order, so a tie goes after the ones already kept.
      let at = out.length;
      while (at > 0 && out[at - 1]!.total < total) at--;
      out.splice(at, 0, { row, token, total, tokenLogProb: lp });
      if (out.length > k) out.pop();
    }
  });
  return out;
}
