import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { holdOut } from '../../data/corpus.js';
import type { DataSpec } from '../../data/spec.js';
import type { Pair } from '../../data/types.js';
import { DataError } from '../../errors.js';
import type { Reporter } from '../prepare-data.js';
import { VALID_CAP } from './shared.js';

/** Largest text file read (a bigger one is refused before it is read). */
const MAX_TEXT_BYTES = 512 * 1024 * 1024;

/** The non-empty lines of a plain-text file (trimmed, duplicates kept: they are real frequencies). */
export function readTextLines(file: string): string[] {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (error) {
    throw new DataError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`, { cause: error });
  }
  if (size > MAX_TEXT_BYTES) throw new DataError(`${file} is larger than ${MAX_TEXT_BYTES / 2 ** 20} MiB`);
  const bytes = readFileSync(file);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes).replace(/^\uFEFF/, '');
  const lines = text.split(/\r\n|\r|\n/).map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 0) throw new DataError(`${file} has no text (every line is empty)`);
  return lines;
}

/** Training and validation lines of a text spec: its --valid file, or a held-out share of its lines. */
export function textSplits(spec: Extract<DataSpec, { kind: 'text' }>, seed: number, reporter: Reporter): { train: string[]; valid: string[] } {
  const lines = readTextLines(spec.file);
  if (spec.valid !== undefined) {
    let valid = readTextLines(spec.valid);
    if (valid.length > VALID_CAP) {
      reporter.info(`validating on the first ${VALID_CAP} of ${valid.length} lines of ${basename(spec.valid)}`);
      valid = valid.slice(0, VALID_CAP);
    }
    return { train: lines, valid };
  }
  const asPairs: Pair[] = lines.map((l) => ({ source: l, target: '' }));
  const { train, valid } = holdOut(asPairs, spec.validFraction ?? 0.05, seed, VALID_CAP);
  return { train: train.map((p) => p.source), valid: valid.map((p) => p.source) };
}

/** The Portuguese sentences of the toy corpus, by split. */
export function portugueseSplits(corpus: { train: Pair[]; valid: Pair[]; test: Pair[] }): { train: string[]; valid: string[]; test: string[] } {
  return { train: corpus.train.map((p) => p.source), valid: corpus.valid.map((p) => p.source), test: corpus.test.map((p) => p.source) };
}
