import { escapeMarkup } from '../viz/panels.js';
import { scriptJson } from '../viz/html.js';
import type { AblationResult } from './ablate.js';
import type { LensResult } from './lens.js';
import type { NeuronView } from './neurons.js';
import type { PatchGrid, PatchResult } from './patch.js';
import type { StepsResult } from './steps.js';

/*
 * Views of the causal tools: aligned tables for a terminal, signed heatmaps as SVG (blue where a
 * number is positive, red where it is negative), pages that hold them, and the decoding steps as
 * an HTML page with a step slider. All text is escaped.
 */

/** One grid of numbers with its axes. */
export interface Grid {
  title: string;
  rows: string[];
  cols: string[];
  /** [row][col]; NaN shows as a blank. */
  values: number[][];
  /** The number drawn at full colour (default: the largest |value|, at least 1e-9). */
  scale?: number;
}

/** A grid as aligned columns of signed numbers. */
export function gridTable(grid: Grid, digits = 2): string {
  const show = (x: number) => (Number.isNaN(x) ? '–' : x.toFixed(digits));
  const width = Math.max(...grid.cols.map((c) => [...c].length), ...grid.values.flat().map((x) => show(x).length)) + 2;
  const label = Math.max(...grid.rows.map((r) => [...r].length), 1) + 1;
  const pad = (s: string, w: number) => ' '.repeat(Math.max(0, w - [...s].length)) + s;
  const lines = [grid.title, ' '.repeat(label) + grid.cols.map((c) => pad(c, width)).join('')];
  grid.values.forEach((row, i) => lines.push(grid.rows[i]!.padEnd(label) + row.map((x) => pad(show(x), width)).join('')));
  return `${lines.join('\n')}\n`;
}

/** Blue for positive, red for negative, white at 0; |x| / scale ≥ 1 is full colour. */
export function signedColour(x: number, scale: number): string {
  if (Number.isNaN(x)) return 'rgb(240,240,240)';
  const t = Math.sqrt(Math.min(1, Math.abs(x) / scale));
  const to = x >= 0 ? [8, 48, 107] : [165, 15, 21];
  const c = [255, 255, 255].map((f, i) => Math.round(f + (to[i]! - f) * t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

const CELL = 30;
const FONT = 12;

/** Grids as one standalone SVG, one under the other, each cell's number printed and in its tooltip. */
export function gridsSvg(grids: readonly Grid[], title: string): string {
  const widthOf = (s: string) => [...s].length * 7.5;
  const label = Math.max(60, ...grids.flatMap((g) => g.rows.map(widthOf))) + 16;
  const colLabel = Math.max(30, ...grids.flatMap((g) => g.cols.map(widthOf))) * 0.75 + 10;
  let y = 40;
  const parts: string[] = [];
  let width = Math.max(420, widthOf(title) * 1.3 + 20);
  for (const g of grids) {
    const scale = g.scale ?? Math.max(1e-9, ...g.values.flat().filter((x) => !Number.isNaN(x)).map(Math.abs));
    parts.push(`<text x="10" y="${y + 14}" font-weight="bold">${escapeMarkup(g.title)}</text>`);
    const gx = label;
    const gy = y + 24 + colLabel;
    g.cols.forEach((c, j) => parts.push(`<text transform="translate(${gx + j * CELL + CELL / 2},${gy - 4}) rotate(-45)">${escapeMarkup(c)}</text>`));
    g.values.forEach((row, i) => {
      parts.push(`<text x="${gx - 6}" y="${gy + i * CELL + CELL / 2 + FONT / 3}" text-anchor="end">${escapeMarkup(g.rows[i] ?? '')}</text>`);
      row.forEach((x, j) => {
        const fill = signedColour(x, scale);
        const text = cellText(x);
        const dark = !Number.isNaN(x) && Math.abs(x) / scale > 0.45;
        parts.push(
          `<rect x="${gx + j * CELL}" y="${gy + i * CELL}" width="${CELL - 1}" height="${CELL - 1}" fill="${fill}"><title>${escapeMarkup(`${g.rows[i]} × ${g.cols[j]}: ${Number.isNaN(x) ? 'n/a' : x.toFixed(4)}`)}</title></rect>`,
          `<text x="${gx + j * CELL + CELL / 2}" y="${gy + i * CELL + CELL / 2 + 3}" text-anchor="middle" font-size="9" fill="${dark ? 'white' : '#1b1f24'}">${text}</text>`,
        );
      });
    });
    width = Math.max(width, gx + g.cols.length * CELL + 20, widthOf(g.title) * 1.1 + 30);
    y = gy + g.rows.length * CELL + 24;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="${FONT}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="24" font-size="16" font-weight="bold">${escapeMarkup(title)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

/** A number short enough for a cell: ".42", "-1.30", "13"; blank for NaN, ".00" for a rounding zero. */
function cellText(x: number): string {
  if (Number.isNaN(x)) return '';
  if (Math.abs(x) >= 10) return x.toFixed(0);
  const t = Math.abs(x) < 0.005 ? '0.00' : x.toFixed(2);
  return t.replace(/^(-?)0\./, '$1.');
}

/** A page with lines of text and SVG figures (no scripts). */
export function inspectPage(title: string, lines: readonly string[], figures: readonly string[]): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeMarkup(title)}</title>
<style>body { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #1b1f24; } p { margin: 4px 0; } figure { margin: 16px 0; }</style>
</head>
<body>
<h1>${escapeMarkup(title)}</h1>
${lines.map((l) => `<p>${escapeMarkup(l)}</p>`).join('\n')}
${figures.map((f) => `<figure>${f}</figure>`).join('\n')}
</body>
</html>
`;
}

const heads = (n: number) => Array.from({ length: n }, (_, h) => `head ${h + 1}`);
const layers = (n: number, from = 1) => Array.from({ length: n }, (_, l) => `layer ${l + from}`);

/** Ablation: per kind, the change of the decision when each head is removed. */
export function ablationGrids(r: AblationResult): Grid[] {
  return r.grids.map((g) => ({
    title: `${g.title}: change of the decision with the head ${r.mode}-ablated`,
    rows: layers(g.change.length),
    cols: [...heads(g.change[0]?.length ?? 0), 'all heads'],
    values: g.change.map((row, l) => [...row, g.layerChange[l]!]),
    // Full colour = the whole clean decision lost (or gained).
    scale: Math.abs(r.clean),
  }));
}

export function ablationText(r: AblationResult): string {
  const lines = [`${r.probe.text}`, `decision: ${r.decision.description}`, `clean: ${r.clean.toFixed(3)} (positive: the model prefers ${r.decision.rightLabel})`, ''];
  if (r.together) {
    const names = r.together.heads.map((h) => `${h.kind}:${h.layer}.${h.head}`).join(', ');
    lines.push(`${names} ${r.mode}-ablated together: ${r.together.ablated.toFixed(3)} (change ${r.together.change >= 0 ? '+' : ''}${r.together.change.toFixed(3)})`);
    return `${lines.join('\n')}\n`;
  }
  return `${lines.join('\n')}${ablationGrids(r).map((g) => gridTable(g)).join('\n')}`;
}

/** Patching: restored shares of heads' outputs, heads' patterns and the residual stream. */
export function patchGrids(r: PatchResult): Grid[] {
  return [
    ...r.heads.map((g) => headGrid(g, `${g.title}: head output patched from the clean run (share restored)`)),
    ...r.patterns.map((g) => headGrid(g, `${g.title}: attention pattern patched (share restored)`)),
    ...r.residual.map((g) => ({
      title: `${g.stack} residual stream at one position patched (share restored)`,
      rows: ['embeddings', ...layers(g.restored.length - 1)],
      cols: g.tokens.map((t, i) => (t === g.corruptedTokens[i] ? t : `${t}/${g.corruptedTokens[i]}`)),
      values: g.restored,
      scale: 1,
    })),
  ];
}

function headGrid(g: PatchGrid, title: string): Grid {
  return { title, rows: layers(g.restored.length), cols: [...heads(g.restored[0]?.length ?? 0), 'all heads'], values: g.restored.map((row, l) => [...row, g.layerRestored[l]!]), scale: 1 };
}

export function patchText(r: PatchResult): string {
  const lines = [
    `clean:     ${r.clean.text}`,
    `corrupted: ${r.corrupted.text}`,
    `decision: ${r.decision.description}`,
    `clean ${r.cleanValue.toFixed(3)}, corrupted ${r.corruptedValue.toFixed(3)}; below, the share of the difference each patch restores (1 = all of it)`,
    '',
  ];
  return `${lines.join('\n')}${patchGrids(r).map((g) => gridTable(g)).join('\n')}`;
}

/** Lens: the rank of the final answer after each layer, per position. */
export function lensGrids(r: LensResult): Grid[] {
  const rows = ['embeddings', ...layers(r.rank.length - 1)];
  const cols = r.tokens.map((t, i) => `${t}→${r.answers[i]}`);
  return [
    { title: `${r.stack}: probability of the final answer after each layer`, rows, cols, values: r.probability, scale: 1 },
    { title: `${r.stack}: rank of the final answer after each layer (1 = first)`, rows, cols, values: r.rank.map((row) => row.map((x) => -Math.log2(x))), scale: 5 },
  ];
}

export function lensText(r: LensResult): string {
  const lines = [r.probe.text, `logit lens over the ${r.stack} stack: each layer's residual stream through the final norm and the output projection`, ''];
  r.tokens.forEach((token, p) => {
    lines.push(`position ${p} (${token}) → ${r.answers[p]}`);
    r.top.forEach((cands, l) => {
      const name = l === 0 ? 'embeddings' : `layer ${l}`;
      lines.push(`  ${name.padEnd(11)} rank ${String(r.rank[l]![p]).padStart(3)}  ${cands[p]!.map((c) => `${c.token} ${c.probability.toFixed(2)}`).join('  ')}`);
    });
  });
  return `${lines.join('\n')}\n`;
}

/** Neurons: q⊙k terms per key and dimension, and each key's score and weight. */
export function neuronGrids(v: NeuronView): Grid[] {
  const dims = v.q.map((_, d) => `d${d}`);
  return [
    { title: `q (${v.queryToken}) and k per dimension`, rows: ['q', ...v.keys.map((k) => `k ${k}`)], cols: dims, values: [v.q, ...v.k] },
    { title: `q⊙k: the terms whose sum / √dk is each score`, rows: v.keys, cols: [...dims, 'score', 'weight'], values: v.terms.map((t, j) => [...t, v.scores[j]!, v.weights[j]!]) },
  ];
}

export function neuronText(v: NeuronView): string {
  const lines = [`${v.probe.text}`, `${v.kind} attention, layer ${v.layer}, head ${v.head}: query ${v.position} "${v.queryToken}"`, ''];
  const width = Math.max(...v.keys.map((k) => [...k].length)) + 1;
  lines.push(`${'key'.padEnd(width)}   score  weight  largest terms q[d]·k[d]`);
  v.keys.forEach((key, j) => {
    const terms = v.terms[j]!.map((x, d) => ({ x, d })).sort((a, b) => Math.abs(b.x) - Math.abs(a.x)).slice(0, 4);
    lines.push(`${key.padEnd(width)} ${v.scores[j]!.toFixed(2).padStart(7)} ${v.weights[j]!.toFixed(3).padStart(7)}  ${terms.map((t) => `d${t.d}: ${t.x.toFixed(2)}`).join(', ')}`);
  });
  return `${lines.join('\n')}\n`;
}

export function stepsText(r: StepsResult, keysOf: (step: number, hyp: number) => string[]): string {
  const lines = [r.text, `→ ${r.output}  (score ${r.score.toFixed(3)}, beam ${r.beam})`, ''];
  for (const s of r.steps) {
    lines.push(`step ${s.step + 1}`);
    s.hypotheses.forEach((h, i) => {
      const att = h.attention.at(-1);
      const mean = att ? att[0]!.map((_, j) => att.reduce((a, head) => a + head[j]!, 0) / att.length) : [];
      const keys = keysOf(s.step, i);
      const looked = mean.map((w, j) => ({ w, t: keys[j] ?? '?' })).sort((a, b) => b.w - a.w).slice(0, 3);
      lines.push(`  [${h.tokens.join(' ')}] log p ${h.logProb.toFixed(2)}; last layer looks at ${looked.map((x) => `${x.t} ${x.w.toFixed(2)}`).join(', ')}`);
      lines.push(`    ${h.candidates.map((c) => `${c.token} ${c.probability.toFixed(2)}${c.fate === 'kept' ? '' : c.fate === 'finished' ? ' (ends)' : ' (pruned)'}`).join('  ')}`);
    });
  }
  return `${lines.join('\n')}\n`;
}

/** The decoding as an HTML page: a step slider, each hypothesis' attention row (per layer, mean of heads) and candidates. */
export function stepsHtml(r: StepsResult, keysOf: (step: number, hyp: number) => string[]): string {
  const data = r.steps.map((s) => ({
    step: s.step,
    hypotheses: s.hypotheses.map((h, i) => ({
      tokens: h.tokens,
      logProb: h.logProb,
      keys: keysOf(s.step, i),
      rows: h.attention.map((layer) => layer[0]!.map((_, j) => layer.reduce((a, head) => a + head[j]!, 0) / layer.length)),
      candidates: h.candidates,
    })),
  }));
  const json = scriptJson({ text: r.text, output: r.output, beam: r.beam, kind: r.kind, steps: data });
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeMarkup(`Decoding step by step: ${r.text}`)}</title>
<style>body { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #1b1f24; }
table { border-collapse: collapse; margin: 6px 0 14px; font-size: 12px; } td, th { padding: 2px 6px; text-align: center; }
.hyp { border-left: 3px solid #0969da; padding-left: 10px; margin: 12px 0; } .pruned { color: #a40e26; } .finished { color: #1a7f37; } .muted { color: #57606a; }</style>
</head>
<body>
<h1>Decoding step by step</h1>
<p id="text"></p><p id="output"></p>
<p><label>Step <input type="range" id="step" min="1" value="1"> <span id="stepn"></span></label></p>
<p class="muted">Each hypothesis: the ${r.kind === 'cross' ? 'cross-attention of the position it feeds to the source' : 'causal self-attention of the position it feeds'} (mean of heads, per layer), and its best next tokens with probabilities; red: pruned by the beam, green: ends with eos.</p>
<div id="hyps"></div>
<script type="application/json" id="steps-data">${json}</script>
<script>
(function () {
  var D = JSON.parse(document.getElementById('steps-data').textContent);
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
  function colour(w) { var x = Math.sqrt(Math.max(0, Math.min(1, w))); return 'rgb(' + Math.round(247 - 239 * x) + ',' + Math.round(251 - 203 * x) + ',' + Math.round(255 - 148 * x) + ')'; }
  document.getElementById('text').textContent = 'Input: ' + D.text;
  document.getElementById('output').textContent = 'Output (beam ' + D.beam + '): ' + D.output;
  var slider = document.getElementById('step'); slider.max = String(D.steps.length);
  function show(i) {
    var s = D.steps[i], box = document.getElementById('hyps'); box.textContent = '';
    document.getElementById('stepn').textContent = (i + 1) + ' of ' + D.steps.length;
    s.hypotheses.forEach(function (h) {
      var d = el('div', 'hyp');
      d.appendChild(el('p', null, '[' + h.tokens.join(' ') + ']  log p ' + h.logProb.toFixed(2)));
      var t = el('table'), head = el('tr'); head.appendChild(el('th'));
      h.keys.forEach(function (k) { head.appendChild(el('th', null, k)); }); t.appendChild(head);
      h.rows.forEach(function (row, l) { var tr = el('tr'); tr.appendChild(el('th', null, 'layer ' + (l + 1)));
        row.forEach(function (w) { var td = el('td', null, w >= 0.1 ? w.toFixed(2) : ''); td.style.background = colour(w); td.style.color = w > 0.5 ? 'white' : ''; tr.appendChild(td); });
        t.appendChild(tr); });
      d.appendChild(t);
      var c = el('p');
      h.candidates.forEach(function (x) { c.appendChild(el('span', x.fate === 'kept' ? null : x.fate, x.token + ' ' + x.probability.toFixed(2) + '   ')); });
      d.appendChild(c); box.appendChild(d);
    });
  }
  slider.oninput = function () { show(+slider.value - 1); };
  show(0);
})();
</script>
</body>
</html>
`;
}

/** One line of a plot: its name and its (x, y) points. */
export interface Series {
  name: string;
  points: [number, number][];
}

const SERIES_COLOURS = ['#cf222e', '#0969da', '#1a7f37', '#8250df', '#9a6700'];

/** Lines on shared axes as a standalone SVG, y from 0 to 1 (shares), with a legend. */
export function linePlotSvg(series: readonly Series[], title: string, axes: { x: string; y: string }): string {
  const [w, h, left, top, bottom, legend] = [800, 360, 60, 44, 50, 260];
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const px = (x: number) => left + ((x - x0) / Math.max(x1 - x0, 1e-9)) * (w - left - legend);
  const py = (y: number) => top + (1 - y) * (h - top - bottom);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="DejaVu Sans, Arial, sans-serif" font-size="${FONT}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="24" font-size="15" font-weight="bold">${escapeMarkup(title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = i / 4;
    parts.push(`<line x1="${left}" x2="${w - legend}" y1="${py(y)}" y2="${py(y)}" stroke="#d0d7de"/>`, `<text x="${left - 6}" y="${py(y) + 4}" text-anchor="end">${y.toFixed(2)}</text>`);
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) parts.push(`<text x="${px(x)}" y="${h - bottom + 16}" text-anchor="middle">${x.toFixed(0)}</text>`);
  parts.push(`<text x="${(left + w - legend) / 2}" y="${h - 12}" text-anchor="middle">${escapeMarkup(axes.x)}</text>`);
  parts.push(`<text transform="translate(14,${(top + h - bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeMarkup(axes.y)}</text>`);
  series.forEach((s, i) => {
    const colour = SERIES_COLOURS[i % SERIES_COLOURS.length]!;
    // Dashes of different lengths keep lines that lie on top of each other visible.
    const dash = ['', '8 4', '2 3', '12 3 2 3'][i % 4]!;
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" stroke-dasharray="${dash}" points="${s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of s.points) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3.5" fill="${colour}"><title>${escapeMarkup(`${s.name}: ${y.toFixed(3)} at ${x.toFixed(1)}`)}</title></circle>`);
    parts.push(`<line x1="${w - legend + 15}" x2="${w - legend + 45}" y1="${top + 10 + i * 20}" y2="${top + 10 + i * 20}" stroke="${colour}" stroke-width="2" stroke-dasharray="${dash}"/>`, `<text x="${w - legend + 50}" y="${top + 14 + i * 20}">${escapeMarkup(s.name)}</text>`);
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}
