import { basename } from 'node:path';
import { holdOut, readTextFile } from '../../data/corpus.js';
import type { DataSpec } from '../../data/spec.js';
import type { Pair } from '../../data/types.js';
import type { Reporter } from '../prepare-data.js';
import { type DataHashes, VALID_CAP } from './shared.js';

/**
 * Training and validation lines of a text spec (non-empty, trimmed, duplicates kept: they are real
 * frequencies): its --valid file, or a held-out share of its lines. Each file is read once;
 * `sha256` is the hash of the bytes its lines came from.
 */
export function textSplits(spec: Extract<DataSpec, { kind: 'text' }>, seed: number, reporter: Reporter): { train: string[]; valid: string[]; sha256: DataHashes } {
  const { lines, sha256 } = readTextFile(spec.file);
  if (spec.valid !== undefined) {
    const held = readTextFile(spec.valid);
    let valid = held.lines;
    if (valid.length > VALID_CAP) {
      reporter.info(`validating on the first ${VALID_CAP} of ${valid.length} lines of ${basename(spec.valid)}`);
      valid = valid.slice(0, VALID_CAP);
    }
    return { train: lines, valid, sha256: { train: sha256, valid: held.sha256 } };
  }
  const asPairs: Pair[] = lines.map((l) => ({ source: l, target: '' }));
  const { train, valid } = holdOut(asPairs, spec.validFraction ?? 0.05, seed, VALID_CAP);
  return { train: train.map((p) => p.source), valid: valid.map((p) => p.source), sha256: { train: sha256 } };
}

/** The Portuguese sentences of the toy corpus, by split. */
export function portugueseSplits(corpus: { train: Pair[]; valid: Pair[]; test: Pair[] }): { train: string[]; valid: string[]; test: string[] } {
  return { train: corpus.train.map((p) => p.source), valid: corpus.valid.map((p) => p.source), test: corpus.test.map((p) => p.source) };
}
