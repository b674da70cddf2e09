/**
 * The training studio's form, as a run: which family, data, model size and training settings a
 * choice of (family, task, size, steps, seed) means. The page, its worker and the tests (which run
 * the same settings in Node) all resolve settings here, so they train the very same run.
 */
import type { Arch } from '../config.js';
import type { DataSpec } from '../data/spec.js';
import { recipeFor, type ModelArgs, type RecipeKey, type TrainingArgs } from '../train/defaults.js';

export const STUDIO_TASKS = ['copy', 'reverse', 'sort', 'pt-en', 'referent', 'lm', 'file'] as const;
export type StudioTask = (typeof STUDIO_TASKS)[number];
export const STUDIO_SIZES = ['tiny', 'small', 'recipe'] as const;
export type StudioSize = (typeof STUDIO_SIZES)[number];
export const STUDIO_BACKENDS = ['auto', 'webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type StudioBackend = (typeof STUDIO_BACKENDS)[number];
export const STUDIO_ARCHS: readonly Arch[] = ['encoder-decoder', 'decoder', 'encoder'];

export interface StudioSettings {
  arch: Arch;
  task: StudioTask;
  size: StudioSize;
  steps: number;
  seed: number;
  backend: StudioBackend;
  /** Record the film every this many steps. */
  filmEvery: number;
  /** Validate every this many steps (default: about ten times a run). */
  validEvery?: number;
}

export const DEFAULT_SETTINGS: StudioSettings = { arch: 'encoder-decoder', task: 'copy', size: 'tiny', steps: 200, seed: 1, backend: 'auto', filmEvery: 10 };

/** A dropped file, as the page read it. */
export interface StudioFile {
  name: string;
  /** Tab-separated pairs (translation) or plain text, one example per line. */
  kind: 'corpus' | 'text';
}

/** Where a dropped file lives in the worker's in-memory file system. */
export const DROPPED_DIR = '/data';

export interface StudioPlan {
  arch: Arch;
  data: DataSpec;
  model: ModelArgs;
  training: TrainingArgs;
  /** How many validation examples are scored each time (the studio scores a slice, to stay quick). */
  validExamples: number;
}

const SIZES: Record<Exclude<StudioSize, 'recipe'>, { model: ModelArgs; batchSize: number }> = {
  tiny: { model: { dModel: 16, numHeads: 2, numEncoderLayers: 1, numDecoderLayers: 1, numLayers: 1, dFF: 32, dropout: 0 }, batchSize: 16 },
  small: { model: { dModel: 32, numHeads: 4, numEncoderLayers: 2, numDecoderLayers: 2, numLayers: 2, dFF: 64 }, batchSize: 32 },
};

/** Validation examples scored per validation in the studio. */
export const STUDIO_VALID_EXAMPLES = 64;

/** The run a choice of settings means, or an Error whose message is one line for the page. */
export function planStudioRun(settings: StudioSettings, file?: StudioFile): StudioPlan {
  const { arch, task } = settings;
  let data: DataSpec;
  let key: RecipeKey;
  if (task === 'file') {
    if (file === undefined) throw new Error('drop a TSV or text file on the page first (it stays in this browser)');
    const path = `${DROPPED_DIR}/${file.name}`;
    if (arch === 'encoder-decoder') {
      if (file.kind !== 'corpus') throw new Error(`${file.name} has no tab-separated pairs: an encoder–decoder learns from "source<TAB>target" lines (a decoder or an encoder can learn from plain text)`);
      data = { kind: 'corpus', file: path, tokenizer: 'word' };
      key = 'corpus';
    } else {
      data = { kind: 'text', file: path, tokenizer: 'word' };
      key = 'text';
    }
  } else if (task === 'lm') {
    if (arch === 'encoder-decoder') throw new Error('the language-model task trains a decoder (next word) or an encoder (masked words), not an encoder–decoder');
    data = { kind: 'pt' };
    key = 'pt';
  } else if (task === 'copy' || task === 'reverse' || task === 'sort') {
    data = { kind: 'task', task };
    key = task;
  } else {
    data = { kind: task };
    key = task;
  }
  const recipe = recipeFor(arch, key);
  if (recipe === undefined) throw new Error(`the ${arch} family does not train on the ${task} task here (${FAMILY_TASKS[arch]})`);
  if (!Number.isSafeInteger(settings.steps) || settings.steps < 1 || settings.steps > 1_000_000) throw new Error(`steps (${settings.steps}) must be a whole number from 1 to 1000000`);
  if (!Number.isSafeInteger(settings.seed) || settings.seed < 0) throw new Error(`seed (${settings.seed}) must be a whole number, 0 or more`);
  const size = settings.size === 'recipe' ? { model: recipe.model, batchSize: recipe.training.batchSize } : SIZES[settings.size];
  // Only the layer counts the family has: the config refuses the others.
  const model: ModelArgs = { ...recipe.model, ...size.model };
  if (arch === 'encoder-decoder') delete model.numLayers;
  else {
    delete model.numEncoderLayers;
    delete model.numDecoderLayers;
  }
  const training: TrainingArgs = {
    ...recipe.training,
    steps: settings.steps,
    seed: settings.seed,
    batchSize: size.batchSize,
    validEvery: settings.validEvery ?? Math.max(5, Math.ceil(settings.steps / 10)),
  };
  return { arch, data, model, training, validExamples: STUDIO_VALID_EXAMPLES };
}

const FAMILY_TASKS: Record<Arch, string> = {
  'encoder-decoder': 'it translates: copy, reverse, sort, pt-en or a TSV file',
  decoder: 'it continues text: copy, reverse, sort, lm or a text file',
  encoder: 'it reads: lm (masked words), referent or a text file',
};

/**
 * Settings from a page's query string (`?view=train&arch=decoder&task=lm&steps=300&seed=2&backend=wasm`):
 * the values given, checked, over the defaults; a bad value is one line in `errors`.
 */
export function settingsFromQuery(search: string): { settings: StudioSettings; autostart: boolean; train: boolean; errors: string[] } {
  const q = new URLSearchParams(search);
  const settings: StudioSettings = { ...DEFAULT_SETTINGS };
  const errors: string[] = [];
  const choice = <T extends string>(name: string, options: readonly T[], set: (v: T) => void) => {
    const v = q.get(name);
    if (v === null) return;
    if ((options as readonly string[]).includes(v)) set(v as T);
    else errors.push(`${name}=${v} is not one of ${options.join(', ')}`);
  };
  const whole = (name: string, min: number, set: (v: number) => void) => {
    const v = q.get(name);
    if (v === null) return;
    const n = Number(v);
    if (Number.isSafeInteger(n) && n >= min) set(n);
    else errors.push(`${name}=${v} is not a whole number of at least ${min}`);
  };
  choice('arch', STUDIO_ARCHS, (v) => (settings.arch = v));
  choice('task', STUDIO_TASKS, (v) => (settings.task = v));
  choice('size', STUDIO_SIZES, (v) => (settings.size = v));
  // ?backend= is shared with the explorer, whose own backends include these.
  choice('backend', STUDIO_BACKENDS, (v) => (settings.backend = v));
  whole('steps', 1, (v) => (settings.steps = v));
  whole('seed', 0, (v) => (settings.seed = v));
  whole('film', 1, (v) => (settings.filmEvery = v));
  whole('validEvery', 1, (v) => (settings.validEvery = v));
  return { settings, autostart: q.get('autostart') === '1', train: q.get('view') === 'train', errors };
}
