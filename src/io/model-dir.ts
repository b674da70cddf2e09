import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig, type ModelConfig, type ModelConfigInput } from '../config.js';
import type { DataProvenance } from '../data/spec.js';
import { checkpointWeightHashes, readChecksums, sha256 } from './checkpoint.js';
import { MODEL_JSON, readModelDescription, readWeights, WEIGHTS_BIN, type ModelDescription } from './model-files.js';
import { tokenizerFromJSON } from '../data/hf-tokenizer.js';
import { Tokenizer } from '../data/tokenizer.js';
import { ModelFormatError } from '../errors.js';
import type { TrainingArgs, ValidationRecord } from './run-record.js';
import { writeFileAtomic } from './atomic.js';
import { parseJsonFile, readFolderFile } from './read-file.js';

/**
 * The files of a model folder besides model.json / weights.bin / optimizer-<step>.bin:
 * config.json (how the run was made), tokenizer.json, metrics.jsonl.
 */
export const RUN_CONFIG = 'config.json';
export const TOKENIZER_JSON = 'tokenizer.json';
export const METRICS_JSONL = 'metrics.jsonl';
export const FORMAT_VERSION = 1;

export interface RunConfig {
  formatVersion: number;
  createdAt: string;
  model: ModelConfig;
  data: DataProvenance;
  training: TrainingArgs;
  backend: string;
}

export function writeRunConfig(dir: string, config: RunConfig): void {
  writeFileAtomic(join(dir, RUN_CONFIG), `${JSON.stringify(config, null, 2)}\n`);
}

/** Size caps of the JSON files of a model folder (real ones are a few KB; a word vocabulary a few MB). */
export const MAX_RUN_CONFIG_BYTES = 1024 * 1024;
export const MAX_TOKENIZER_BYTES = 64 * 1024 * 1024;

export function readRunConfig(dir: string): RunConfig {
  const path = join(dir, RUN_CONFIG);
  return checkRunConfig(parseJsonFile(readFolderFile(dir, RUN_CONFIG, { maxBytes: MAX_RUN_CONFIG_BYTES, what: 'run config' }), path), path);
}

/**
 * The structure every reader of config.json relies on: a format version this code reads, a
 * model config object, a data record with a spec, training settings. Anything else is one line
 * naming the field, not a TypeError deep inside a command.
 */
export function checkRunConfig(config: unknown, path: string): RunConfig {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new ModelFormatError(`${path} is not a JSON object`);
  const c = config as Record<string, unknown>;
  if (typeof c.formatVersion !== 'number') throw new ModelFormatError(`${path} has no formatVersion`);
  if (c.formatVersion !== FORMAT_VERSION) {
    throw new ModelFormatError(`${path} has format version ${c.formatVersion}; this atencao reads version ${FORMAT_VERSION}`);
  }
  for (const field of ['model', 'data', 'training'] as const) {
    if (typeof c[field] !== 'object' || c[field] === null || Array.isArray(c[field])) throw new ModelFormatError(`${path}: '${field}' must be an object (got ${JSON.stringify(c[field]) ?? 'nothing'})`);
  }
  try {
    resolveConfig(c.model as ModelConfigInput);
  } catch (error) {
    throw new ModelFormatError(`${path}: 'model' ${(error as Error).message}`, { cause: error });
  }
  const data = c.data as Record<string, unknown>;
  if (typeof data.spec !== 'object' || data.spec === null || typeof (data.spec as { kind?: unknown }).kind !== 'string') {
    throw new ModelFormatError(`${path}: 'data.spec' must be an object with a 'kind'`);
  }
  if (data.labels !== undefined && !(Array.isArray(data.labels) && data.labels.every((l) => typeof l === 'string'))) {
    throw new ModelFormatError(`${path}: 'data.labels' must be a list of class names`);
  }
  return config as RunConfig;
}

export function writeTokenizers(dir: string, source: Tokenizer, target: Tokenizer): void {
  writeFileAtomic(join(dir, TOKENIZER_JSON), `${JSON.stringify({ source: source.toJSON(), target: target.toJSON() })}\n`);
}

export function readTokenizers(dir: string): { source: Tokenizer; target: Tokenizer } {
  const path = join(dir, TOKENIZER_JSON);
  return parseTokenizers(readFolderFile(dir, TOKENIZER_JSON, { maxBytes: MAX_TOKENIZER_BYTES, what: 'tokenizer file' }), path);
}

/** The tokenizers in the bytes of a tokenizer.json. */
export function parseTokenizers(bytes: Buffer, path: string): { source: Tokenizer; target: Tokenizer } {
  const json = parseJsonFile(bytes, path) as { source?: unknown; target?: unknown };
  try {
    const source = tokenizerFromJSON(json?.source);
    // An imported checkpoint has one vocabulary, saved as both source and target: read it once.
    const target = JSON.stringify(json?.target) === JSON.stringify(json?.source) ? source : tokenizerFromJSON(json?.target);
    return { source, target };
  } catch (error) {
    throw new ModelFormatError(`${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** metrics.jsonl is small; rewriting it whole (atomically) keeps it consistent with the checkpoint. */
export function writeMetrics(dir: string, records: readonly ValidationRecord[]): void {
  writeFileAtomic(join(dir, METRICS_JSONL), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

export function readMetrics(dir: string): ValidationRecord[] {
  if (!existsSync(join(dir, METRICS_JSONL))) return [];
  return readFolderFile(dir, METRICS_JSONL, { maxBytes: 256 * 1024 * 1024, what: 'metrics file' })
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as ValidationRecord];
      } catch {
        return [];
      }
    });
}

/** The files of a model folder a reader needs (and `atencao serve` serves), as read. */
export const SERVED_FILES = [RUN_CONFIG, TOKENIZER_JSON, MODEL_JSON, WEIGHTS_BIN] as const;
export type ServedFile = (typeof SERVED_FILES)[number];

/** A model folder read once and checked, before any tensor exists. */
export interface ModelFolder {
  dir: string;
  run: RunConfig;
  source: Tokenizer;
  target: Tokenizer;
  description: ModelDescription;
  weights: Buffer;
  /** The bytes of each file as they were read and checked: what a server hands out. */
  files: Record<ServedFile, Buffer>;
}

/** Attempts at a consistent read while a training run saves checkpoints into the folder. */
const ATTEMPTS = 3;

/**
 * Read a model folder made by `atencao train`: every file once, with a size cap, only if it is a
 * regular file of the folder; every size in the config bounded and checked against the
 * tokenizer and the manifest before the weights are read; the weights' hash checked against the
 * hashes saved with them. A training run may be saving checkpoints meanwhile (each file is
 * replaced atomically, checksums.json first): the weights read must be listed in checksums.json
 * as it was just before or just after reading them, else the read is tried again.
 */
export function readModelFolder(dir: string): ModelFolder {
  let info;
  try {
    info = statSync(dir);
  } catch {
    throw new ModelFormatError(`model folder '${dir}' not found`);
  }
  if (!info.isDirectory()) throw new ModelFormatError(`'${dir}' is not a folder`);
  for (let attempt = 1; ; attempt++) {
    const before = savedHashes(dir);
    const configBytes = readFolderFile(dir, RUN_CONFIG, { maxBytes: MAX_RUN_CONFIG_BYTES, what: 'run config' });
    const run = checkRunConfig(parseJsonFile(configBytes, join(dir, RUN_CONFIG)), join(dir, RUN_CONFIG));
    const tokenizerBytes = readFolderFile(dir, TOKENIZER_JSON, { maxBytes: MAX_TOKENIZER_BYTES, what: 'tokenizer file' });
    const { source, target } = parseTokenizers(tokenizerBytes, join(dir, TOKENIZER_JSON));
    const description = readModelDescription(dir);
    checkVocabulary(description.plan.config, source, target, dir);
    const weights = readWeights(dir, description);
    const hash = sha256(weights);
    const after = savedHashes(dir);
    const known = [...before, ...after];
    if (known.length === 0 || known.includes(hash)) {
      const files = { [RUN_CONFIG]: configBytes, [TOKENIZER_JSON]: tokenizerBytes, [MODEL_JSON]: description.bytes, [WEIGHTS_BIN]: weights } as Record<ServedFile, Buffer>;
      return { dir, run, source, target, description, weights, files };
    }
    // Checksums that moved while we read mean a checkpoint was being saved: read again.
    if (attempt >= ATTEMPTS || before.join() === after.join()) {
      throw new ModelFormatError(`${description.weightsPath} does not match the checksum saved with it (damaged or replaced)`);
    }
  }
}

/** The weight hashes checksums.json lists (or, in folders without it, the optimizer checkpoints). */
function savedHashes(dir: string): string[] {
  const recorded = readChecksums(dir);
  return recorded.length > 0 ? recorded : checkpointWeightHashes(dir);
}

/** The tokenizers must have exactly the vocabulary the model was built for, checked before its weights are read. */
function checkVocabulary(config: ModelConfig, source: Tokenizer, target: Tokenizer, dir: string): void {
  const [want, have] =
    config.arch === 'encoder-decoder' ? [`${config.srcVocabSize}/${config.tgtVocabSize}`, `${source.size}/${target.size}`] : [`${config.vocabSize}`, `${source.size}`];
  if (want !== have) {
    throw new ModelFormatError(`${join(dir, TOKENIZER_JSON)} has ${have} tokens but the model was built for ${want}`);
  }
}
