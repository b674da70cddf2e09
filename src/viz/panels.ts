import { asModelAttention, type ModelAttention } from '../infer/attention-maps.js';
import type { AttentionMaps } from '../infer/translator.js';

export const ATTENTION_KINDS = ['encoder', 'decoder', 'cross'] as const;
export type AttentionKind = (typeof ATTENTION_KINDS)[number];

/** One heatmap: the weights of one head of one layer, with the tokens on each axis. */
export interface Panel {
  kind: AttentionKind;
  /** The kind's name in its family, e.g. "causal self-attention". */
  title: string;
  /** 1-based. */
  layer: number;
  /** 1-based. */
  head: number;
  /** Query tokens (rows). */
  rows: string[];
  /** Key tokens (columns). */
  cols: string[];
  /** [row][col], each row sums to 1. */
  weights: number[][];
}

/** The encoder–decoder's titles (each family's are in `ModelAttention`'s maps). */
export const KIND_TITLES: Record<AttentionKind, string> = {
  encoder: 'encoder self-attention',
  decoder: 'decoder self-attention (causal)',
  cross: 'cross-attention (decoder → encoder)',
};

export interface PanelSelection {
  /** Kinds to keep (default: every kind the maps have). */
  kinds?: readonly AttentionKind[];
  /** 1-based layer; all layers when absent. */
  layer?: number;
  /** 1-based head; all heads when absent. */
  head?: number;
}

/**
 * Cut attention maps, of any family, into panels. An encoder–decoder's decoder rows are labelled
 * by the token each position writes (row i predicts outputTokens[i]), keys by the tokens the
 * decoder was fed; the other families label both axes by the tokens they read.
 */
export function attentionPanels(maps: ModelAttention | AttentionMaps, selection: PanelSelection = {}): Panel[] {
  const panels: Panel[] = [];
  for (const m of asModelAttention(maps).maps) {
    if (selection.kinds !== undefined && !selection.kinds.includes(m.kind)) continue;
    m.weights.forEach((layer, l) => {
      if (selection.layer !== undefined && selection.layer !== l + 1) return;
      layer.forEach((weights, h) => {
        if (selection.head !== undefined && selection.head !== h + 1) return;
        panels.push({ kind: m.kind, title: m.title, layer: l + 1, head: h + 1, rows: m.rows, cols: m.cols, weights });
      });
    });
  }
  return panels;
}

/** What a family calls its input and output, for the lines above a view: ["Source", "Translation"]. */
export function textLabels(maps: ModelAttention): { input: string; output: string } {
  return maps.arch === 'encoder-decoder' ? { input: 'Source', output: 'Translation' } : maps.arch === 'decoder' ? { input: 'Prompt', output: 'Continuation' } : { input: 'Sentence', output: 'Output' };
}

/** One line naming the input and what the model wrote: "Ela … → She …", or the sentence alone. */
export function describeText(maps: ModelAttention): string {
  return maps.output === undefined ? maps.input : `${maps.input} → ${maps.output}`;
}

/** White → dark blue, for a weight in [0, 1]. */
export function weightColour(w: number): string {
  const x = Math.max(0, Math.min(1, w));
  const from = [247, 251, 255];
  const to = [8, 48, 107];
  const c = from.map((f, i) => Math.round(f + (to[i]! - f) * Math.sqrt(x)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** Escape text for HTML and XML (element content and quoted attributes). */
export function escapeMarkup(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
