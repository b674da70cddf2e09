import * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../errors.js';
import { attentionMaps, type AttentionMap, type ModelAttention } from '../infer/attention-maps.js';
import type { LoadedModel } from '../infer/loaded.js';
import type { MultiHeadAttention } from '../layers/multi-head-attention.js';
import type { AttentionKind } from '../model/model.js';
import type { Decoder } from '../model/stack.js';
import { disposeInput, prepareProbe, probeInput } from './probe.js';
import { anatomy, trace, type Anatomy } from './trace.js';

/*
 * Two views that aggregate what the raw weights leave out.
 * - Attention rollout (Abnar & Zuidema, 2020): the residual connection carries each token on, so
 *   every layer's attention is mixed with the identity, A = r·I + (1 − r)·mean over heads(W), rows
 *   renormalised; multiplying the layers, A_l ⋯ A_1, follows the mixing from the input tokens up.
 * - Value-weighted norms (Kobayashi et al., 2020): a weight says how much a query looks at a key,
 *   not how much the key changes it. ‖α_ij · f(x_j)‖, with f(x_j) = v_j · W_o (the head's value of
 *   token j carried to the model's width by its part of W_o), is the size of what actually arrives.
 */

/**
 * Attention rollout of one stack: layers [layer][head][T][T] → [layer][T][T], entry l being the
 * rollout up to and including layer l. `residual` is r, the identity's share (0.5 in the paper).
 */
export function attentionRollout(layers: readonly (readonly (readonly (readonly number[])[])[])[], residual = 0.5): number[][][] {
  if (!(residual >= 0 && residual <= 1)) throw new ShapeError(`residual share (${residual}) must be in [0, 1]`);
  const out: number[][][] = [];
  let acc: number[][] | undefined;
  for (const heads of layers) {
    const t = heads[0]!.length;
    const mixed = Array.from({ length: t }, (_, i) => {
      const row = Array.from({ length: heads[0]![i]!.length }, (_, j) => {
        let mean = 0;
        for (const w of heads) mean += w[i]![j]!;
        return (1 - residual) * (mean / heads.length) + (i === j ? residual : 0);
      });
      const sum = row.reduce((a, b) => a + b, 0);
      return sum > 0 ? row.map((x) => x / sum) : row;
    });
    acc = acc === undefined ? mixed : matMul(mixed, acc);
    out.push(acc);
  }
  return out;
}

/** Plain (n, m)·(m, p). */
function matMul(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): number[][] {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((s, x, k) => s + x * b[k]![j]!, 0)));
}

/** The multi-head attention layer behind a kind and layer (0-based). */
export function attentionLayer(parts: Anatomy, kind: AttentionKind, layer: number): MultiHeadAttention {
  if (kind === 'cross') return (parts.decoder as Decoder).blocks[layer]!.crossAttention;
  const stack = kind === 'encoder' ? parts.encoder! : parts.decoder!;
  return stack.blocks[layer]!.selfAttention;
}

/**
 * ‖α_ij · f(x_j)‖ of every kind, layer and head for one traced input: [kind] → [layer][head][Tq][Tk].
 * Each row is also returned normalised to sum to 1 (`shares`), to compare with the weights.
 */
export interface ValueNormResult {
  /** The raw attention weights of every kind. */
  raw: ModelAttention;
  /** ‖α_ij·f(x_j)‖ per kind, [layer][head][query][key]. */
  norms: Partial<Record<AttentionKind, number[][][][]>>;
  /** The same, each row scaled to sum to 1, as maps the attention views draw. */
  shares: ModelAttention;
}

export async function valueNorms(loaded: LoadedModel, text: string, options: { targetIds?: number[] } = {}): Promise<ValueNormResult> {
  const probe = await prepareProbe(loaded, text, options);
  const parts = anatomy(loaded.model);
  const input = probeInput(probe);
  const kinds: AttentionKind[] = [];
  const tensors = tf.tidy(() => {
    const t = trace(loaded.model, input);
    const out: tf.Tensor[] = [];
    for (const [kind, records] of Object.entries(t.attention) as [AttentionKind, (typeof t.attention)['encoder'] & object][]) {
      kinds.push(kind);
      out.push(
        tf.stack(
          records.map((r, l) => {
            const mha = attentionLayer(parts, kind, l);
            const [, h, tk, dv] = r.v.shape as number[];
            const wo = tf.reshape(mha.wo.read(), [h!, dv!, -1]); // (H·dv, d) → (H, dv, d): each head's rows of Wo
            const fx = tf.matMul(tf.squeeze(r.v, [0]), wo); // (H, Tk, dv)·(H, dv, d) → (H, Tk, d)
            const size = tf.norm(fx, 'euclidean', -1).reshape([h!, 1, tk!]); // ‖f(x_j)‖ (H, 1, Tk)
            return tf.mul(tf.squeeze(r.weights, [0]), size); // α_ij·‖f(x_j)‖ = ‖α_ij·f(x_j)‖ (H, Tq, Tk)
          }),
        ),
      ); // (L, H, Tq, Tk)
    }
    return out;
  });
  disposeInput(input);
  const norms: Partial<Record<AttentionKind, number[][][][]>> = {};
  for (let i = 0; i < kinds.length; i++) norms[kinds[i]!] = (await tensors[i]!.array()) as number[][][][];
  tf.dispose(tensors);
  const raw = await attentionMaps(loaded, text, mapOptions(probe.targetIds, loaded));
  const shares: ModelAttention = {
    ...raw,
    maps: raw.maps.map((m) => ({
      ...m,
      title: `${m.title}: ‖α·f(x)‖`,
      note: 'Each key’s share of the size of what reaches the query, ‖α_ij·v_j·W_o‖, rows scaled to sum to 1.',
      weights: norms[m.kind]!.map((layer) => layer.map((head) => head.map(normaliseRow))),
    })),
  };
  return { raw, norms, shares };
}

/**
 * Rollout of every self-attention kind, one map per layer (entry l: layers 1…l), and an
 * encoder–decoder's cross-attention read through its encoder's full rollout; with the raw maps.
 */
export async function rolloutMaps(loaded: LoadedModel, text: string, options: { residual?: number; targetIds?: number[] } = {}): Promise<{ raw: ModelAttention; rollout: ModelAttention }> {
  const probe = await prepareProbe(loaded, text, { targetIds: options.targetIds });
  const raw = await attentionMaps(loaded, text, mapOptions(probe.targetIds, loaded));
  return { raw, rollout: rolloutOf(raw, options.residual) };
}

/** The rollout view of maps already read (no model run): what `rolloutMaps` adds to the raw weights. */
export function rolloutOf(raw: ModelAttention, residual = 0.5): ModelAttention {
  const r = residual;
  const encoder = raw.maps.find((m) => m.kind === 'encoder');
  const encoderRollout = encoder ? attentionRollout(encoder.weights, r) : undefined;
  const maps: AttentionMap[] = raw.maps.map((m) => {
    if (m.kind === 'cross' && encoderRollout) {
      // Cross-attention (mean over heads) times the encoder's full rollout: which source tokens each output position reads after the encoder's mixing.
      const last = encoderRollout.at(-1)!;
      const weights = m.weights.map((heads) => [matMul(meanHeads(heads), last)]);
      return { ...m, title: `${m.title}: rollout`, note: 'Cross-attention (mean over heads) multiplied by the encoder rollout: the source tokens each written word reads, once the encoder has mixed them.', weights };
    }
    const weights = attentionRollout(m.weights, r).map((x) => [x]);
    return { ...m, title: `${m.title}: rollout`, note: `Attention rollout up to each layer: ${r}·I + ${1 - r}·(mean over heads), multiplied through the layers; one map per layer.`, weights };
  });
  return { ...raw, maps };
}

function mapOptions(targetIds: number[] | undefined, loaded: LoadedModel): { output?: string; continuation: boolean } {
  // The same decoder input as the probe: an encoder–decoder's translation, a decoder's text only.
  return targetIds ? { output: loaded.target.decode(targetIds), continuation: false } : { continuation: false };
}

function meanHeads(heads: readonly (readonly (readonly number[])[])[]): number[][] {
  return heads[0]!.map((row, i) => row.map((_, j) => heads.reduce((s, w) => s + w[i]![j]!, 0) / heads.length));
}

function normaliseRow(row: readonly number[]): number[] {
  const sum = row.reduce((a, b) => a + b, 0);
  return sum > 0 ? row.map((x) => x / sum) : row.map(() => 0);
}
