import * as tf from '@tensorflow/tfjs';
import type { LoadedModel } from '../infer/loaded.js';
import { disposeInput, prepareProbe, probeInput, type Probe } from './probe.js';
import { anatomy, trace, type StackName } from './trace.js';

export interface LensOptions {
  /** Candidates shown per layer and position. Default: 3. */
  topK?: number;
  /** Encoder–decoder: the decoder input (bos + ids) instead of the greedy translation. */
  targetIds?: number[];
}

export interface LensCandidate {
  token: string;
  probability: number;
}

export interface LensResult {
  probe: Probe;
  /** The stack whose residual stream is read (the one the output projection reads). */
  stack: StackName;
  /** The token at each position of that stack (its input). */
  tokens: string[];
  /** The model's own answer at each position: the final layer's most likely token. */
  answers: string[];
  /** [layer][position] top candidates; layer 0 is the embeddings, the last is the model's output. */
  top: LensCandidate[][][];
  /** [layer][position] rank of the final answer (1 = first). */
  rank: number[][];
  /** [layer][position] probability of the final answer. */
  probability: number[][];
}

/**
 * The logit lens: decode the residual stream after each block through the final norm and the
 * output projection, as if the model stopped there. At the last layer it is the model's own
 * output distribution; earlier layers show when the answer appears.
 */
export async function logitLens(loaded: LoadedModel, text: string, options: LensOptions = {}): Promise<LensResult> {
  const probe = await prepareProbe(loaded, text, { targetIds: options.targetIds });
  const parts = anatomy(loaded.model);
  const stack = parts.output;
  const topK = options.topK ?? 3;
  const input = probeInput(probe);
  const probs = tf.tidy(() => {
    const t = trace(loaded.model, input);
    const streams = t.residual[stack]!;
    const s = stack === 'encoder' ? parts.encoder! : parts.decoder!;
    return tf.stack(streams.map((h) => tf.softmax(parts.project(s.finish(h))).squeeze([0]))); // (L + 1, T, V)
  });
  disposeInput(input);
  const table = (await probs.array()) as number[][][];
  probs.dispose();
  const vocab = (stack === 'decoder' && probe.arch === 'encoder-decoder' ? loaded.target : loaded.source).vocab;
  const last = table[table.length - 1]!;
  const answerIds = last.map((p) => argMax(p));
  const top = table.map((layer) => layer.map((p) => topOf(p, topK).map((id) => ({ token: vocab[id] ?? '?', probability: p[id]! }))));
  const rank = table.map((layer) => layer.map((p, pos) => 1 + p.filter((x) => x > p[answerIds[pos]!]!).length));
  const probability = table.map((layer) => layer.map((p, pos) => p[answerIds[pos]!]!));
  const tokens = stack === 'decoder' && probe.targetTokens ? probe.targetTokens : probe.inputTokens;
  return { probe, stack, tokens, answers: answerIds.map((id) => vocab[id] ?? '?'), top, rank, probability };
}

function argMax(p: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i]! > p[best]!) best = i;
  return best;
}

function topOf(p: readonly number[], k: number): number[] {
  return p
    .map((_, i) => i)
    .sort((a, b) => p[b]! - p[a]! || a - b)
    .slice(0, k);
}
