import { escapeMarkup, weightColour, type Panel } from './panels.js';

const CELL = 22;
const FONT = 12;
const GAP = 36;

/**
 * Heatmaps as one standalone SVG: a panel per layer/head, rows = queries, columns = keys (labels
 * turned 45°), each cell's weight in its tooltip, and a colour scale. All text is escaped.
 */
export function renderSvg(panels: readonly Panel[], title: string): string {
  if (panels.length === 0) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="420" height="60" font-family="DejaVu Sans, Arial, sans-serif" font-size="${FONT}"><rect width="100%" height="100%" fill="white"/><text x="10" y="24" font-size="16" font-weight="bold">${escapeMarkup(title)}</text><text x="10" y="46">no attention selected</text></svg>\n`;
  }
  const rowLabel = Math.max(40, ...panels.flatMap((p) => p.rows.map((t) => textWidth(t)))) + 8;
  const colLabel = Math.max(40, ...panels.flatMap((p) => p.cols.map((t) => textWidth(t)))) * 0.75 + 12;
  const sizes = panels.map((p) => ({ w: rowLabel + p.cols.length * CELL, h: colLabel + 18 + p.rows.length * CELL }));
  const perRow = Math.max(1, Math.min(4, Math.floor(1400 / (Math.max(...sizes.map((s) => s.w)) + GAP))));
  const panelW = Math.max(...sizes.map((s) => s.w)) + GAP;
  const panelH = Math.max(...sizes.map((s) => s.h)) + GAP;
  const top = 40;
  const width = Math.max(420, perRow * panelW, textWidth(title) * 1.25 + 20);
  const height = top + Math.ceil(panels.length / perRow) * panelH + 50;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="${FONT}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="24" font-size="16" font-weight="bold">${escapeMarkup(title)}</text>`,
  ];
  panels.forEach((p, i) => {
    const x0 = (i % perRow) * panelW + 10;
    const y0 = top + Math.floor(i / perRow) * panelH;
    parts.push(`<g transform="translate(${x0},${y0})">`);
    parts.push(`<text x="0" y="12" font-weight="bold">${escapeMarkup(`${p.title} · layer ${p.layer} · head ${p.head}`)}</text>`);
    const gx = rowLabel;
    const gy = 18 + colLabel;
    p.cols.forEach((t, c) => {
      const cx = gx + c * CELL + CELL / 2;
      parts.push(`<text transform="translate(${cx},${gy - 4}) rotate(-45)" text-anchor="start">${escapeMarkup(t)}</text>`);
    });
    p.rows.forEach((t, r) => {
      parts.push(`<text x="${gx - 6}" y="${gy + r * CELL + CELL / 2 + FONT / 3}" text-anchor="end">${escapeMarkup(t)}</text>`);
      p.weights[r]!.forEach((w, c) => {
        parts.push(
          `<rect x="${gx + c * CELL}" y="${gy + r * CELL}" width="${CELL - 1}" height="${CELL - 1}" fill="${weightColour(w)}"><title>${escapeMarkup(`${t} → ${p.cols[c]}: ${w.toFixed(3)}`)}</title></rect>`,
        );
      });
    });
    parts.push(`</g>`);
  });
  // Colour scale.
  const sy = height - 34;
  for (let i = 0; i <= 20; i++) parts.push(`<rect x="${60 + i * 12}" y="${sy}" width="12" height="12" fill="${weightColour(i / 20)}"/>`);
  parts.push(`<text x="10" y="${sy + 10}">weight</text><text x="56" y="${sy + 26}">0</text><text x="${60 + 21 * 12 - 10}" y="${sy + 26}">1</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** A rough width of a label in pixels (DejaVu Sans at 12 px averages ~7 px a character). */
function textWidth(text: string): number {
  return [...text].length * 7;
}
