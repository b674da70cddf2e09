import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../errors.js';
import type { LoadedModel } from '../infer/loaded.js';
import type { AttentionKind } from '../model/model.js';
import { headKinds } from './ablate.js';
import { disposeInput, prepareProbe, probeInput, type Probe } from './probe.js';
import { trace } from './trace.js';

export interface NeuronOptions {
  kind: AttentionKind;
  /** 1-based. */
  layer: number;
  head: number;
  /** The query token: its 0-based position, or the token itself (its last occurrence). Default: the last position. */
  query?: number | string;
  /** Encoder–decoder: the decoder input (bos + ids) instead of the greedy translation. */
  targetIds?: number[];
}

export interface NeuronView {
  probe: Probe;
  kind: AttentionKind;
  layer: number;
  head: number;
  /** The query's position and token. */
  position: number;
  queryToken: string;
  /** The key tokens. */
  keys: string[];
  /** The query vector q_i (dk). */
  q: number[];
  /** Each key's vector k_j, [key][dk]. */
  k: number[][];
  /** The elementwise terms q_i[d]·k_j[d], [key][dk]: each score is their sum over d, divided by √dk. */
  terms: number[][];
  /** The scaled scores q_i·k_j/√dk, [key] (blocked keys included, before the mask). */
  scores: number[];
  /** The attention weights after the mask and the softmax, [key]. */
  weights: number[];
}

/**
 * The neuron view (as in bertviz, for self- and cross-attention): for one query token and one head,
 * the query and key vectors and the elementwise products q⊙k behind each score.
 */
export async function neuronView(loaded: LoadedModel, text: string, options: NeuronOptions): Promise<NeuronView> {
  const kind = headKinds(loaded).find((k) => k.kind === options.kind);
  if (!kind) throw new UsageError(`this ${loaded.model.arch} model has no ${options.kind} attention (it has ${headKinds(loaded).map((k) => k.kind).join(', ')})`);
  if (!(Number.isInteger(options.layer) && options.layer >= 1 && options.layer <= kind.layers)) throw new UsageError(`--layer (${options.layer}) must be between 1 and ${kind.layers}`);
  const heads = loaded.model.config.numHeads;
  if (!(Number.isInteger(options.head) && options.head >= 1 && options.head <= heads)) throw new UsageError(`--head (${options.head}) must be between 1 and ${heads}`);
  const probe = await prepareProbe(loaded, text, { targetIds: options.targetIds });
  const queries = options.kind === 'encoder' || !probe.targetTokens ? probe.inputTokens : probe.targetTokens;
  const keys = options.kind === 'decoder' && probe.targetTokens ? probe.targetTokens : probe.inputTokens;
  const position = options.query === undefined ? queries.length - 1 : typeof options.query === 'number' ? options.query : queries.lastIndexOf(options.query);
  if (!(Number.isInteger(position) && position >= 0 && position < queries.length)) {
    throw new UsageError(`--query (${options.query}) must be a position 0–${queries.length - 1} or one of the tokens ${queries.join(' ')}`);
  }
  const input = probeInput(probe);
  const [qT, kT, wT] = tf.tidy(() => {
    const record = trace(loaded.model, input).attention[options.kind]![options.layer - 1]!;
    const h = options.head - 1;
    const q = record.q.slice([0, h, position, 0], [1, 1, 1, -1]).reshape([-1]); // (dk)
    const k = record.k.slice([0, h, 0, 0], [1, 1, -1, -1]).squeeze([0, 1]); // (Tk, dk)
    const w = record.weights.slice([0, h, position, 0], [1, 1, 1, -1]).reshape([-1]); // (Tk)
    return [q, k, w];
  });
  disposeInput(input);
  const q = Array.from(await qT!.data());
  const k = (await kT!.array()) as number[][];
  const weights = Array.from(await wT!.data());
  tf.dispose([qT!, kT!, wT!]);
  const terms = k.map((kj) => kj.map((x, d) => q[d]! * x));
  const scale = 1 / Math.sqrt(q.length);
  const scores = terms.map((t) => t.reduce((a, b) => a + b, 0) * scale);
  return { probe, kind: options.kind, layer: options.layer, head: options.head, position, queryToken: queries[position]!, keys, q, k, terms, scores, weights };
}
