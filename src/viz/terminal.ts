import { visibleText } from './panels.js';

/**
 * Attention heatmaps for a terminal: one row per query token, one column per key token, each cell
 * shaded by its weight. With colour, 256-colour ANSI backgrounds (a white → dark blue ramp); without,
 * a character ramp that survives logs and copy-paste. Weights can be printed in the cells.
 */

export interface HeatmapOptions {
  /** ANSI 256-colour cells (default: when writing to a terminal). */
  color?: boolean;
  /** Print each weight (two digits) in its cell. */
  numbers?: boolean;
  /** Title line above the map. */
  title?: string;
}

const RAMP = ' ·░▒▓█';
/** xterm-256 colours from near-white to dark blue. */
const COLOURS = [231, 195, 159, 123, 87, 51, 45, 39, 33, 27, 21, 19];

export function renderHeatmap(weights: readonly (readonly number[])[], rows: readonly string[], cols: readonly string[], options: HeatmapOptions = {}): string {
  // Tokens come from data and tokenizer files: a control character in one must not reach the terminal.
  const rowLabels = rows.map(visibleText);
  const colLabels = cols.map(visibleText);
  const color = options.color ?? false;
  const cellWidth = Math.max(options.numbers ? 4 : 2, ...colLabels.map((c) => Math.min(displayWidth(c), 8))) + 1;
  const labelWidth = Math.max(...rowLabels.map(displayWidth), 1);
  const lines: string[] = [];
  if (options.title) lines.push(visibleText(options.title));
  // Column labels, vertical when long: one line per character, bottom-aligned.
  const header = colLabels.map((c) => truncate(c, cellWidth - 1));
  lines.push(`${' '.repeat(labelWidth)} ${header.map((h) => pad(h, cellWidth)).join('')}`);
  weights.forEach((row, i) => {
    const cells = row.map((w) => cell(w, cellWidth, color, options.numbers === true)).join('');
    lines.push(`${pad(rowLabels[i] ?? '', labelWidth, true)} ${cells}`);
  });
  lines.push(color ? `${' '.repeat(labelWidth)} scale: ${COLOURS.map((c) => `\x1b[48;5;${c}m \x1b[0m`).join('')} 0 → 1` : `${' '.repeat(labelWidth)} scale: '${RAMP}' = 0 → 1`);
  return `${lines.join('\n')}\n`;
}

function cell(w: number, width: number, color: boolean, numbers: boolean): string {
  const x = Math.max(0, Math.min(1, w));
  const text = numbers ? (x >= 0.995 ? '1.0' : x.toFixed(2).slice(1)) : '';
  if (color) {
    const c = COLOURS[Math.min(COLOURS.length - 1, Math.floor(x * COLOURS.length))]!;
    const fg = x > 0.5 ? 231 : 16;
    return `\x1b[48;5;${c}m\x1b[38;5;${fg}m${pad(text, width - 1, true)}\x1b[0m `;
  }
  const glyph = RAMP[Math.min(RAMP.length - 1, Math.round(x * (RAMP.length - 1)))]!;
  return numbers ? `${pad(text, width - 1, true)} ` : `${glyph.repeat(width - 1)} `;
}

function displayWidth(s: string): number {
  return [...s].length;
}

function truncate(s: string, width: number): string {
  const chars = [...s];
  return chars.length <= width ? s : `${chars.slice(0, width - 1).join('')}…`;
}

function pad(s: string, width: number, left = false): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(s)));
  return left ? fill + s : s + fill;
}
