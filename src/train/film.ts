/**
 * Training films: the attention of one fixed input (the probe), recorded every few steps while a
 * model trains, so that a player can show the maps forming — a diagonal on the copy task, "glass"
 * locking onto "copo" in the toy translation. A film is a list of frames; on disk it is
 * `film.jsonl` in the model folder, one frame per line:
 *
 *   {"step": 40, "loss": 1.234, "input": "…", "maps": [{"kind": "cross", "title": "…", "rows": […], "cols": […], "weights": [layer][head][row][col]}]}
 *
 * `rows` and `cols` are the tokens labelling each map's queries and keys; `loss` is the probe's own
 * loss at that step. Recording reads tensors asynchronously only (it runs on GPU backends too).
 *
 * Size bound: weights are rounded to 3 decimals, and a film keeps at most `maxFrames` frames
 * (default 200) and about `maxBytes` (default 16 MiB) in all. When a new frame would pass either
 * limit, every second frame is dropped (the first and the newest are kept) and the recording
 * interval doubles, so the frames stay evenly spaced over the whole run.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Arch } from '../config.js';
import { BATCHERS, disposeBatch, type Example } from '../data/batching.js';
import { SEED_PAIRS } from '../data/pt-en.js';
import { BOS_ID, EOS_ID, PAD_ID, UNK, UNK_ID, type Tokenizer } from '../data/tokenizer.js';
import { DataError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { kindTitle } from '../infer/attention-maps.js';
import { readFirstRow } from '../infer/translator.js';
import type { AttentionKind, Model, Objective } from '../model/model.js';
import type { PreparedData } from './prepare-data.js';
import type { RunReporter } from './run.js';

export const FILM_JSONL = 'film.jsonl';
/** Default bounds of a film (see the file's comment). */
export const FILM_MAX_FRAMES = 200;
export const FILM_MAX_BYTES = 16 * 1024 * 1024;
/** Decimals kept of each weight. */
const DECIMALS = 3;

/** One kind of attention in a frame: [layer][head][row][col] weights and the tokens on each axis. */
export interface FilmMap {
  kind: AttentionKind;
  title: string;
  /** Query tokens (the token each row belongs to). */
  rows: string[];
  /** Key tokens. */
  cols: string[];
  weights: number[][][][];
}

/** The probe's attention after one step. */
export interface FilmFrame {
  step: number;
  /** The probe's own loss at this step (absent when it has no scored targets). */
  loss?: number;
  /** The probe as text, for titles. */
  input: string;
  maps: FilmMap[];
}

/** The fixed input a film records, encoded as a training example of the model's objective. */
export interface FilmProbe {
  arch: Arch;
  objective: Objective;
  example: Example;
  input: string;
  /** Token names of the model's input and output ids. */
  source: Tokenizer;
  target: Tokenizer;
}

/**
 * The probe for a run: the seed sentence "Ela derramou água da jarra para o copo até que ficasse
 * cheio." when the data is the toy corpus and every word of it is in the vocabulary (with its
 * translation as the target for an encoder–decoder), otherwise the first held-out example (test,
 * else validation).
 */
export function filmProbe(arch: Arch, prepared: PreparedData): FilmProbe {
  const base = { arch, objective: prepared.objective, source: prepared.source, target: prepared.target };
  const seed = SEED_PAIRS[0]!;
  const kind = prepared.provenance.spec.kind;
  if (kind === 'pt-en' || kind === 'pt' || kind === 'referent') {
    const src = prepared.source.encode(seed.source);
    const tgt = prepared.target.encode(seed.target);
    if (!src.includes(UNK_ID) && (arch !== 'encoder-decoder' || !tgt.includes(UNK_ID))) {
      const example = seedExample(prepared.objective, src, tgt);
      if (example !== undefined) return { ...base, example, input: seed.source };
    }
  }
  const held = prepared.test?.[0] ?? prepared.valid[0];
  if (held === undefined) throw new DataError('a film needs a held-out example, and this data has none');
  return { ...base, example: held, input: exampleText(prepared.objective, held, prepared.source) };
}

/** The seed sentence as an example of each objective (the label of a classifier does not matter here). */
function seedExample(objective: Objective, src: number[], tgt: number[]): Example | undefined {
  if (objective === 'seq2seq') return { src: [...src, EOS_ID], tgt };
  if (objective === 'lm') return { src: [], tgt: src };
  const ids = [BOS_ID, ...src, EOS_ID];
  if (objective === 'masked-lm') return { src: ids, tgt: ids.map(() => PAD_ID) };
  return { src: ids, tgt: [0] };
}

function exampleText(objective: Objective, example: Example, source: Tokenizer): string {
  if (objective === 'lm') return source.decode([...example.src, ...example.tgt]);
  return source.decode(example.src.filter((id) => id !== BOS_ID));
}

const round = (x: number) => Math.round(x * 10 ** DECIMALS) / 10 ** DECIMALS;

/**
 * The probe's attention (every layer and head of every kind the family has) and loss now.
 * Reads are asynchronous; every tensor made here is freed.
 */
export async function recordFrame(model: Model, probe: FilmProbe, step: number): Promise<FilmFrame> {
  const ids = { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID };
  const batch = BATCHERS[probe.objective].make([probe.example], ids);
  let weights: Partial<Record<AttentionKind, tf.Tensor[]>>;
  let lossTensor: tf.Scalar | undefined;
  try {
    const b = batch as unknown as Record<string, tf.Tensor2D>;
    weights = probe.objective === 'seq2seq' ? model.attention({ ids: b.src!, targetIds: b.tgtIn! }) : model.attention({ ids: b.ids! });
    lossTensor = BATCHERS[probe.objective].targets([probe.example], ids) > 0 ? model.loss(batch, { training: false, labelSmoothing: 0 }) : undefined;
  } finally {
    disposeBatch(batch);
  }
  const loss = lossTensor === undefined ? undefined : (await lossTensor.data())[0]!;
  lossTensor?.dispose();
  const axes = probeTokens(probe);
  const maps: FilmMap[] = [];
  for (const [kind, layers] of Object.entries(weights) as [AttentionKind, tf.Tensor[]][]) {
    const read = await readFirstRow(layers);
    const { rows, cols } = axes[kind]!;
    maps.push({ kind, title: kindTitle(probe.arch, kind), rows, cols, weights: read.map((l) => l.map((h) => h.map((r) => r.map(round)))) });
  }
  return { step, ...(loss === undefined || !Number.isFinite(loss) ? {} : { loss: round(loss) }), input: probe.input, maps };
}

/** The tokens on each axis of each kind, as the model reads the probe. */
function probeTokens(probe: FilmProbe): Partial<Record<AttentionKind, { rows: string[]; cols: string[] }>> {
  const { example, source, target } = probe;
  const name = (t: Tokenizer) => (id: number) => t.vocab[id] ?? UNK;
  if (probe.objective === 'seq2seq') {
    const src = example.src.map(name(source));
    const tgtIn = [BOS_ID, ...example.tgt].map(name(target));
    const tgtOut = [...example.tgt, EOS_ID].map(name(target));
    return { encoder: { rows: src, cols: src }, decoder: { rows: tgtOut, cols: tgtIn }, cross: { rows: tgtOut, cols: src } };
  }
  const ids = probe.objective === 'lm' ? [BOS_ID, ...example.src, ...example.tgt] : example.src;
  const tokens = ids.map(name(source));
  return probe.arch === 'decoder' ? { decoder: { rows: tokens, cols: tokens } } : { encoder: { rows: tokens, cols: tokens } };
}

export interface FilmBounds {
  maxFrames?: number;
  maxBytes?: number;
}

/**
 * The frames of a film being recorded, within its bounds: `due(step)` says whether to record at a
 * step, `add` keeps a frame (thinning the older ones evenly when a bound would be passed).
 */
export class FilmRecorder {
  readonly frames: FilmFrame[] = [];
  private lines: string[] = [];
  private bytes = 0;
  every: number;
  private readonly maxFrames: number;
  private readonly maxBytes: number;

  constructor(every: number, bounds: FilmBounds = {}) {
    if (!Number.isSafeInteger(every) || every < 1) throw new DataError(`film interval (${every}) must be a whole number of steps, 1 or more`);
    this.every = every;
    this.maxFrames = Math.max(2, bounds.maxFrames ?? FILM_MAX_FRAMES);
    this.maxBytes = bounds.maxBytes ?? FILM_MAX_BYTES;
  }

  /** Whether a frame is due after `step` (step 0 is the untrained model). */
  due(step: number): boolean {
    return step % this.every === 0;
  }

  /** Keep a frame; returns the film as JSON lines. */
  add(frame: FilmFrame): string {
    const line = JSON.stringify(frame);
    while (this.frames.length > 1 && (this.frames.length + 1 > this.maxFrames || this.bytes + line.length + 1 > this.maxBytes)) this.thin();
    this.frames.push(frame);
    this.lines.push(line);
    this.bytes += line.length + 1;
    return this.text();
  }

  /** Frames from an earlier session of the same run (a resumed run), those before `step` only. */
  restore(frames: readonly FilmFrame[], beforeStep: number): void {
    for (const f of frames) if (f.step < beforeStep) this.add(f);
  }

  text(): string {
    return this.lines.map((l) => `${l}\n`).join('');
  }

  /** Drop every second frame but the first and the newest, and record half as often. */
  private thin(): void {
    const keep = (_: unknown, i: number) => i % 2 === 0 || i === this.frames.length - 1;
    const frames = this.frames.filter(keep);
    const lines = this.lines.filter(keep);
    this.frames.splice(0, this.frames.length, ...frames);
    this.lines = lines;
    this.bytes = lines.reduce((n, l) => n + l.length + 1, 0);
    this.every *= 2;
  }
}

/** Largest film.jsonl read back. */
export const MAX_FILM_BYTES = 256 * 1024 * 1024;

/**
 * Parse a film's JSON lines, checking each frame's shape; a bad line is one DataError naming
 * `label` and the line number.
 */
export function parseFilm(text: string, label: string): FilmFrame[] {
  const frames: FilmFrame[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${label} line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new DataError(`${where} is not JSON (a film has one frame of JSON per line)`);
    }
    frames.push(checkFrame(value, where));
  });
  if (frames.length === 0) throw new DataError(`${label} holds no frames`);
  return frames.sort((a, b) => a.step - b.step);
}

function checkFrame(value: unknown, where: string): FilmFrame {
  const f = value as Partial<FilmFrame> | null;
  if (typeof f !== 'object' || f === null || Array.isArray(f)) throw new DataError(`${where} is not a frame object`);
  if (!Number.isSafeInteger(f.step) || f.step! < 0) throw new DataError(`${where}: step (${JSON.stringify(f.step)}) is not a step number`);
  if (f.loss !== undefined && typeof f.loss !== 'number') throw new DataError(`${where}: loss (${JSON.stringify(f.loss)}) is not a number`);
  if (!Array.isArray(f.maps) || f.maps.length === 0) throw new DataError(`${where}: maps is missing or empty`);
  for (const m of f.maps) {
    const ok =
      typeof m === 'object' &&
      m !== null &&
      ['encoder', 'decoder', 'cross'].includes(m.kind) &&
      isStrings(m.rows) &&
      isStrings(m.cols) &&
      Array.isArray(m.weights) &&
      m.weights.every(
        (layer) =>
          Array.isArray(layer) &&
          layer.every((head) => Array.isArray(head) && head.length === m.rows.length && head.every((row) => Array.isArray(row) && row.length === m.cols.length && row.every((x) => typeof x === 'number' && Number.isFinite(x)))),
      );
    if (!ok) throw new DataError(`${where}: a map is malformed (needs kind, rows, cols and weights [layer][head][row][col] of numbers matching them)`);
  }
  return { step: f.step!, ...(f.loss === undefined ? {} : { loss: f.loss }), input: typeof f.input === 'string' ? f.input : '', maps: f.maps.map((m) => ({ ...m, title: typeof m.title === 'string' ? m.title : m.kind })) };
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** Read `film.jsonl` from a model folder (one DataError line when there is none or it is malformed). */
export function readFilm(dir: string): FilmFrame[] {
  const path = join(dir, FILM_JSONL);
  if (!existsSync(path)) throw new DataError(`${dir} holds no film (${FILM_JSONL}); record one with 'atencao train --film'`);
  const bytes = readFileSync(path);
  if (bytes.length > MAX_FILM_BYTES) throw new DataError(`${path} is larger than ${MAX_FILM_BYTES / 2 ** 20} MiB`);
  return parseFilm(bytes.toString('utf8'), path);
}

export interface FilmOptions extends FilmBounds {
  /** Record a frame every this many steps (and at step 0, before training). */
  every: number;
}

/**
 * A run reporter's `observe` that records a film into the run's folder: a frame of the probe
 * (`filmProbe`) before the first step and every `every` steps, the whole film rewritten
 * atomically to film.jsonl after each frame (it is small: see the bounds above). A resumed run
 * keeps the frames recorded before it.
 */
export function filmObserver(options: FilmOptions): NonNullable<RunReporter['observe']> {
  return ({ model, dir, prepared }) => {
    const probe = filmProbe(model.arch, prepared);
    const recorder = new FilmRecorder(options.every, options);
    const path = join(dir, FILM_JSONL);
    let earlier: FilmFrame[] = [];
    try {
      earlier = existsSync(path) ? readFilm(dir) : [];
    } catch {
      earlier = []; // a damaged film of an earlier session is replaced
    }
    // The untrained model opens a new film: its maps are computed now, before the first step
    // changes the weights (reading them back may finish later); kept if the run starts at step 1.
    const opening = earlier.length === 0 ? recordFrame(model, probe, 0) : undefined;
    opening?.catch(() => undefined); // a failure is reported when the first step awaits it
    let first = true;
    return async (step: number) => {
      if (first) {
        first = false;
        recorder.restore(earlier, step);
        const frame = await opening;
        if (frame !== undefined && step === 1 && recorder.frames.length === 0) writeFileAtomic(path, recorder.add(frame));
      }
      if (recorder.due(step)) writeFileAtomic(path, recorder.add(await recordFrame(model, probe, step)));
    };
  };
}
