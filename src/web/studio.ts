/**
 * The training studio, on the page's side: reads the form (preset by the URL), drives the training
 * worker (src/web/studio-worker.ts), draws the live charts with uPlot, plays the film as frames
 * arrive, downloads the trained model as a folder archive, and loads a model folder or archive
 * (checked by the worker as Node checks it). Every message for the user is one line in
 * #train-message; a refused file or model leaves the previous state as it was.
 */
import uPlot from 'uplot';
import type { ValidationRecord } from '../io/run-record.js';
import type { FilmFrame } from '../train/film.js';
import type { FromWorker, StudioState, ToWorker } from './studio-protocol.js';
import { settingsFromQuery, type StudioSettings } from './studio-settings.js';

declare global {
  interface Window {
    atencaoFilm: { show(frames: FilmFrame[]): void; push(frame: FilmFrame): void; seek(i: number): void; state(): { frames: number; index: number; step: number | null; kind: string; playing: boolean } };
    /** The studio's record of the current run (read by the browser tests). */
    __studio: StudioRecord;
  }
}

export interface StudioRecord {
  state: StudioState;
  backend?: { name: string; adapter?: string; skipped: string[] };
  started?: Extract<FromWorker, { type: 'started' }>;
  /** Training loss of every step, in order, and the training seconds at each (null before a continued run's first step). */
  losses: (number | null)[];
  seconds: (number | null)[];
  /** The step this run started from (0, or a continued model's). */
  from: number;
  valid: ValidationRecord[];
  frames: number;
  /** The last archive made (after a run, or of a loaded model). */
  archive?: { name: string; size: number };
  message?: string;
  /** Main-thread timer ticks (a page that stays responsive keeps them coming) … */
  ticks: number;
  /** … and the longest wait between two of them since the run started, in milliseconds. */
  longestTickGapMs: number;
}

/** Dropped files larger than this are refused: the page trains on small data (atencao train takes the rest). */
export const MAX_DROPPED_BYTES = 20 * 1024 * 1024;

export interface StudioHooks {
  /** Make a model archive the page's model (the Translate/Explore view); resolves to a description. */
  useModel(archive: Uint8Array, name: string): Promise<string>;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export function startStudio(hooks: StudioHooks): void {
  const record: StudioRecord = { state: 'idle', losses: [], seconds: [], from: 0, valid: [], frames: 0, ticks: 0, longestTickGapMs: 0 };
  window.__studio = record;
  let lastTick = performance.now();
  setInterval(() => {
    const now = performance.now();
    record.ticks++;
    record.longestTickGapMs = Math.max(record.longestTickGapMs, now - lastTick);
    lastTick = now;
  }, 50);
  const panel = $('train');
  let worker: Worker | undefined;
  let file: { name: string; kind: 'corpus' | 'text'; bytes: Uint8Array } | undefined;
  let archive: { name: string; bytes: Uint8Array } | undefined;
  let validSteps: number[] = [];
  let resumable = false;

  // Views: Translate/Explore and Train.
  const show = (train: boolean) => {
    panel.hidden = !train;
    $('explore-view').hidden = train;
    $('view-train').classList.toggle('selected', train);
    $('view-explore').classList.toggle('selected', !train);
  };
  $('view-train').onclick = () => show(true);
  $('view-explore').onclick = () => show(false);

  const setState = (state: StudioState) => {
    record.state = state;
    panel.dataset.state = state;
    const running = state === 'running';
    $<HTMLButtonElement>('train-start').disabled = running || state === 'paused';
    $<HTMLButtonElement>('train-continue').disabled = running || state === 'paused' || !resumable;
    $<HTMLButtonElement>('train-pause').disabled = !running;
    $<HTMLButtonElement>('train-resume').disabled = state !== 'paused';
    $<HTMLButtonElement>('train-stop').disabled = !(running || state === 'paused');
    $<HTMLButtonElement>('train-download').disabled = archive === undefined && state !== 'paused';
  };
  const message = (text: string | undefined) => {
    record.message = text;
    const box = $('train-message');
    box.hidden = text === undefined;
    box.textContent = text ?? '';
  };
  const metrics = () => {
    const last = record.valid.at(-1);
    const n = record.losses.length;
    // Steps per second over the last steps (the first ones compile kernels).
    const from = Math.max(record.from, n - 21);
    const rate = n - from > 1 ? (n - 1 - from) / (record.seconds[n - 1]! - record.seconds[from]!) : undefined;
    const m = {
      step: n,
      loss: record.losses[n - 1],
      ...(last ? { validLoss: last.loss, tokenAccuracy: last.tokenAccuracy, ...(last.exactMatch === undefined ? {} : { exactMatch: last.exactMatch }) } : {}),
      seconds: record.seconds[n - 1],
      ...(rate !== undefined && Number.isFinite(rate) ? { stepsPerSecond: rate } : {}),
      backend: record.backend?.name,
      frames: record.frames,
    };
    panel.dataset.metrics = JSON.stringify(m);
    $('train-status').textContent =
      `step ${n}${record.started ? ` of ${record.started.steps}` : ''}` +
      (typeof m.loss === 'number' ? ` · loss ${m.loss.toFixed(4)}` : '') +
      (last ? ` · validation loss ${last.loss.toFixed(4)}${last.exactMatch !== undefined ? ` · exact match ${(100 * last.exactMatch).toFixed(1)}%` : ` · token accuracy ${(100 * last.tokenAccuracy).toFixed(1)}%`}` : '') +
      (m.stepsPerSecond !== undefined ? ` · ${m.stepsPerSecond.toFixed(2)} steps/s` : '');
  };

  // Charts: loss (training and validation) and accuracy, against step or seconds of training.
  let lossChart: uPlot | undefined;
  let accuracyChart: uPlot | undefined;
  const axisBy = () => $<HTMLSelectElement>('train-axis').value as 'step' | 'time';
  const chartData = (): { loss: uPlot.AlignedData; accuracy: uPlot.AlignedData } => {
    const time = axisBy() === 'time';
    const x = record.losses.map((_, i) => (time ? (record.seconds[i] ?? 0) : i + 1));
    const validLoss = record.losses.map(() => null as number | null);
    const accuracy: number[] = [];
    const exact: (number | null)[] = [];
    const vx: number[] = [];
    record.valid.forEach((v, k) => {
      const i = validSteps[k]! - 1;
      if (i >= 0 && i < validLoss.length) validLoss[i] = v.loss;
      vx.push(time ? (record.seconds[i] ?? 0) : v.step);
      accuracy.push(v.tokenAccuracy);
      exact.push(v.exactMatch ?? null);
    });
    return { loss: [x, record.losses, validLoss] as uPlot.AlignedData, accuracy: [vx, accuracy, exact] };
  };
  const makeCharts = () => {
    lossChart?.destroy();
    accuracyChart?.destroy();
    const time = axisBy() === 'time';
    const x = { label: time ? 'seconds of training' : 'step' };
    const data = chartData();
    lossChart = new uPlot(
      {
        title: 'Loss',
        width: 520,
        height: 260,
        scales: { x: { time: false } },
        axes: [x, { label: 'cross-entropy' }],
        series: [{ label: time ? 's' : 'step' }, { label: 'training', stroke: '#0969da', width: 1.5 }, { label: 'validation', stroke: '#cf222e', width: 2, spanGaps: true, points: { show: true } }],
      },
      data.loss,
      $('chart-loss'),
    );
    accuracyChart = new uPlot(
      {
        title: 'Accuracy on validation',
        width: 520,
        height: 260,
        scales: { x: { time: false }, y: { range: [0, 1] } },
        axes: [x, { label: 'fraction right' }],
        series: [{ label: time ? 's' : 'step' }, { label: 'tokens', stroke: '#1a7f37', width: 2, points: { show: true } }, { label: 'exact match', stroke: '#8250df', width: 2, points: { show: true } }],
      },
      data.accuracy,
      $('chart-accuracy'),
    );
  };
  let chartQueued = false;
  const redraw = () => {
    if (chartQueued) return;
    chartQueued = true;
    requestAnimationFrame(() => {
      chartQueued = false;
      const data = chartData();
      lossChart?.setData(data.loss);
      accuracyChart?.setData(data.accuracy);
      metrics();
    });
  };
  $<HTMLSelectElement>('train-axis').onchange = makeCharts;
  makeCharts();

  const send = (m: ToWorker, transfer: Transferable[] = []) => worker!.postMessage(m, transfer);
  const startWorker = () => {
    if (worker !== undefined) return worker;
    worker = new Worker(new URL('studio-worker.js', import.meta.url), { type: 'module' });
    worker.onerror = (e) => {
      message(`the training worker failed: ${e.message}`);
      setState('error');
    };
    worker.onmessage = (event: MessageEvent<FromWorker>) => receive(event.data);
    return worker;
  };

  const receive = (m: FromWorker) => {
    if (m.type === 'backend') {
      record.backend = m.backend;
      $('train-backend-info').textContent = `Training on ${m.backend.name}${m.backend.adapter ? ` (${m.backend.adapter})` : ''}${m.backend.skipped.length > 0 ? `; passed over: ${m.backend.skipped.join('; ')}` : ''}.`;
    } else if (m.type === 'started') {
      record.started = m;
      record.from = m.from;
      record.losses = new Array<number | null>(m.from).fill(null);
      record.seconds = new Array<number | null>(m.from).fill(null);
      record.valid = [...m.metrics];
      record.frames = m.frames.length;
      record.longestTickGapMs = 0;
      validSteps = m.metrics.map((r) => r.step);
      archive = undefined;
      window.atencaoFilm.show(m.frames);
      makeCharts();
      metrics();
    } else if (m.type === 'step') {
      record.losses[m.step - 1] = m.loss;
      record.seconds[m.step - 1] = m.seconds;
      redraw();
    } else if (m.type === 'valid') {
      record.valid.push(m.record);
      validSteps.push(m.record.step);
      redraw();
    } else if (m.type === 'frame') {
      record.frames++;
      window.atencaoFilm.push(m.frame);
    } else if (m.type === 'state') {
      if (m.state === 'error') {
        message(m.message);
        // A run that could not start, or failed, leaves the previous model as it was.
        setState(archive !== undefined ? 'done' : 'error');
        return;
      }
      if (m.state === 'done') {
        $('train-status').textContent += ` (${m.message})`;
        send({ type: 'archive' }); // the trained model: for download, and for Translate/Explore
        return; // 'done' once the archive is in
      }
      setState(m.state);
    } else if (m.type === 'archive') {
      archive = { name: m.name, bytes: m.bytes };
      record.archive = { name: m.name, size: m.bytes.length };
      void hooks
        .useModel(m.bytes, m.name)
        .then(() => {
          metrics();
          if (record.state !== 'paused') setState('done');
          else setState('paused');
          if (pendingDownload) download();
        })
        .catch((error: Error) => {
          message(`the trained model could not be shown: ${error.message}`);
          setState('error');
        });
    } else if (m.type === 'loaded') {
      archive = { name: `${m.name}.tar`, bytes: m.archive };
      resumable = m.resumable;
      void hooks.useModel(m.archive, m.name).then(() => {
        message(undefined);
        record.started = undefined;
        record.losses = [];
        record.seconds = [];
        record.from = 0;
        record.valid = [];
        validSteps = [];
        makeCharts();
        record.archive = { name: archive!.name, size: m.archive.length };
        record.frames = m.frames.length;
        window.atencaoFilm.show(m.frames);
        $('train-status').textContent = `Loaded ${m.name}: ${m.description}${m.frames.length > 0 ? `; its film has ${m.frames.length} frames` : '; no film recorded'}. It is the page's model now (Translate / Explore).`;
        setState('done');
        panel.dataset.metrics = JSON.stringify({ loaded: m.name, frames: m.frames.length });
      });
    } else if (m.type === 'failed') {
      message(m.message);
      pendingDownload = false;
    }
  };

  let pendingDownload = false;
  const download = () => {
    pendingDownload = false;
    if (archive === undefined) return;
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([archive.bytes as BlobPart], { type: 'application/x-tar' }));
    link.download = archive.name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  };

  // Settings the form does not show (from the address) are kept for every run.
  let hidden: Pick<StudioSettings, 'validEvery'> = {};
  const readForm = (): StudioSettings => ({
    ...hidden,
    arch: $<HTMLSelectElement>('train-arch').value as StudioSettings['arch'],
    task: $<HTMLSelectElement>('train-task').value as StudioSettings['task'],
    size: $<HTMLSelectElement>('train-size').value as StudioSettings['size'],
    steps: Number($<HTMLInputElement>('train-steps').value),
    seed: Number($<HTMLInputElement>('train-seed').value),
    backend: $<HTMLSelectElement>('train-backend').value as StudioSettings['backend'],
    filmEvery: Number($<HTMLInputElement>('train-film').value),
  });
  const fillForm = (s: StudioSettings) => {
    $<HTMLSelectElement>('train-arch').value = s.arch;
    $<HTMLSelectElement>('train-task').value = s.task;
    $<HTMLSelectElement>('train-size').value = s.size;
    $<HTMLInputElement>('train-steps').value = String(s.steps);
    $<HTMLInputElement>('train-seed').value = String(s.seed);
    $<HTMLSelectElement>('train-backend').value = s.backend;
    $<HTMLInputElement>('train-film').value = String(s.filmEvery);
  };

  const start = (resume = false) => {
    message(undefined);
    const settings = readForm();
    if (resume) {
      setState('running');
      send({ type: 'start', settings, continue: true });
      return;
    }
    if (settings.task === 'file' && file === undefined) {
      message('drop a TSV or text file on the page first (it stays in this browser)');
      return;
    }
    startWorker();
    setState('running');
    send({ type: 'start', settings, ...(settings.task === 'file' && file ? { file: { name: file.name, kind: file.kind, bytes: file.bytes.slice() } } : {}) });
  };
  $('train-start').onclick = () => start();
  $('train-continue').onclick = () => start(true);
  $('train-pause').onclick = () => send({ type: 'pause' });
  $('train-resume').onclick = () => send({ type: 'resume' });
  $('train-stop').onclick = () => send({ type: 'stop' });
  $('train-download').onclick = () => {
    if (record.state === 'paused') {
      pendingDownload = true;
      send({ type: 'archive' });
    } else download();
  };

  // A dropped or chosen data file: checked here, before it is accepted (the previous one stays otherwise).
  const takeFile = async (f: File) => {
    message(undefined);
    try {
      file = await checkDataFile(f);
      $('train-file-name').textContent = `${f.name}: ${file.kind === 'corpus' ? 'tab-separated pairs' : 'plain text'}, ${f.size.toLocaleString('en')} bytes`;
      $<HTMLSelectElement>('train-task').value = 'file';
    } catch (error) {
      message((error as Error).message);
    }
  };
  const drop = $('drop');
  drop.ondragover = (e) => {
    e.preventDefault();
    drop.classList.add('over');
  };
  drop.ondragleave = () => drop.classList.remove('over');
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f !== undefined) void takeFile(f);
  };
  $<HTMLInputElement>('train-file').onchange = () => {
    const f = $<HTMLInputElement>('train-file').files?.[0];
    if (f !== undefined) void takeFile(f);
  };
  const loadFiles = async (list: FileList | null) => {
    if (list === null || list.length === 0) return;
    message(undefined);
    const files = await Promise.all(Array.from(list).map(async (f) => ({ name: f.webkitRelativePath || f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
    startWorker();
    send({ type: 'load', files }, files.map((f) => f.bytes.buffer));
  };
  $<HTMLInputElement>('train-load').onchange = () => void loadFiles($<HTMLInputElement>('train-load').files);
  $<HTMLInputElement>('train-load-folder').onchange = () => void loadFiles($<HTMLInputElement>('train-load-folder').files);

  // The URL presets the form: ?view=train&arch=…&task=…&steps=…&seed=…&backend=…&autostart=1
  const query = settingsFromQuery(location.search);
  fillForm(query.settings);
  if (query.settings.validEvery !== undefined) hidden = { validEvery: query.settings.validEvery };
  if (query.errors.length > 0) message(`ignored in the address: ${query.errors.join('; ')}`);
  if (query.train || query.autostart) show(true);
  if (query.autostart && query.errors.length === 0) start();
}

/**
 * A data file as the studio accepts it: at most MAX_DROPPED_BYTES, UTF-8 text without NUL bytes,
 * tab-separated pairs (a corpus) when its lines have tabs, else plain text. A .tsv file without
 * tabs is refused (it is surely not what was meant).
 */
export async function checkDataFile(f: File): Promise<{ name: string; kind: 'corpus' | 'text'; bytes: Uint8Array }> {
  const name = f.name.replace(/[^\w.-]+/g, '_') || 'data.txt';
  if (f.size > MAX_DROPPED_BYTES) throw new Error(`${f.name} is ${(f.size / 2 ** 20).toFixed(1)} MiB, more than the ${MAX_DROPPED_BYTES / 2 ** 20} MiB the page trains on; train on it with 'atencao train --data' instead`);
  if (f.size === 0) throw new Error(`${f.name} is empty`);
  const bytes = new Uint8Array(await f.arrayBuffer());
  if (bytes.includes(0)) throw new Error(`${f.name} is not a text file (it holds NUL bytes)`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${f.name} is not UTF-8 text`);
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const tabbed = lines.filter((l) => l.includes('\t')).length;
  if (/\.tsv$/i.test(f.name) && tabbed === 0) throw new Error(`${f.name} has no tabs: a TSV file needs "source<TAB>target" on each line`);
  return { name, kind: tabbed > 0 && tabbed >= lines.length / 2 ? 'corpus' : 'text', bytes };
}
