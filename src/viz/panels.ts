import type { AttentionMaps } from '../infer/translator.js';

export const ATTENTION_KINDS = ['encoder', 'decoder', 'cross'] as const;
export type AttentionKind = (typeof ATTENTION_KINDS)[number];

/** One heatmap: the weights of one head of one layer, with the tokens on each axis. */
export interface Panel {
  kind: AttentionKind;
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

export const KIND_TITLES: Record<AttentionKind, string> = {
  encoder: 'encoder self-attention',
  decoder: 'decoder self-attention (causal)',
  cross: 'cross-attention (decoder → encoder)',
};

export interface PanelSelection {
  kinds?: readonly AttentionKind[];
  /** 1-based layer; all layers when absent. */
  layer?: number;
  /** 1-based head; all heads when absent. */
  head?: number;
}

/**
 * Cut attention maps into panels. Decoder rows are labelled by the token each position writes
 * (row i predicts outputTokens[i]), keys by the tokens the decoder was fed.
 */
export function attentionPanels(maps: AttentionMaps, selection: PanelSelection = {}): Panel[] {
  const kinds = selection.kinds ?? ATTENTION_KINDS;
  const axes: Record<AttentionKind, { data: number[][][][]; rows: string[]; cols: string[] }> = {
    encoder: { data: maps.encoder, rows: maps.sourceTokens, cols: maps.sourceTokens },
    decoder: { data: maps.decoderSelf, rows: maps.outputTokens, cols: maps.targetTokens },
    cross: { data: maps.cross, rows: maps.outputTokens, cols: maps.sourceTokens },
  };
  const panels: Panel[] = [];
  for (const kind of kinds) {
    const { data, rows, cols } = axes[kind];
    data.forEach((layer, l) => {
      if (selection.layer !== undefined && selection.layer !== l + 1) return;
      layer.forEach((weights, h) => {
        if (selection.head !== undefined && selection.head !== h + 1) return;
        panels.push({ kind, layer: l + 1, head: h + 1, rows, cols, weights });
      });
    });
  }
  return panels;
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
