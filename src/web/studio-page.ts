import { FILM_MARKUP } from '../viz/film.js';
import { STUDIO_ARCHS, STUDIO_BACKENDS, STUDIO_SIZES, STUDIO_TASKS } from './studio-settings.js';

/**
 * The training studio's part of the page: the form (family, task or a dropped file, size, steps,
 * seed, backend), the run's buttons, its charts and its film. `#train` carries the run's state in
 * `data-state` (idle|running|paused|done|error) and its latest metrics as JSON in `data-metrics`.
 */
export const STUDIO_CSS = `  nav.views { margin: 8px 0 16px; display: flex; gap: 4px; }
  nav.views button { font-size: 14px; padding: 4px 12px; border: 1px solid #d0d7de; background: #f6f8fa; border-radius: 4px; cursor: pointer; }
  nav.views button.selected { background: #0969da; color: white; border-color: #0969da; }
  #train .form { display: flex; gap: 12px; flex-wrap: wrap; align-items: center; margin: 8px 0; }
  #train .form label { font-size: 14px; }
  #train input[type=number] { width: 6em; }
  #drop { border: 2px dashed #d0d7de; border-radius: 6px; padding: 8px 12px; font-size: 13px; color: #57606a; }
  #drop.over { border-color: #0969da; background: #ddf4ff; }
  #train-message { margin: 6px 0; padding: 6px 10px; border: 1px solid #cf222e; background: #ffebe9; color: #82071e; border-radius: 4px; }
  .charts { display: flex; gap: 24px; flex-wrap: wrap; margin: 8px 0; }
  .numbers { font-variant-numeric: tabular-nums; font-size: 14px; margin: 6px 0; }
`;

const options = (values: readonly string[], labels: Record<string, string> = {}) => values.map((v) => `<option value="${v}">${labels[v] ?? v}</option>`).join('');

export const STUDIO_MARKUP = `<section id="train" data-state="idle" data-metrics="{}" hidden>
  <p class="muted">Train a small transformer here, in this browser tab (a worker thread runs the same library code as <code>atencao train</code>), and watch its attention form. Data you drop here never leaves the browser.</p>
  <div class="form">
    <label>Family <select id="train-arch">${options(STUDIO_ARCHS, { 'encoder-decoder': 'encoder–decoder', decoder: 'decoder (GPT)', encoder: 'encoder (BERT)' })}</select></label>
    <label>Task <select id="train-task">${options(STUDIO_TASKS, { lm: 'language model (pt)', 'pt-en': 'pt-en translation', file: 'my file' })}</select></label>
    <label>Size <select id="train-size">${options(STUDIO_SIZES, { recipe: 'as atencao train' })}</select></label>
    <label>Steps <input id="train-steps" type="number" min="1" value="200"></label>
    <label>Seed <input id="train-seed" type="number" min="0" value="1"></label>
    <label>Backend <select id="train-backend">${options(STUDIO_BACKENDS, { auto: 'auto (WebGPU, WebGL, wasm)' })}</select></label>
    <label>Film every <input id="train-film" type="number" min="1" value="10"> steps</label>
  </div>
  <div class="form">
    <div id="drop">Drop a TSV (source⇥target) or text file here, or <input id="train-file" type="file" accept=".tsv,.txt,.csv,text/plain"></div>
    <span id="train-file-name" class="muted"></span>
  </div>
  <div class="form">
    <button type="button" id="train-start">Start</button>
    <button type="button" id="train-continue" disabled title="Train the loaded model Steps more steps, from its optimizer state">Continue the loaded model</button>
    <button type="button" id="train-pause" disabled>Pause</button>
    <button type="button" id="train-resume" disabled>Resume</button>
    <button type="button" id="train-stop" disabled>Stop</button>
    <button type="button" id="train-download" disabled>Download the model (.tar)</button>
    <label>Load a model: <input id="train-load" type="file" accept=".tar"></label>
    <label>or a folder <input id="train-load-folder" type="file" webkitdirectory multiple></label>
  </div>
  <div id="train-message" role="alert" hidden></div>
  <p class="numbers" id="train-status">Not started.</p>
  <p class="muted" id="train-backend-info"></p>
  <label class="muted">Charts against <select id="train-axis"><option value="step">step</option><option value="time">seconds of training</option></select></label>
  <div class="charts"><div id="chart-loss"></div><div id="chart-accuracy"></div></div>
  <h2>The film: the attention of one input as the model learns</h2>
${FILM_MARKUP}</section>
`;
