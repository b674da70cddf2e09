import { asModelAttention, type AttentionMap, type ModelAttention } from '../infer/attention-maps.js';
import type { AttentionMaps } from '../infer/translator.js';
import { escapeMarkup, textLabels, visibleText } from './panels.js';

export interface HtmlExample {
  /** Any family's maps (`attentionMaps`), or an encoder–decoder's (`Translator.attention`) with its source. */
  maps: ModelAttention | AttentionMaps;
  /** The source sentence (needed with `Translator.attention`'s maps; default: the maps' input). */
  source?: string;
  /** The translation shown (default: the maps' output). */
  translation?: string;
  /** More lines to show above the maps, e.g. a predicted label. */
  notes?: string[];
}

export interface HtmlReportInput {
  title: string;
  /** One or more sentences; a selector switches between them. */
  examples: HtmlExample[];
}

/** What the explorer script shows for one example: labelled text lines and every kind's maps. */
export interface ExplorerExample {
  /** The example's name in the selector. */
  name: string;
  /** [label, text] lines above the maps, e.g. ["Source", "Ela …"]. */
  lines: [string, string][];
  maps: AttentionMap[];
}

/** An example in the form the explorer script reads (the HTML report and the browser page both use it). */
export function explorerExample(example: HtmlExample): ExplorerExample {
  const maps = asModelAttention(example.maps, example.source);
  const input = example.source ?? maps.input;
  const output = example.translation ?? maps.output;
  const labels = textLabels(maps);
  const lines: [string, string][] = [[labels.input, visibleText(input)]];
  if (output !== undefined) lines.push([labels.output, visibleText(output)]);
  for (const note of example.notes ?? []) lines.push(['', visibleText(note)]);
  // Tokens with control characters or lone surrogates are shown visibly, as in every other view.
  const shown = maps.maps.map((m) => ({ ...m, rows: m.rows.map(visibleText), cols: m.cols.map(visibleText) }));
  return { name: visibleText(input), lines, maps: shown };
}

/** Styles of the attention explorer (shared by the HTML report and the browser page). */
export const EXPLORER_CSS = `  body { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #1b1f24; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  h2 { font-size: 16px; margin: 24px 0 8px; }
  .sentence { font-size: 15px; margin: 2px 0; }
  .muted { color: #57606a; font-size: 13px; }
  .controls { display: flex; gap: 16px; align-items: center; margin: 16px 0; flex-wrap: wrap; }
  select { font-size: 14px; padding: 2px 4px; }
  .grid { display: grid; gap: 10px; align-items: start; }
  .thumb { border: 2px solid transparent; cursor: pointer; padding: 2px; text-align: center; font-size: 11px; color: #57606a; }
  .thumb.selected { border-color: #0969da; }
  .thumb canvas { display: block; image-rendering: pixelated; }
  .row { display: flex; gap: 40px; flex-wrap: wrap; align-items: flex-start; }
  table.heat { border-collapse: collapse; font-size: 12px; }
  table.heat td { width: 26px; height: 22px; text-align: center; font-size: 10px; }
  table.heat th { font-weight: normal; padding: 2px 6px; white-space: nowrap; }
  table.heat th.col { writing-mode: vertical-rl; transform: rotate(180deg); text-align: left; height: 80px; padding: 4px 2px; }
  .headview { position: relative; display: flex; gap: 0; }
  .tokens { display: flex; flex-direction: column; }
  .tok { padding: 0 8px; margin: 0; border-radius: 3px; cursor: default; white-space: nowrap; font-size: 14px; height: 24px; line-height: 24px; }
  .tokens.left .tok { text-align: right; }
  .tok .w { color: #57606a; font-size: 11px; margin-left: 6px; }
  .scale { display: inline-block; width: 200px; height: 12px; vertical-align: middle; border: 1px solid #d0d7de;
           background: linear-gradient(to right, rgb(247,251,255), rgb(8,48,107)); }
`;

/** Markup the explorer fills in: sentence lines, selectors, model view, heatmap, head view. */
export const EXPLORER_MARKUP = `<div id="lines"></div>
<p class="muted">Rows are queries (the token looking), columns are keys (the tokens looked at); every row sums to 1.
Weight <span class="scale"></span> 0 → 1.</p>
<div class="controls">
  <label id="example-label">Sentence <select id="example"></select></label>
  <label>Attention <select id="kind"></select></label>
  <label>Layer <select id="layer"></select></label>
  <label>Head <select id="head"></select></label>
</div>
<p class="muted" id="kind-note"></p>
<h2>Model view: every layer × head (click one)</h2>
<div id="grid" class="grid"></div>
<div class="row">
  <div><h2 id="heat-title">Heatmap</h2><table id="heat" class="heat"></table></div>
  <div><h2>Head view: hover a token</h2><div id="headview" class="headview"></div></div>
</div>
`;

/**
 * The explorer's code, plain ES5 with no imports so it can be inlined in a file:// page. It defines
 * window.atencaoExplorer.show(examples) and shows the examples of an #attention-data JSON block if
 * the page has one. Tokens reach the page only through textContent.
 */
/**
 * Script helpers shared by the explorer and the film player (plain ES5, inlined): elements, the
 * colour scale, and a heatmap table (rows are queries, columns keys; weights ≥ 0.1 printed).
 */
export const HEATMAP_HELPERS = `  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
  function colour(w) {
    var x = Math.sqrt(Math.max(0, Math.min(1, w)));
    return 'rgb(' + Math.round(247 - 239 * x) + ',' + Math.round(251 - 203 * x) + ',' + Math.round(255 - 148 * x) + ')';
  }
  function heatTable(t, rows, cols, w) {
    var head = el('tr'); head.appendChild(el('th'));
    cols.forEach(function (c) { head.appendChild(el('th', 'col', c)); }); t.appendChild(head);
    w.forEach(function (row, r) {
      var tr = el('tr'); tr.appendChild(el('th', null, rows[r]));
      row.forEach(function (x, c) { var td = el('td', null, x >= 0.1 ? x.toFixed(2).replace(/^0/, '') : ''); td.style.background = colour(x);
        td.style.color = x > 0.5 ? 'white' : '#1b1f24'; td.title = rows[r] + ' → ' + cols[c] + ': ' + x.toFixed(3); tr.appendChild(td); });
      t.appendChild(tr);
    });
  }`;

export const EXPLORER_SCRIPT = `(function () {
  var ALL, D;
  function use(i) {
    D = ALL[i];
    var box = document.getElementById('lines'); box.textContent = '';
    D.lines.forEach(function (line) { box.appendChild(el('p', 'sentence', line[0] ? line[0] + ': ' + line[1] : line[1])); });
  }
  function current() {
    for (var i = 0; i < D.maps.length; i++) if (D.maps[i].kind === state.kind) return D.maps[i];
    return D.maps[D.maps.length - 1];
  }
  var state;
${HEATMAP_HELPERS}
  function weights(layer, head) {
    var heads = current().weights[layer];
    if (head >= 0) return heads[head];
    return heads[0].map(function (row, q) { return row.map(function (_, k) {
      return heads.reduce(function (s, h) { return s + h[q][k]; }, 0) / heads.length; }); });
  }
  function fillSelect(id, options, value, onChange) {
    var s = document.getElementById(id); s.textContent = '';
    options.forEach(function (o) { var opt = el('option', null, o[1]); opt.value = String(o[0]); s.appendChild(opt); });
    s.value = String(value); s.onchange = function () { onChange(s.value); };
  }
  function controls() {
    document.getElementById('example-label').style.display = ALL.length > 1 ? '' : 'none';
    fillSelect('example', ALL.map(function (e, i) { return [i, e.name]; }), state.example, function (v) { state.example = +v; use(state.example); render(); });
    var k = current();
    state.kind = k.kind; state.layer = Math.min(state.layer, k.weights.length - 1);
    fillSelect('kind', D.maps.map(function (m) { return [m.kind, m.title]; }), state.kind,
      function (v) { state.kind = v; render(); });
    document.getElementById('kind').disabled = D.maps.length < 2;
    document.getElementById('kind-note').textContent = k.note;
    fillSelect('layer', k.weights.map(function (_, i) { return [i, String(i + 1)]; }), state.layer, function (v) { state.layer = +v; render(); });
    fillSelect('head', [[-1, 'mean of heads']].concat(k.weights[0].map(function (_, i) { return [i, String(i + 1)]; })), state.head,
      function (v) { state.head = +v; render(); });
  }
  function grid() {
    var k = current(), g = document.getElementById('grid'); g.textContent = '';
    var heads = k.weights[0].length;
    g.style.gridTemplateColumns = 'repeat(' + (heads + 1) + ', max-content)';
    k.weights.forEach(function (layerData, l) {
      [-1].concat(layerData.map(function (_, h) { return h; })).forEach(function (h) {
        var w = weights(l, h), cell = 6, c = el('canvas');
        c.width = k.cols.length * cell; c.height = k.rows.length * cell;
        var ctx = c.getContext('2d');
        w.forEach(function (row, r) { row.forEach(function (x, cc) { ctx.fillStyle = colour(x); ctx.fillRect(cc * cell, r * cell, cell, cell); }); });
        var t = el('div', 'thumb' + (l === state.layer && h === state.head ? ' selected' : ''));
        t.appendChild(c); t.appendChild(el('div', null, 'L' + (l + 1) + (h < 0 ? ' mean' : ' H' + (h + 1))));
        t.onclick = function () { state.layer = l; state.head = h; render(); };
        g.appendChild(t);
      });
    });
  }
  function heat() {
    var k = current(), w = weights(state.layer, state.head), t = document.getElementById('heat'); t.textContent = '';
    document.getElementById('heat-title').textContent = k.title + ', layer ' + (state.layer + 1) + ', ' + (state.head < 0 ? 'mean of heads' : 'head ' + (state.head + 1));
    heatTable(t, k.rows, k.cols, w);
  }
  function headView() {
    var k = current(), w = weights(state.layer, state.head), box = document.getElementById('headview'); box.textContent = '';
    var left = el('div', 'tokens left'), right = el('div', 'tokens right'), svgNS = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(svgNS, 'svg'), H = 24, height = Math.max(k.rows.length, k.cols.length) * H;
    svg.setAttribute('width', '120'); svg.setAttribute('height', String(height));
    var lt = k.rows.map(function (t) { var e = el('div', 'tok', t); left.appendChild(e); return e; });
    var rt = k.cols.map(function (t) { var e = el('div', 'tok'); e.appendChild(el('span', null, t)); var s = el('span', 'w'); e.appendChild(s); right.appendChild(e); return e; });
    var lines = [];
    w.forEach(function (row, r) { row.forEach(function (x, c) {
      var line = document.createElementNS(svgNS, 'line');
      line.setAttribute('x1', '0'); line.setAttribute('y1', String(r * H + 12)); line.setAttribute('x2', '120'); line.setAttribute('y2', String(c * H + 12));
      line.setAttribute('stroke', 'rgb(8,48,107)'); line.setAttribute('stroke-width', '2'); line.setAttribute('stroke-opacity', String(x));
      svg.appendChild(line); lines.push({ line: line, r: r, c: c, x: x });
    }); });
    function show(filter) {
      lines.forEach(function (l) { l.line.setAttribute('stroke-opacity', String(filter(l) ? l.x : 0.03 * l.x)); });
    }
    function reset() { show(function () { return true; }); lt.concat(rt).forEach(function (e) { e.style.background = ''; });
      rt.forEach(function (e) { e.lastChild.textContent = ''; }); }
    lt.forEach(function (e, r) {
      e.onmouseenter = function () { show(function (l) { return l.r === r; }); e.style.background = '#ddf4ff';
        rt.forEach(function (t, c) { t.style.background = colour(w[r][c]); t.lastChild.textContent = w[r][c].toFixed(2); t.style.color = w[r][c] > 0.5 ? 'white' : ''; }); };
      e.onmouseleave = function () { reset(); rt.forEach(function (t) { t.style.color = ''; }); };
    });
    rt.forEach(function (e, c) {
      e.onmouseenter = function () { show(function (l) { return l.c === c; }); e.style.background = '#ddf4ff'; };
      e.onmouseleave = reset;
    });
    box.appendChild(left); box.appendChild(svg); box.appendChild(right);
  }
  function render() { controls(); grid(); heat(); headView(); }
  /** Show a list of { name, lines: [[label, text]], maps: [{ kind, title, note, rows, cols, weights }] }. */
  function show(examples) {
    ALL = examples; state = { example: 0, kind: '', layer: 0, head: -1 }; use(0);
    var last = D.maps[D.maps.length - 1];
    state.kind = last.kind; state.layer = last.weights.length - 1;
    render();
  }
  window.atencaoExplorer = { show: show };
  var embedded = document.getElementById('attention-data');
  if (embedded) show(JSON.parse(embedded.textContent));
})();
`;

/** JSON for a <script type="application/json"> block: "<" and line separators escaped so no token can end it. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028|\u2029/g, (c) => (c === '\u2028' ? '\\u2028' : '\\u2029'));
}

/**
 * One self-contained HTML file (no network, works from file://) to explore the attention of one
 * or more sentences, for a model of any family: a "model view" grid with every layer × head of
 * the chosen kind, a large heatmap of the selected head, and a "head view" where hovering a token
 * shows what it attends to, with the weights. Tokens only ever reach the page as JSON data written
 * into the DOM with textContent, and the JSON escapes "<", so no token can become markup.
 */
export function renderHtml(input: HtmlReportInput): string {
  const data = scriptJson(input.examples.map(explorerExample));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeMarkup(input.title)}</title>
<style>
${EXPLORER_CSS}</style>
</head>
<body>
<h1>${escapeMarkup(input.title)}</h1>
${EXPLORER_MARKUP}<script type="application/json" id="attention-data">${data}</script>
<script>
${EXPLORER_SCRIPT}</script>
</body>
</html>
`;
}
