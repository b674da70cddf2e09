import { FILM_CSS, FILM_MARKUP, FILM_SCRIPT } from '../viz/film.js';
import { EXPLORER_CSS, EXPLORER_MARKUP, EXPLORER_SCRIPT } from '../viz/html.js';
import { STUDIO_CSS, STUDIO_MARKUP } from './studio-page.js';

/**
 * The browser page. One page serves every family: app.js (the bundle of src/web/main.ts) reads the
 * served folder's config.json, learns the family and shows its part — translate (encoder–decoder),
 * continue a prompt (decoder), fill [MASK] and classify (encoder) — above the same attention
 * explorer as the HTML report. The Train view (studio-page.ts) trains a model in the page and
 * plays its film; `chartCss` is the chart library's stylesheet, inlined.
 */
export function webPage(chartCss = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>atencao — attention explorer and training studio</title>
<link rel="icon" href="data:,">
<style>
${EXPLORER_CSS}
  #status { margin: 8px 0; color: #57606a; }
  #error { margin: 8px 0; padding: 8px 12px; border: 1px solid #cf222e; background: #ffebe9; color: #82071e; border-radius: 4px; }
  textarea { width: min(760px, 95%); font-size: 15px; padding: 6px; font-family: inherit; }
  .examples button { margin: 4px 6px 4px 0; font-size: 13px; }
  .actions { margin: 6px 0; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
  .result p { margin: 4px 0; font-size: 15px; }
  .result .label { color: #57606a; display: inline-block; width: 110px; }
  .written { background: #ddf4ff; border-radius: 3px; padding: 0 2px; }
  table.probs { border-collapse: collapse; font-size: 14px; margin: 4px 0 8px; }
  table.probs td { padding: 2px 8px 2px 0; }
  table.probs .bar { display: inline-block; height: 10px; background: rgb(8,48,107); vertical-align: middle; }
  [hidden] { display: none !important; }
  progress { width: 240px; vertical-align: middle; }
  #inspect-out svg { max-width: 100%; height: auto; }
${FILM_CSS}${STUDIO_CSS}${chartCss}
</style>
</head>
<body>
<h1>atencao — attention explorer</h1>
<nav class="views"><button type="button" id="view-explore" class="selected">Translate / Explore</button><button type="button" id="view-train">Train</button></nav>
${STUDIO_MARKUP}
<div id="explore-view">
<p class="muted" id="about">A small transformer running in your browser with TensorFlow.js.</p>
<p class="muted" id="model-info"></p>
<div id="status"><span id="status-text">Loading…</span> <progress id="progress" max="1" value="0"></progress></div>
<div id="error" role="alert" hidden></div>
<form id="form">
  <textarea id="input" rows="2" spellcheck="false"></textarea>
  <div class="examples" id="examples" hidden>Examples: </div>
  <div class="actions" data-family="encoder-decoder" hidden>
    <label>Beam width <input id="beam" type="number" min="1" max="8" value="4" style="width: 4em"></label>
    <button id="translate" type="submit" disabled>Translate</button>
  </div>
  <div class="actions" data-family="decoder" hidden>
    <label>Longest continuation <input id="max-new" type="number" min="1" value="32" style="width: 4em"> tokens</label>
    <button id="generate" type="submit" disabled>Generate</button>
  </div>
  <div class="actions" data-family="encoder" hidden>
    <button id="read" type="submit" disabled>Read</button>
    <span class="muted" id="mask-hint">Write [MASK] where a word is hidden.</span>
  </div>
</form>
<div class="result" data-family="encoder-decoder" hidden>
  <p><span class="label">Greedy</span> <span id="greedy"></span></p>
  <p><span class="label" id="beam-label">Beam</span> <span id="beam-output"></span></p>
  <p class="muted" id="unknown"></p>
</div>
<div class="result" data-family="decoder" hidden>
  <p><span class="label">Continuation</span> <span id="prompt-echo"></span> <span id="continuation" class="written"></span></p>
</div>
<div class="result" data-family="encoder" hidden>
  <div id="fill-mask"></div>
  <div id="classification"></div>
</div>
<div id="inspect" hidden>
  <h2>Look inside</h2>
  <p class="muted">For a sentence of the cheio/vazia construction: remove each head (ablation), copy activations from this sentence into its twin whose adjective describes the other container (patching), or read the answer after every layer (logit lens). Blue: the decision for the right container, red: against it.</p>
  <div class="actions">
    <button id="inspect-ablate" type="button">Ablate each head</button>
    <button id="inspect-patch" type="button">Patch into the twin</button>
    <button id="inspect-lens" type="button">Logit lens</button>
    <button id="inspect-steps" type="button">Decode step by step</button>
  </div>
  <div class="actions">
    <button id="inspect-neurons" type="button">q·k neurons</button>
    <label>layer <input id="neurons-layer" type="number" min="1" style="width: 3em"></label>
    <label>head <input id="neurons-head" type="number" min="1" value="1" style="width: 3em"></label>
    <label>query token <input id="neurons-query" type="text" placeholder="the last" style="width: 7em"></label>
  </div>
  <p id="inspect-summary"></p>
  <div id="inspect-out"></div>
  <iframe id="inspect-steps-frame" title="decoding step by step" style="width: 100%; height: 640px; border: 1px solid #d0d7de" hidden></iframe>
</div>
<div id="explorer" hidden>
${EXPLORER_MARKUP.replace('<label id="example-label">Sentence', '<label id="example-label">View')}</div>
</div>
<script>
${EXPLORER_SCRIPT}</script>
<script>
${FILM_SCRIPT}</script>
<script type="module" src="app.js"></script>
</body>
</html>
`;
}
