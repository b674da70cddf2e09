import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_PARAMETERS } from '../config.js';
import { ModelFormatError } from '../errors.js';
import { readFolderFile } from './read-file.js';
import { writeFileAtomic } from './atomic.js';
import { injectCheckpointPause } from './faults.js';
import { encodeModelWeights, WEIGHTS_BIN, writeModelFiles, type SavableModel } from './model-files.js';

/** A named tensor, as tf.Optimizer.getWeights returns them. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** Where a run stands: enough, with the weights and optimizer state, to continue it exactly. */
export interface TrainingState {
  /** Optimisation steps done. */
  step: number;
  /** Training wall time so far, across resumes. */
  elapsedSeconds: number;
  /** Target tokens trained on so far. */
  tokensSeen: number;
}

/** What a checkpoint needs of an optimizer: tf.Optimizer and the library's Adam both qualify. */
export interface OptimizerState {
  getWeights(): Promise<NamedTensor[]>;
  setWeights(weights: NamedTensor[]): Promise<void>;
}

interface OptimizerHeader extends TrainingState {
  formatVersion: 1;
  /** SHA-256 of the weights.bin this optimizer state belongs to. */
  weightsSha256: string;
  specs: tf.io.WeightsManifestEntry[];
}

const MAGIC = 'ATNCOPT1';
/** Weights are at most MAX_PARAMETERS float32 values; an optimizer file holds two slots per weight and a header. */
const WEIGHTS_LIMITS = { maxBytes: 4 * MAX_PARAMETERS, what: 'weights file' };
const OPTIMIZER_LIMITS = { maxBytes: 8 * MAX_PARAMETERS + 16 * 1024 * 1024, what: 'optimizer state file' };
const OPTIMIZER_FILE = /^optimizer-(\d+)\.bin$/;

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Save weights, model.json and the optimizer state for `state.step`.
 *
 * Crash safety: the optimizer state goes to a new file optimizer-<step>.bin that records the hash of
 * the weights it belongs to; then weights.bin is replaced; only then are older optimizer files
 * removed. Whatever moment a crash hits, weights.bin is complete and some optimizer file matches it.
 */
export async function saveCheckpoint(dir: string, model: SavableModel, optimizer: OptimizerState, state: TrainingState, metadata: Record<string, unknown> = {}): Promise<void> {
  const weights = await encodeModelWeights(model);
  const weightsSha256 = sha256(weights.data);
  // The hashes of the weights on disk now and of the ones about to replace them: whichever
  // weights.bin a crash leaves, its hash is listed, and a damaged file's is not.
  const current = existsSync(join(dir, WEIGHTS_BIN)) ? [sha256(readFolderFile(dir, WEIGHTS_BIN, WEIGHTS_LIMITS))] : [];
  writeFileAtomic(join(dir, CHECKSUMS), `${JSON.stringify({ weightsSha256: [...new Set([weightsSha256, ...current])] })}\n`);
  const slots = await optimizer.getWeights();
  const { data, specs } = await tf.io.encodeWeights(slots);
  // getWeights returns the live slot variables plus a fresh scalar for the step count: free only that.
  tf.dispose(slots.map((s) => s.tensor).filter((t) => !(t instanceof tf.Variable)));
  const header: OptimizerHeader = { formatVersion: 1, ...state, weightsSha256, specs };
  const file = `optimizer-${state.step}.bin`;
  writeFileAtomic(join(dir, file), packOptimizerFile(header, new Uint8Array(data as ArrayBuffer)));
  injectCheckpointPause();
  writeModelFiles(dir, model, weights, metadata);
  for (const other of readdirSync(dir)) {
    if (OPTIMIZER_FILE.test(other) && other !== file) rmSync(join(dir, other), { force: true });
  }
}

/**
 * Restore the optimizer state that belongs to the folder's weights.bin (the model must already hold
 * those weights) and return where the run stood.
 */
export async function restoreOptimizer(dir: string, optimizer: OptimizerState): Promise<TrainingState> {
  const weightsSha256 = sha256(readFolderFile(dir, WEIGHTS_BIN, WEIGHTS_LIMITS));
  const candidates = readdirSync(dir)
    .map((f) => OPTIMIZER_FILE.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(b[1]) - Number(a[1]));
  for (const match of candidates) {
    let parsed: { header: OptimizerHeader; data: Uint8Array };
    try {
      parsed = unpackOptimizerFile(readFolderFile(dir, match[0], OPTIMIZER_LIMITS));
    } catch {
      continue; // a damaged leftover; an older file may still match
    }
    if (parsed.header.weightsSha256 !== weightsSha256) continue;
    const buffer = parsed.data.buffer.slice(parsed.data.byteOffset, parsed.data.byteOffset + parsed.data.byteLength) as ArrayBuffer;
    const tensors = tf.io.decodeWeights(buffer, parsed.header.specs);
    const slots = parsed.header.specs.map((s) => ({ name: s.name, tensor: tensors[s.name]! }));
    await optimizer.setWeights(slots);
    tf.dispose(Object.values(tensors));
    const { step, elapsedSeconds, tokensSeen } = parsed.header;
    return { step, elapsedSeconds, tokensSeen };
  }
  throw new ModelFormatError(`${dir} has no optimizer state matching its weights.bin, so the run cannot be resumed`);
}

/** checksums.json: SHA-256 of the current weights.bin (and of the one before it, during a save). */
export const CHECKSUMS = 'checksums.json';

/**
 * The recorded weight hashes, newest first ([] when the folder has none, or they are not JSON).
 * A checksums.json that is not a regular file of the folder (a FIFO, a link out of it) is refused.
 */
export function readChecksums(dir: string): string[] {
  if (!existsSync(join(dir, CHECKSUMS))) return [];
  const bytes = readFolderFile(dir, CHECKSUMS, { maxBytes: 64 * 1024, what: 'checksum file' });
  try {
    const list = (JSON.parse(bytes.toString('utf8')) as { weightsSha256?: unknown }).weightsSha256;
    return Array.isArray(list) ? list.filter((h): h is string => typeof h === 'string') : [];
  } catch {
    return [];
  }
}

/** Record the hash of the folder's current weights.bin (for a model folder assembled by hand). */
export function writeChecksums(dir: string): void {
  writeFileAtomic(join(dir, CHECKSUMS), `${JSON.stringify({ weightsSha256: [sha256(readFolderFile(dir, WEIGHTS_BIN, WEIGHTS_LIMITS))] })}\n`);
}

/** Hashes of the weights that the folder's optimizer checkpoints belong to (unreadable files are skipped). */
export function checkpointWeightHashes(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => OPTIMIZER_FILE.test(f))
    .flatMap((f) => {
      try {
        return [unpackOptimizerFile(readFolderFile(dir, f, OPTIMIZER_LIMITS)).header.weightsSha256];
      } catch {
        return [];
      }
    });
}

function packOptimizerFile(header: OptimizerHeader, data: Uint8Array): Uint8Array {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const out = new Uint8Array(MAGIC.length + 4 + json.length + data.length);
  out.set(Buffer.from(MAGIC, 'ascii'), 0);
  new DataView(out.buffer).setUint32(MAGIC.length, json.length, true);
  out.set(json, MAGIC.length + 4);
  out.set(data, MAGIC.length + 4 + json.length);
  return out;
}

function unpackOptimizerFile(bytes: Uint8Array): { header: OptimizerHeader; data: Uint8Array } {
  if (Buffer.from(bytes.subarray(0, MAGIC.length)).toString('ascii') !== MAGIC) throw new ModelFormatError('not an optimizer state file');
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(MAGIC.length, true);
  const start = MAGIC.length + 4;
  const header = JSON.parse(Buffer.from(bytes.subarray(start, start + length)).toString('utf8')) as OptimizerHeader;
  const data = bytes.subarray(start + length);
  const expected = header.specs.reduce((n, s) => n + 4 * (s.shape as number[]).reduce((a, b) => a * b, 1), 0);
  if (data.length !== expected) throw new ModelFormatError('optimizer state file is truncated');
  return { header, data };
}
