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

/**
 * Text as a view shows it, with every character that could act instead of being read made
 * visible: C0 controls (escape sequences start with one) as their Control Pictures ("\x1b" → "␛",
 * tab → "␉", newline → "␊"), DEL as "␡", C1 controls and the invisible bidirectional and line
 * separator controls as "\u009b"-style escapes, and what no text may hold — lone surrogates,
 * U+FFFE, U+FFFF — as "�". Everything else, emoji and accents included, is unchanged.
 */
export function visibleText(text: string): string {
  return text.replace(INVISIBLE, (c) => {
    const code = c.charCodeAt(0);
    if (code < 0x20) return String.fromCharCode(0x2400 + code);
    if (code === 0x7f) return '\u2421';
    if ((code >= 0xd800 && code <= 0xdfff) || code === 0xfffe || code === 0xffff) return '\ufffd';
    return `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** C0, DEL, C1, bidi and line-separator controls, U+FFFE/U+FFFF, and surrogates not in a pair. */
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Escape text for HTML and XML (element content and quoted attributes), with `visibleText`'s
 * replacements, so that no token can make an SVG file unreadable (XML forbids most controls).
 */
export function escapeMarkup(text: string): string {
  return visibleText(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
