import * as tf from '@tensorflow/tfjs';
import { BOS_ID, EOS_ID, PAD_ID, SEP, UNK } from '../data/tokenizer.js';
import { UsageError } from '../errors.js';
import { lengthPenalty, topCandidates } from '../infer/beam.js';
import { COMMANDS_OF, type LoadedModel } from '../infer/loaded.js';
import type { AttentionKind } from '../model/model.js';

export interface StepsOptions {
  /** Hypotheses kept at each step (1 = greedy). Default: 1. */
  beam?: number;
  /** Candidates shown per hypothesis and step. Default: 5. */
  topK?: number;
  /** α of the length penalty ((5 + length) / 6)^α that final scores are divided by (as `beamSearch`). Default: 0.6. */
  lengthPenalty?: number;
}

export interface StepCandidate {
  token: string;
  id: number;
  probability: number;
  /** The hypothesis' total log-probability with this token. */
  total: number;
  /** kept: continues; finished: chose eos and ends; pruned: among the best of its row but not of the beam. */
  fate: 'kept' | 'finished' | 'pruned';
}

export interface StepHypothesis {
  /** Tokens written so far (before this step). */
  tokens: string[];
  /** Sum of their log-probabilities. */
  logProb: number;
  /** What the step attended to, per layer and head, for the position it fed: cross-attention (encoder–decoder) or causal self-attention (decoder). */
  attention: number[][][];
  /** Its best next tokens. */
  candidates: StepCandidate[];
}

export interface DecodingStep {
  step: number;
  hypotheses: StepHypothesis[];
}

export interface StepsResult {
  text: string;
  /** The tokens the attention rows point at: the source (encoder–decoder) or the positions fed so far (decoder). */
  keys: string[];
  kind: AttentionKind;
  beam: number;
  steps: DecodingStep[];
  /** The output: the best finished hypothesis by length-penalised score (beam), or the greedy one. */
  output: string;
  tokens: string[];
  score: number;
}

/**
 * Decode one input step by step and keep what every step saw: each hypothesis' attention row,
 * its best candidates with their probabilities, and which continuations the beam kept, finished or
 * pruned. The K best continuations are chosen among all K × V as `beamSearch` does, so the output
 * is the same as `translate` / `generate` with that beam (beam 1: greedy).
 */
export async function decodeSteps(loaded: LoadedModel, text: string, options: StepsOptions = {}): Promise<StepsResult> {
  const model = loaded.model;
  if (model.startGeneration === undefined) throw new UsageError(`an ${model.arch} model does not write text: 'inspect steps' needs an encoder–decoder or a decoder (use ${COMMANDS_OF[model.arch]})`);
  const k = options.beam ?? 1;
  if (!(Number.isInteger(k) && k >= 1)) throw new UsageError(`--beam (${k}) must be a positive integer`);
  const topK = options.topK ?? 5;
  const maxLen = model.config.maxLen;
  const seq2seq = model.arch === 'encoder-decoder';
  const input = loaded.source;
  const output = loaded.target;
  let prompt: number[];
  if (seq2seq) {
    const encoded = input.encode(text, { eos: true });
    prompt = encoded.length <= maxLen ? encoded : [...encoded.slice(0, maxLen - 1), EOS_ID];
  } else {
    const sep = input.extraSpecials.includes(SEP) ? [input.special(SEP)] : [];
    prompt = [BOS_ID, ...input.encode(text), ...sep].slice(-(maxLen - 1));
    if (prompt[0] !== BOS_ID) prompt[0] = BOS_ID;
  }
  const kind: AttentionKind = seq2seq ? 'cross' : 'decoder';
  const name = (id: number) => output.vocab[id] ?? UNK;
  const keys = prompt.map((id) => input.vocab[id] ?? UNK);
  const penalty = lengthPenalty(options.lengthPenalty);
  interface Hyp {
    ids: number[];
    logProb: number;
    length: number;
  }
  let alive: Hyp[] = [{ ids: [], logProb: 0, length: 0 }];
  const finished: Hyp[] = [];
  const steps: DecodingStep[] = [];
  const generation = model.startGeneration([prompt]);
  try {
    const first = generation.first[0]!;
    const limit = Math.min(maxLen, generation.capacity);
    for (let step = 0; step < limit && alive.length > 0; step++) {
      const { logits, weights } = generation.step(
        alive.map((h) => (h.ids.length === 0 ? first : h.ids[h.ids.length - 1]!)),
        true,
      );
      const logpT = tf.tidy(() => tf.logSoftmax(logits));
      const vocab = logpT.shape[1]!;
      const logp = await logpT.data(); // (rows × V), flat
      const rows = await Promise.all((weights![kind] ?? []).map(async (w) => (await w.array()) as number[][][][])); // [layer](B, H, 1, Tk)
      tf.dispose([logits, logpT, ...Object.values(weights!).flat()]);
      // The K best (row, token) by total log-probability, chosen as beam search chooses them.
      const chosen = topCandidates(alive, logp, 0, vocab, k);
      const keep = new Set(chosen.map((c) => `${c.row}:${c.token}`));
      steps.push({
        step,
        hypotheses: alive.map((h, row) => ({
          tokens: h.ids.map(name),
          logProb: h.logProb,
          attention: rows.map((layer) => layer[row]!.map((head) => head[0]!)),
          candidates: Array.from(logp.subarray(row * vocab, (row + 1) * vocab))
            .map((lp, token) => ({ token, lp }))
            .sort((a, b) => b.lp - a.lp || a.token - b.token)
            .slice(0, Math.max(topK, 1))
            .map(({ token, lp }) => ({
              token: name(token),
              id: token,
              probability: Math.exp(lp),
              total: h.logProb + lp,
              fate: !keep.has(`${row}:${token}`) ? 'pruned' : token === EOS_ID ? 'finished' : 'kept',
            })),
        })),
      });
      const next: Hyp[] = [];
      const rowsKept: number[] = [];
      for (const c of chosen) {
        const parent = alive[c.row]!;
        const hyp = { ids: [...parent.ids], logProb: c.total, length: parent.length + 1 };
        if (c.token === EOS_ID) finished.push(hyp);
        else {
          hyp.ids.push(c.token);
          next.push(hyp);
          rowsKept.push(c.row);
        }
      }
      alive = next;
      if (alive.length > 0) generation.select(rowsKept);
    }
    finished.push(...alive);
  } finally {
    generation.dispose();
  }
  const ranked = finished.map((h) => ({ h, score: k === 1 ? h.logProb : h.logProb / penalty(h.length) }));
  ranked.sort((a, b) => b.score - a.score);
  const best = ranked[0]!;
  const outIds = best.h.ids.filter((id) => id !== PAD_ID && id !== EOS_ID);
  return { text, keys, kind, beam: k, steps, output: output.decode(outIds), tokens: outIds.map(name), score: best.score };
}

/** The tokens a decoder's self-attention row covers at each step: the prompt, then what was written. */
export function stepKeys(result: StepsResult, step: number, hypothesis: number): string[] {
  if (result.kind === 'cross') return result.keys;
  const h = result.steps[step]!.hypotheses[hypothesis]!;
  return [...result.keys, ...h.tokens].slice(0, h.attention[0]?.[0]?.length ?? 0);
}
