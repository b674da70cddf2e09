/**
 * The training studio's worker: trains a model in the browser with the library's own code — the
 * same `prepareData`, `createModel`, `createStepper` and `train` as `atencao train` in Node — off
 * the page's thread, so the page stays responsive. It records the film (src/train/film.ts), saves
 * the model with the same checkpoint code into an in-memory file system (src/web/shims/fs.ts) and
 * packs that folder as an archive (src/io/archive.ts); a folder or archive loaded in the page is
 * unpacked there and checked by the same `readModelFolder` as in Node.
 * Bundled by src/web/build.ts into dist/web/studio-worker.js.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-webgpu';
import '../backend.js'; // the registered gradients and wasm kernels every training run uses
import { readdirSync, readFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ARCHIVE_FILES, readArchive, writeArchive } from '../io/archive.js';
import { restoreOptimizer, saveCheckpoint, type TrainingState } from '../io/checkpoint.js';
import { writeFileAtomic } from '../io/atomic.js';
import { FORMAT_VERSION, readMetrics, readModelFolder, readRunConfig, readTokenizers, writeMetrics, writeRunConfig, writeTokenizers, type RunConfig } from '../io/model-dir.js';
import type { ValidationRecord } from '../io/run-record.js';
import { loadModelFolder } from '../infer/load.js';
import { createModel } from '../model/create.js';
import { loadModelFiles } from '../model/load-files.js';
import type { Model } from '../model/model.js';
import { registerWasmOverrides } from '../ops/wasm-kernels.js';
import { FILM_JSONL, filmProbe, FilmRecorder, parseFilm, recordFrame, type FilmFrame } from '../train/film.js';
import { evaluationOf, modelConfigFor, prepareData, type PreparedData } from '../train/prepare-data.js';
import { createStepper, type Stepper } from '../train/stepper.js';
import { loopOptions, train } from '../train/trainer.js';
import { putFile } from './shims/fs.js';
import type { BackendReport, FromWorker, ToWorker } from './studio-protocol.js';
import { DROPPED_DIR, planStudioRun, STUDIO_VALID_EXAMPLES, type StudioSettings } from './studio-settings.js';

const post = (message: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(message, transfer);

/** Software renderers: correct, but slower than wasm (auto passes over them, as the CLI does). */
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|software|basic render/i;

async function webgpuAdapter(): Promise<string> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string>; requestAdapterInfo?(): Promise<Record<string, string>> } | null> } }).gpu;
  if (gpu === undefined) throw new Error('this browser has no WebGPU');
  const adapter = await gpu.requestAdapter();
  if (adapter === null) throw new Error('no WebGPU adapter');
  const info = adapter.info ?? (await adapter.requestAdapterInfo?.()) ?? {};
  return [info.vendor, info.architecture, info.device, info.description].filter((s) => s !== undefined && s !== '').join(' ') || 'unnamed adapter';
}

function webglRenderer(): string {
  const gl = new OffscreenCanvas(1, 1).getContext('webgl2') as WebGL2RenderingContext | null;
  if (gl === null) throw new Error('this browser has no WebGL2 in workers');
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(ext === null ? gl.RENDERER : ext.UNMASKED_RENDERER_WEBGL));
}

let backendReady: BackendReport | undefined;

/** Start the asked backend; `auto`: WebGPU, else WebGL, else wasm, passing over software GPUs. */
async function startBackend(requested: StudioSettings['backend']): Promise<BackendReport> {
  if (backendReady !== undefined && (requested === 'auto' || requested === backendReady.name)) return backendReady;
  if (backendReady !== undefined) throw new Error(`this page already trains on ${backendReady.name}; reload it to change the backend`);
  setWasmPaths(new URL('wasm/', self.location.href).href);
  // Without cross-origin isolation there are no wasm threads (SharedArrayBuffer stands in for itself, see shims/globals.ts).
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  const skipped: string[] = [];
  for (const name of requested === 'auto' ? ['webgpu', 'webgl', 'wasm'] : [requested]) {
    try {
      let adapter: string | undefined;
      if (name === 'webgpu') adapter = await webgpuAdapter();
      if (name === 'webgl') adapter = webglRenderer();
      if (requested === 'auto' && adapter !== undefined && SOFTWARE.test(adapter)) throw new Error(`only a software adapter (${adapter}), slower than wasm`);
      if (name === 'wasm') registerWasmOverrides();
      if (!(await tf.setBackend(name))) throw new Error('it could not start');
      await tf.ready();
      backendReady = { name, skipped, ...(adapter === undefined ? {} : { adapter }) };
      return backendReady;
    } catch (error) {
      skipped.push(`${name}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(requested === 'auto' ? `no backend could start (${skipped.join('; ')})` : `the ${requested} backend could not start in this browser (${skipped[0]})`);
}

/** The run in progress or finished: what the archive is made of. */
interface Session {
  name: string;
  model: Model;
  stepper: Stepper;
  prepared: PreparedData;
  config: RunConfig;
  state: TrainingState;
  metrics: ValidationRecord[];
  film: FilmRecorder;
}

let session: Session | undefined;
let busy = false;
const control = { paused: false, stop: false, resume: undefined as (() => void) | undefined };

async function run(settings: StudioSettings, file?: { name: string; kind: 'corpus' | 'text'; bytes: Uint8Array }): Promise<void> {
  if (file !== undefined) putFile(`${DROPPED_DIR}/${file.name}`, file.bytes);
  const plan = planStudioRun(settings, file);
  const backend = await startBackend(settings.backend);
  post({ type: 'backend', backend });
  const prepared = prepareData(plan.data, { arch: plan.arch, maxLen: plan.model.maxLen, seed: plan.training.seed }, QUIET);
  const model = createModel(modelConfigFor(plan.arch, plan.model, prepared), { seed: plan.training.seed });
  let stepper: Stepper;
  try {
    stepper = await createStepper(model, { lr: plan.training.lr, backend: backend.name, threads: 1 });
  } catch (error) {
    model.dispose();
    throw error;
  }
  const config: RunConfig = { formatVersion: FORMAT_VERSION, createdAt: new Date().toISOString(), model: model.config, data: prepared.provenance, training: plan.training, backend: `${backend.name} (browser)` };
  const name = `${plan.arch === 'encoder-decoder' ? '' : `${plan.arch}-`}${settings.task === 'file' ? file!.name.replace(/\.[^.]*$/, '').replace(/[^\w-]+/g, '_') || 'data' : settings.task}-seed${plan.training.seed}`;
  await trainSession({ name, model, stepper, prepared, config, state: { step: 0, elapsedSeconds: 0, tokensSeen: 0 }, metrics: [], film: new FilmRecorder(settings.filmEvery) }, plan.validExamples);
}

const QUIET = { info: () => undefined, warn: () => undefined };

/**
 * Continue training the loaded model folder for `steps` more steps, as `atencao train --resume`
 * does: the same data (rebuilt from its recorded spec, with its tokenizers), its weights and its
 * optimizer state.
 */
async function resume(settings: StudioSettings): Promise<void> {
  if (loaded === undefined) throw new Error('load a model folder or archive first');
  const dir = loaded.dir;
  const backend = await startBackend(settings.backend);
  post({ type: 'backend', backend });
  const stored = readRunConfig(dir);
  const { source, target } = readTokenizers(dir);
  const arch = stored.model.arch ?? 'encoder-decoder';
  const prepared = prepareData(stored.data.spec, { arch, maxLen: stored.model.maxLen, seed: stored.training.seed, tokenizers: { source, target }, expect: stored.data }, QUIET);
  const model = loadModelFiles(dir);
  let stepper: Stepper;
  let state: TrainingState;
  try {
    stepper = await createStepper(model, { lr: stored.training.lr, backend: backend.name, threads: 1 });
    try {
      state = await restoreOptimizer(dir, stepper.optimizer);
    } catch (error) {
      await stepper.dispose();
      throw error;
    }
  } catch (error) {
    model.dispose();
    throw error;
  }
  const training = { ...stored.training, steps: state.step + settings.steps, validEvery: settings.validEvery ?? Math.max(5, Math.ceil(settings.steps / 10)) };
  const config: RunConfig = { ...stored, training, backend: `${backend.name} (browser)` };
  const film = new FilmRecorder(settings.filmEvery);
  film.restore(loaded.frames, state.step + 1);
  const metrics = (existsSync(join(dir, 'metrics.jsonl')) ? readMetrics(dir) : []).filter((m) => m.step <= state.step);
  await trainSession({ name: loaded.name, model, stepper, prepared, config, state, metrics, film }, STUDIO_VALID_EXAMPLES);
}

async function trainSession(next: Session, validExamples: number): Promise<void> {
  const { model, stepper, prepared, config, film } = next;
  // The previous model is replaced only once this run has started.
  const previous = session;
  session = next;
  if (previous !== undefined) {
    await previous.stepper.dispose();
    previous.model.dispose();
  }
  const arch = model.arch;
  const probe = filmProbe(arch, prepared);
  const t = config.training;
  post({ type: 'started', description: prepared.provenance.description, parameters: model.countTrainableParams(), steps: t.steps, from: next.state.step, model: model.config, training: t, data: config.data.spec, probe: probe.input, frames: film.frames, metrics: next.metrics });
  if (film.frames.length === 0) {
    const opening = await recordFrame(model, probe, next.state.step);
    film.add(opening);
    post({ type: 'frame', frame: opening });
  }

  // A training clock: wall time less the film, the pauses and validation (as the trainer's own tokens/s).
  const began = performance.now();
  let excluded = 0;
  let hookEnd = performance.now();
  let stepEvent = 0;
  const clock = () => (performance.now() - began - excluded) / 1000;
  const evaluation = evaluationOf(prepared);
  const result = await train(
    model,
    stepper,
    loopOptions(t, { data: prepared.train, valid: prepared.valid.slice(0, validExamples), evaluation, start: next.state }),
    {
      onStep: (e) => {
        stepEvent = performance.now();
        post({ type: 'step', step: e.step, loss: e.loss, seconds: clock() });
      },
      onValidation: (record) => {
        // Validation began after the step's film and the reading of its losses (a device runs the steps then).
        excluded += performance.now() - Math.max(hookEnd, stepEvent);
        next.metrics.push(record);
        post({ type: 'valid', record, seconds: clock() });
      },
      checkpoint: async (state) => {
        next.state = state;
      },
      shouldStop: () => control.stop,
      afterStep: async (step) => {
        const start = performance.now();
        next.state = { ...next.state, step };
        if (film.due(step)) {
          const frame = await recordFrame(model, probe, step);
          film.add(frame);
          post({ type: 'frame', frame });
        }
        if (control.paused) {
          post({ type: 'state', state: 'paused' });
          await new Promise<void>((resume) => (control.resume = resume));
          post({ type: 'state', state: 'running' });
        }
        hookEnd = performance.now();
        excluded += hookEnd - start;
      },
    },
  );
  next.state = result.state;
  post({ type: 'state', state: 'done', message: result.reason === 'interrupted' ? 'stopped' : result.reason === 'target' ? 'every validation example right' : 'all steps done' });
}

/** The current model's folder, saved by the library's checkpoint code into memory, packed as an archive. */
async function packSession(s: Session): Promise<Uint8Array> {
  const dir = `/studio/${s.name}`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeTokenizers(dir, s.prepared.source, s.prepared.target);
  writeRunConfig(dir, s.config);
  writeMetrics(dir, s.metrics);
  await saveCheckpoint(dir, s.model, s.stepper.optimizer, s.state);
  if (s.film.frames.length > 0) writeFileAtomic(join(dir, FILM_JSONL), s.film.text());
  const files = readdirSync(dir)
    .filter((f) => !f.includes('.tmp-'))
    .map((f) => ({ name: f, data: readFileSync(join(dir, f)) as Uint8Array }));
  return writeArchive(s.name, files, Date.now() / 1000);
}

let loads = 0;
/** The last folder loaded (in memory), to continue training from. */
let loaded: { dir: string; name: string; frames: FilmFrame[] } | undefined;

/** Unpack a folder's files or an archive into memory and check it as `atencao` does; answer with the checked archive. */
async function load(files: { name: string; bytes: Uint8Array }[]): Promise<FromWorker> {
  // Building the model checks it; before any run, the plain JavaScript backend does (a run picks its own later).
  if (backendReady === undefined && tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
  let folder: string;
  let entries: { name: string; data: Uint8Array }[];
  const tar = files.length === 1 && /\.tar$/i.test(files[0]!.name);
  if (tar) {
    ({ folder, files: entries } = readArchive(files[0]!.bytes, files[0]!.name));
  } else {
    const names = files.map((f) => f.name.split('/'));
    folder = names[0]!.length > 1 ? names[0]![names[0]!.length - 2]! : 'model';
    entries = files.map((f) => ({ name: f.name.split('/').pop()!, data: f.bytes })).filter((f) => ARCHIVE_FILES.test(f.name));
  }
  const dir = `/loaded/${loads++}/${folder}`;
  for (const f of entries) putFile(join(dir, f.name), f.data);
  const label = tar ? files[0]!.name : folder;
  let checked;
  try {
    checked = readModelFolder(dir);
  } catch (error) {
    // Messages name the folder as the reader knows it: the page's file, not the memory path.
    throw new Error((error as Error).message.split(`/loaded/${loads - 1}/`).join(tar ? `${label}: ` : ''));
  }
  loadModelFolder(checked).model.dispose(); // builds, as every command does before use
  const frames = existsSync(join(dir, FILM_JSONL)) ? parseFilm(new TextDecoder().decode(readFileSync(join(dir, FILM_JSONL)) as Uint8Array), `${label}/${FILM_JSONL}`) : [];
  const metrics = existsSync(join(dir, 'metrics.jsonl')) ? readMetrics(dir) : [];
  const kept = Object.entries(checked.files).map(([name, data]) => ({ name, data: data as Uint8Array }));
  const archive = writeArchive(folder, kept);
  // Kept to continue training from: with its optimizer state, a run resumes exactly.
  if (loaded !== undefined) rmSync(loaded.dir, { recursive: true, force: true });
  const resumable = readdirSync(dir).some((f) => /^optimizer-\d+\.bin$/.test(f));
  loaded = { dir, name: folder, frames };
  return { type: 'loaded', name: folder, description: checked.run.data.description, frames, metrics, archive, resumable };
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  try {
    if (message.type === 'pause') control.paused = true;
    else if (message.type === 'resume') {
      control.paused = false;
      control.resume?.();
      control.resume = undefined;
    } else if (message.type === 'stop') {
      control.stop = true;
      control.paused = false;
      control.resume?.();
    } else if (message.type === 'start') {
      if (busy) throw new Error('a run is in progress: stop it first');
      busy = true;
      control.paused = false;
      control.stop = false;
      post({ type: 'state', state: 'running' });
      try {
        if (message.continue === true) await resume(message.settings);
        else await run(message.settings, message.file);
      } catch (error) {
        post({ type: 'state', state: 'error', message: (error as Error).message.split('\n')[0] });
      } finally {
        busy = false;
      }
    } else if (message.type === 'archive') {
      if (session === undefined) throw new Error('there is no trained model yet');
      if (busy && !control.paused) throw new Error('pause or stop the run first');
      const bytes = await packSession(session);
      post({ type: 'archive', name: `${session.name}.tar`, bytes }, [bytes.buffer]);
    } else if (message.type === 'load') {
      const answer = await load(message.files);
      post(answer);
    }
  } catch (error) {
    post({ type: 'failed', message: (error as Error).message.split('\n')[0]! });
  }
};
