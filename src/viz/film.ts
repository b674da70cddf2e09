/**
 * The film player: a training film's frames (src/train/film.ts) played back — a step slider, a
 * play button, a loss line, and the heatmaps of every layer and head of the chosen attention kind
 * changing as the model learns, with the selected head large and labelled by its tokens. The same
 * player runs in the self-contained HTML report (`atencao attention --film --format html`) and in
 * the browser page's training studio, where frames arrive while the model trains.
 */
import type { FilmFrame } from '../train/film.js';
import { HEATMAP_HELPERS, scriptJson } from './html.js';
import { escapeMarkup } from './panels.js';

export const FILM_CSS = `  .film .controls { display: flex; gap: 14px; align-items: center; margin: 10px 0; flex-wrap: wrap; }
  .film input[type=range] { width: min(420px, 60vw); }
  .film .fgrid { display: grid; gap: 8px; align-items: start; margin: 8px 0; }
  .film .fthumb { border: 2px solid transparent; cursor: pointer; padding: 2px; text-align: center; font-size: 11px; color: #57606a; }
  .film .fthumb.selected { border-color: #0969da; }
  .film .fthumb canvas { display: block; image-rendering: pixelated; }
  .film table.fheat { border-collapse: collapse; font-size: 12px; }
  .film table.fheat td { width: 24px; height: 20px; text-align: center; font-size: 10px; }
  .film table.fheat th { font-weight: normal; padding: 1px 6px; white-space: nowrap; }
  .film table.fheat th.col { writing-mode: vertical-rl; transform: rotate(180deg); text-align: left; height: 76px; padding: 4px 1px; }
  .film .fstep { font-variant-numeric: tabular-nums; min-width: 15em; display: inline-block; }
`;

/** The player's markup, inside an element with class "film" (ids start with "film-"). */
export const FILM_MARKUP = `<div class="film" id="film">
  <div class="controls">
    <button type="button" id="film-play">Play</button>
    <input type="range" id="film-step" min="0" max="0" value="0" aria-label="training step">
    <span class="fstep" id="film-label">no frames yet</span>
    <label>Attention <select id="film-kind"></select></label>
  </div>
  <p class="muted" id="film-input"></p>
  <div id="film-grid" class="fgrid"></div>
  <h3 id="film-heat-title" style="font-size: 14px; font-weight: normal"></h3>
  <table id="film-heat" class="fheat"></table>
</div>
`;

/**
 * The player's code, plain ES5 with no imports (inlined in a file:// page, or in the studio page).
 * It defines window.atencaoFilm with show(frames), push(frame) (a frame recorded just now: the
 * player follows it when it was showing the newest), seek(index), play(), pause() and state(), and
 * shows the frames of a #film-data JSON block if the page has one. Tokens reach the page only
 * through textContent.
 */
export const FILM_SCRIPT = `(function () {
  var frames = [], at = 0, kind = '', layer = 0, head = 0, timer = null;
  function $(id) { return document.getElementById(id); }
${HEATMAP_HELPERS}
  function mapOf(frame) {
    for (var i = 0; i < frame.maps.length; i++) if (frame.maps[i].kind === kind) return frame.maps[i];
    return frame.maps[frame.maps.length - 1];
  }
  function kinds() {
    var f = frames[at], s = $('film-kind'), m = mapOf(f);
    kind = m.kind;
    if (s.getAttribute('data-kinds') !== f.maps.map(function (x) { return x.kind; }).join()) {
      s.textContent = '';
      f.maps.forEach(function (x) { var o = el('option', null, x.title || x.kind); o.value = x.kind; s.appendChild(o); });
      s.setAttribute('data-kinds', f.maps.map(function (x) { return x.kind; }).join());
      s.onchange = function () { kind = s.value; render(); };
    }
    s.value = kind;
  }
  function grid(m) {
    var g = $('film-grid'); g.textContent = '';
    var heads = m.weights[0].length, cell = Math.max(4, Math.min(14, Math.floor(120 / Math.max(m.rows.length, m.cols.length))));
    g.style.gridTemplateColumns = 'repeat(' + heads + ', max-content)';
    m.weights.forEach(function (hs, l) {
      hs.forEach(function (w, h) {
        var c = el('canvas'); c.width = m.cols.length * cell; c.height = m.rows.length * cell;
        var ctx = c.getContext('2d');
        w.forEach(function (row, r) { row.forEach(function (x, k) { ctx.fillStyle = colour(x); ctx.fillRect(k * cell, r * cell, cell, cell); }); });
        var t = el('div', 'fthumb' + (l === layer && h === head ? ' selected' : ''));
        t.appendChild(c); t.appendChild(el('div', null, 'layer ' + (l + 1) + ' head ' + (h + 1)));
        t.onclick = function () { layer = l; head = h; render(); };
        g.appendChild(t);
      });
    });
  }
  function heat(m) {
    layer = Math.min(layer, m.weights.length - 1); head = Math.min(head, m.weights[0].length - 1);
    var w = m.weights[layer][head], t = $('film-heat'); t.textContent = '';
    $('film-heat-title').textContent = (m.title || m.kind) + ', layer ' + (layer + 1) + ', head ' + (head + 1);
    heatTable(t, m.rows, m.cols, w);
  }
  function render() {
    var box = $('film');
    if (frames.length === 0) { $('film-label').textContent = 'no frames yet'; box.setAttribute('data-step', ''); return; }
    var f = frames[at], slider = $('film-step');
    slider.max = String(frames.length - 1); slider.value = String(at);
    $('film-label').textContent = 'step ' + f.step + (typeof f.loss === 'number' ? ' · probe loss ' + f.loss.toFixed(3) : '') + ' · frame ' + (at + 1) + ' of ' + frames.length;
    $('film-input').textContent = f.input ? 'Probe: ' + f.input : '';
    kinds();
    var m = mapOf(f);
    grid(m); heat(m);
    box.setAttribute('data-step', String(f.step));
  }
  function seek(i) { at = Math.max(0, Math.min(frames.length - 1, i)); render(); }
  function pause() { if (timer) clearInterval(timer); timer = null; $('film-play').textContent = 'Play'; }
  function play() {
    if (frames.length === 0) return;
    if (at >= frames.length - 1) at = 0;
    pause(); $('film-play').textContent = 'Pause';
    render();
    timer = setInterval(function () { if (at >= frames.length - 1) { pause(); return; } seek(at + 1); }, 350);
  }
  function show(list) { pause(); frames = list.slice(); at = frames.length - 1; kind = ''; layer = 0; head = 0;
    if (frames.length > 0) { var m = frames[0].maps[frames[0].maps.length - 1]; kind = m.kind; layer = m.weights.length - 1; }
    render(); }
  function push(frame) {
    var following = at >= frames.length - 1;
    frames.push(frame);
    if (frames.length === 1) { show(frames); return; }
    if (following && !timer) seek(frames.length - 1); else { $('film-step').max = String(frames.length - 1); }
  }
  $('film-play').onclick = function () { if (timer) pause(); else play(); };
  $('film-step').oninput = function () { pause(); seek(+$('film-step').value); };
  window.atencaoFilm = { show: show, push: push, seek: seek, play: play, pause: pause,
    state: function () { return { frames: frames.length, index: at, step: frames.length ? frames[at].step : null, kind: kind, playing: !!timer }; } };
  var embedded = $('film-data');
  if (embedded) show(JSON.parse(embedded.textContent));
})();
`;

/** One self-contained HTML file (no network, works from file://) that plays a training film. */
export function renderFilmHtml(input: { title: string; frames: readonly FilmFrame[]; note?: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeMarkup(input.title)}</title>
<style>
  body { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #1b1f24; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .muted { color: #57606a; font-size: 13px; }
${FILM_CSS}</style>
</head>
<body>
<h1>${escapeMarkup(input.title)}</h1>
<p class="muted">${escapeMarkup(input.note ?? 'The attention of one fixed input, recorded while the model trained. Rows are queries (the token looking), columns are keys; every row sums to 1. Drag the slider or press Play.')}</p>
${FILM_MARKUP}<script type="application/json" id="film-data">${scriptJson(input.frames)}</script>
<script>
${FILM_SCRIPT}</script>
</body>
</html>
`;
}
