import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../config.js';
import type { DataProvenance } from '../data/spec.js';
import { Tokenizer } from '../data/tokenizer.js';
import { ModelFormatError } from '../errors.js';
import type { TrainingArgs, ValidationRecord } from './run-record.js';
import { writeFileAtomic } from './atomic.js';

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

export function readRunConfig(dir: string): RunConfig {
  const config = readJson(join(dir, RUN_CONFIG)) as RunConfig;
  if (typeof config !== 'object' || config === null || typeof config.formatVersion !== 'number') {
    throw new ModelFormatError(`${join(dir, RUN_CONFIG)} has no formatVersion`);
  }
  if (config.formatVersion !== FORMAT_VERSION) {
    throw new ModelFormatError(`${join(dir, RUN_CONFIG)} has format version ${config.formatVersion}; this atencao reads version ${FORMAT_VERSION}`);
  }
  return config;
}

export function writeTokenizers(dir: string, source: Tokenizer, target: Tokenizer): void {
  writeFileAtomic(join(dir, TOKENIZER_JSON), `${JSON.stringify({ source: source.toJSON(), target: target.toJSON() })}\n`);
}

export function readTokenizers(dir: string): { source: Tokenizer; target: Tokenizer } {
  const path = join(dir, TOKENIZER_JSON);
  const json = readJson(path) as { source?: unknown; target?: unknown };
  try {
    return { source: Tokenizer.fromJSON(json?.source), target: Tokenizer.fromJSON(json?.target) };
  } catch (error) {
    throw new ModelFormatError(`${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** metrics.jsonl is small; rewriting it whole (atomically) keeps it consistent with the checkpoint. */
export function writeMetrics(dir: string, records: readonly ValidationRecord[]): void {
  writeFileAtomic(join(dir, METRICS_JSONL), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

export function readMetrics(dir: string): ValidationRecord[] {
  const path = join(dir, METRICS_JSONL);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
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

function readJson(path: string): unknown {
  if (!existsSync(path)) throw new ModelFormatError(`${path} is missing`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ModelFormatError(`${path} is not valid JSON`, { cause: error });
  }
}
