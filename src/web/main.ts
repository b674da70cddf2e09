/**
 * The browser side of `atencao serve`: pick a TensorFlow.js backend (WebGL, else wasm, else cpu;
 * ?backend=NAME forces one), load the served model — of any family — with the same layers and
 * tokenizer code as Node, then show the part of the page for its family (families.ts) and the
 * attention explorer. Without a served model (a static host, `atencao serve` without --model) the
 * page offers the training studio (studio.ts), whose trained or loaded model becomes the page's.
 * Bundled by src/web/build.ts into dist/web/app.js.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { describeConfig, type Arch } from '../config.js';
import { tokenizerFromJSON } from '../data/hf-tokenizer.js';
import type { LoadedModel } from '../infer/load.js';
import type { RunConfig } from '../io/model-dir.js';
import { readArchive } from '../io/archive.js';
import { planModel } from '../io/weights.js';
import { buildModel } from '../model/load.js';
import { registerWasmOverrides } from '../ops/wasm-kernels.js';
import { VIEWS, type PageResult } from './families.js';
import { inspectViews, runInspectTool, type InspectTool, type PageInspection } from '../inspect/views.js';
import { startStudio } from './studio.js';

interface PageState {
  state: 'loading' | 'ready' | 'error';
  backend?: string;
  /** The page model's family. */
  arch?: Arch;
  /** Where the page's model came from: the server, or an archive (trained or loaded in the studio). */
  model?: string;
  error?: string;
  last?: PageResult;
  /** The last 'Look inside' result (read by the browser tests). */
  inspection?: PageInspection;
}

declare global {
  interface Window {
    atencaoExplorer: { show(examples: unknown[]): void };
    __atencao: PageState;
  }
}

const page: PageState = { state: 'loading' };
window.__atencao = page;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function status(text: string, progress?: number): void {
  $('status-text').textContent = text;
  const bar = $<HTMLProgressElement>('progress');
  bar.hidden = progress === undefined;
  if (progress !== undefined) bar.value = progress;
}

function showError(message: string): void {
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
}

async function pickBackend(): Promise<string> {
  const query = new URLSearchParams(location.search);
  // In the Train view, ?backend= is the training worker's; the page itself runs WebGPU nowhere, 'auto' nowhere.
  const forced = query.get('view') === 'train' && ['webgpu', 'auto'].includes(query.get('backend') ?? '') ? null : query.get('backend');
  setWasmPaths(new URL('wasm/', location.href).href);
  // Without cross-origin isolation there are no wasm threads (SharedArrayBuffer stands in for itself, see shims/globals.ts).
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  registerWasmOverrides();
  for (const name of forced ? [forced] : ['webgl', 'wasm', 'cpu']) {
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        return name;
      }
    } catch {
      // try the next one
    }
  }
  throw new Error(forced ? `the ${forced} backend could not start in this browser` : 'no TensorFlow.js backend could start in this browser');
}

async function fetchOk(path: string): Promise<Response> {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`the server has no ${path} (HTTP ${response.status}); is it serving a model folder made by atencao train?`);
  return response;
}

/** Download with progress (the weights are the large part). */
async function fetchBytes(path: string, onProgress: (fraction: number) => void): Promise<ArrayBuffer> {
  const response = await fetchOk(path);
  const total = Number(response.headers.get('content-length') ?? 0);
  if (!response.body || total === 0) return response.arrayBuffer();
  const reader = response.body.getReader();
  const out = new Uint8Array(total);
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    out.set(value, received);
    received += value.length;
    onProgress(received / total);
  }
  return out.buffer;
}

/**
 * The served folder as `loadModelDir` gives it in Node: the model of its family, tokenizers, run
 * config, labels; undefined when the server has no model (the studio alone).
 */
async function loadServedModel(): Promise<LoadedModel | undefined> {
  status('Loading the model description…', 0);
  if (document.querySelector('meta[name="atencao-model"]') === null) return undefined;
  const [modelJson, tokenizers, run] = await Promise.all([
    fetchOk('/model/model.json').then((r) => r.json()),
    fetchOk('/model/tokenizer.json').then((r) => r.json()),
    fetchOk('/model/config.json').then((r) => r.json() as Promise<RunConfig>),
  ]);
  const plan = planModel(modelJson, 'model.json');
  const weights = await fetchBytes(`/model/${plan.file.replace(/^\.\//, '')}`, (f) => status(`Loading the weights… ${Math.round(100 * f)}%`, f));
  const model = buildModel(plan, weights, 'weights.bin');
  const labels = run.data?.labels;
  return { dir: '/model', model, source: tokenizerFromJSON(tokenizers.source), target: tokenizerFromJSON(tokenizers.target), run, ...(labels ? { labels } : {}) };
}

/** A model archive (src/io/archive.ts) as a loaded model, built with the same code as a served folder. */
function loadArchive(bytes: Uint8Array, name: string): LoadedModel {
  const { files } = readArchive(bytes, name);
  const file = (f: string) => {
    const found = files.find((x) => x.name === f);
    if (found === undefined) throw new Error(`${name} has no ${f}`);
    return found.data;
  };
  const json = (f: string) => JSON.parse(new TextDecoder().decode(file(f)));
  const plan = planModel(json('model.json'), 'model.json');
  const weights = file('weights.bin');
  const model = buildModel(plan, weights.slice().buffer as ArrayBuffer, 'weights.bin');
  const tokenizers = json('tokenizer.json');
  const run = json('config.json') as RunConfig;
  const labels = run.data?.labels;
  const source = tokenizerFromJSON(tokenizers.source);
  return { dir: name, model, source, target: model.arch === 'encoder-decoder' ? tokenizerFromJSON(tokenizers.target) : source, run, ...(labels ? { labels } : {}) };
}

/** Show the parts of the page for one family and hide the others. */
function showFamily(arch: Arch, loaded: LoadedModel): void {
  document.querySelectorAll<HTMLElement>('[data-family]').forEach((el) => (el.hidden = el.dataset.family !== arch));
  const view = VIEWS[arch];
  $('about').textContent = view.about;
  const trained = loaded.run.data?.description;
  $('model-info').textContent = `Model: ${describeConfig(loaded.model.config)}${trained ? `; trained on ${trained}` : ''}.`;
  const input = $<HTMLTextAreaElement>('input');
  const examples = view.examples(loaded.run);
  input.value = examples[0] ?? '';
  const box = $('examples');
  box.textContent = 'Examples: ';
  box.hidden = examples.length === 0;
  for (const example of examples) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = example;
    button.onclick = () => {
      input.value = example;
    };
    box.appendChild(button);
  }
}

let current: LoadedModel | undefined;
let backendReady: Promise<string> | undefined;

/** Make `loaded` the page's model: its family's part of the page, its examples, its button. */
function useLoaded(loaded: LoadedModel, origin: string): void {
  current?.model.dispose();
  current = loaded;
  page.arch = loaded.model.arch;
  page.model = origin;
  page.last = undefined;
  showFamily(loaded.model.arch, loaded);
  $('explorer').hidden = true;
  $('inspect').hidden = true;
  for (const view of Object.values(VIEWS)) $<HTMLButtonElement>(view.button).disabled = true;
  $<HTMLButtonElement>(VIEWS[loaded.model.arch].button).disabled = false;
  // Decoding step by step needs a family that writes text.
  $('inspect-steps').hidden = loaded.model.startGeneration === undefined;
}

async function main(): Promise<void> {
  startStudio({
    useModel: async (bytes, name) => {
      await backendReady;
      const loaded = loadArchive(bytes, name);
      useLoaded(loaded, name);
      status(`Ready — ${name} (${describeConfig(loaded.model.config)}) on the ${page.backend} backend.`);
      return describeConfig(loaded.model.config);
    },
  });
  $('form').onsubmit = async (event) => {
    event.preventDefault();
    $('error').hidden = true;
    const text = $<HTMLTextAreaElement>('input').value.trim();
    if (text === '' || current === undefined) return;
    const loaded = current;
    try {
      const result = await VIEWS[loaded.model.arch].run(loaded, text);
      $('explorer').hidden = false;
      // The raw weights, and beside them (the explorer's View selector) rollout and value-weighted norms.
      window.atencaoExplorer.show(await inspectViews(loaded, result.maps));
      page.last = result;
      $('inspect').hidden = false;
    } catch (error) {
      showError(`Could not read it: ${(error as Error).message}`);
    }
  };
  for (const tool of ['ablate', 'patch', 'lens', 'neurons', 'steps'] as InspectTool[]) {
    $<HTMLButtonElement>(`inspect-${tool}`).onclick = async () => {
      if (current === undefined) return;
      $('error').hidden = true;
      const text = $<HTMLTextAreaElement>('input').value.trim();
      $('inspect-summary').textContent = 'Working…';
      const number = (id: string) => (Number.isInteger(Number($<HTMLInputElement>(id).value)) && $<HTMLInputElement>(id).value !== '' ? Number($<HTMLInputElement>(id).value) : undefined);
      const query = $<HTMLInputElement>('neurons-query').value.trim();
      try {
        const shown = await runInspectTool(current, tool, text, { layer: number('neurons-layer'), head: number('neurons-head'), ...(query ? { query: /^\d+$/.test(query) ? Number(query) : query } : {}) });
        $('inspect-summary').textContent = shown.summary;
        const frame = $<HTMLIFrameElement>('inspect-steps-frame');
        frame.hidden = tool !== 'steps';
        if (tool === 'steps') {
          frame.srcdoc = shown.svg; // a whole page (stepsHtml), tokens escaped
          $('inspect-out').textContent = '';
        } else {
          $('inspect-out').innerHTML = shown.svg; // built by gridsSvg, every token escaped
        }
        page.inspection = shown;
      } catch (error) {
        $('inspect-summary').textContent = '';
        showError(`Could not look inside: ${(error as Error).message}`);
      }
    };
  }
  try {
    status('Starting TensorFlow.js…');
    backendReady = pickBackend();
    page.backend = await backendReady;
    const loaded = await loadServedModel();
    if (loaded === undefined) {
      status(`No model is served here: train one, or load a model folder, in the Train view (running on the ${page.backend} backend).`);
    } else {
      useLoaded(loaded, '/model');
      status(`Ready — running on the ${page.backend} backend.`);
    }
    page.state = 'ready';
  } catch (error) {
    page.state = 'error';
    page.error = (error as Error).message;
    status('Not ready.');
    showError((error as Error).message);
  }
}

void main();
