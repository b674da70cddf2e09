/**
 * The browser side of `atencao serve`: pick a TensorFlow.js backend (WebGL, else wasm, else cpu;
 * ?backend=NAME forces one), load the served model with the same layers and tokenizer code as
 * Node, then translate and show attention. Bundled by src/web/build.ts into dist/web/app.js.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmOverrides } from '../ops/wasm-kernels.js';
import { SEED_PAIRS } from '../data/pt-en.js';
import { Tokenizer } from '../data/tokenizer.js';
import { Translator, type AttentionMaps } from '../infer/translator.js';
import { planModel } from '../io/weights.js';
import { buildModel } from '../model/load.js';
import type { Transformer } from '../model/transformer.js';

interface PageState {
  state: 'loading' | 'ready' | 'error';
  backend?: string;
  error?: string;
  last?: { source: string; greedy: string; beam: string; maps: AttentionMaps };
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
  const forced = new URLSearchParams(location.search).get('backend');
  setWasmPaths('/wasm/');
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

async function loadTranslator(): Promise<Translator> {
  status('Loading the model description…', 0);
  const [modelJson, tokenizers] = await Promise.all([(await fetchOk('/model/model.json')).json(), (await fetchOk('/model/tokenizer.json')).json()]);
  const plan = planModel(modelJson, 'model.json');
  const weights = await fetchBytes(`/model/${plan.file.replace(/^\.\//, '')}`, (f) => status(`Loading the weights… ${Math.round(100 * f)}%`, f));
  const model = buildModel(plan, weights, 'weights.bin') as Transformer;
  return new Translator('/model', model, Tokenizer.fromJSON(tokenizers.source), Tokenizer.fromJSON(tokenizers.target));
}

function translate(translator: Translator): void {
  const source = $<HTMLTextAreaElement>('input').value.trim();
  if (source === '') return;
  const beam = Math.max(1, Math.min(8, Math.floor(Number($<HTMLInputElement>('beam').value) || 1)));
  const greedy = translator.translate(source);
  const withBeam = translator.translate(source, { beam });
  const maps = translator.attention(source);
  $('greedy').textContent = greedy.output;
  $('beam-label').textContent = `Beam (K = ${beam})`;
  $('beam-output').textContent = withBeam.output;
  $('unknown').textContent =
    greedy.unknown.length > 0 ? `Words the model never saw in training (read as <unk>): ${greedy.unknown.join(', ')}` : '';
  $('explorer').hidden = false;
  window.atencaoExplorer.show([{ source, translation: greedy.output, ...maps }]);
  page.last = { source, greedy: greedy.output, beam: withBeam.output, maps };
}

async function main(): Promise<void> {
  const input = $<HTMLTextAreaElement>('input');
  input.value = SEED_PAIRS[0]!.source;
  for (const pair of SEED_PAIRS) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = pair.source;
    button.onclick = () => {
      input.value = pair.source;
    };
    $('examples').appendChild(button);
  }
  try {
    status('Starting TensorFlow.js…');
    page.backend = await pickBackend();
    const translator = await loadTranslator();
    status(`Ready — running on the ${page.backend} backend.`);
    const button = $<HTMLButtonElement>('translate');
    button.disabled = false;
    $('form').onsubmit = (event) => {
      event.preventDefault();
      $('error').hidden = true;
      try {
        translate(translator);
      } catch (error) {
        showError(`Could not translate: ${(error as Error).message}`);
      }
    };
    page.state = 'ready';
  } catch (error) {
    page.state = 'error';
    page.error = (error as Error).message;
    status('Not ready.');
    showError((error as Error).message);
  }
}

void main();
