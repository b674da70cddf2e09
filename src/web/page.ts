import { EXPLORER_CSS, EXPLORER_MARKUP, EXPLORER_SCRIPT } from '../viz/html.js';

/**
 * The browser page: a sentence box with the seed sentences as examples, greedy and beam
 * translations, and the same attention explorer as the HTML report. app.js (the bundle of
 * src/web/main.ts) loads the model and fills it in.
 */
export function webPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>atencao — attention explorer</title>
<link rel="icon" href="data:,">
<style>
${EXPLORER_CSS}
  #status { margin: 8px 0; color: #57606a; }
  #error { margin: 8px 0; padding: 8px 12px; border: 1px solid #cf222e; background: #ffebe9; color: #82071e; border-radius: 4px; }
  textarea { width: min(760px, 95%); font-size: 15px; padding: 6px; font-family: inherit; }
  .examples button { margin: 4px 6px 4px 0; font-size: 13px; }
  .result p { margin: 4px 0; font-size: 15px; }
  .result .label { color: #57606a; display: inline-block; width: 110px; }
  #explorer[hidden], #error[hidden] { display: none; }
  progress { width: 240px; vertical-align: middle; }
</style>
</head>
<body>
<h1>atencao — attention explorer</h1>
<p class="muted">A small encoder–decoder transformer running in your browser with TensorFlow.js. Type a Portuguese sentence from its toy world.</p>
<div id="status"><span id="status-text">Loading…</span> <progress id="progress" max="1" value="0"></progress></div>
<div id="error" role="alert" hidden></div>
<form id="form">
  <textarea id="input" rows="2" spellcheck="false"></textarea>
  <div class="examples" id="examples">Examples: </div>
  <label>Beam width <input id="beam" type="number" min="1" max="8" value="4" style="width: 4em"></label>
  <button id="translate" type="submit" disabled>Translate</button>
</form>
<div class="result">
  <p><span class="label">Greedy</span> <span id="greedy"></span></p>
  <p><span class="label" id="beam-label">Beam</span> <span id="beam-output"></span></p>
  <p class="muted" id="unknown"></p>
</div>
<div id="explorer" hidden>
${EXPLORER_MARKUP}</div>
<script>
${EXPLORER_SCRIPT}</script>
<script type="module" src="app.js"></script>
</body>
</html>
`;
}
