import * as tf from '@tensorflow/tfjs';
import { closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { countParameters, MAX_PARAMETERS, type ModelConfig } from '../config.js';
import { HfTokenizer, type HfTokenizerJSON } from '../data/hf-tokenizer.js';
import { MASK } from '../data/tokenizer.js';
import { ModelFormatError, WriteError } from '../errors.js';
import { FORMAT_VERSION, MAX_TOKENIZER_BYTES, writeRunConfig, writeTokenizers, type RunConfig } from '../io/model-dir.js';
import { saveModelFiles } from '../io/model-files.js';
import { MIB, parseJsonFile, readFolderFile } from '../io/read-file.js';
import { createModel } from '../model/create.js';
import type { Model } from '../model/model.js';
import { readHfConfig, type HfModel } from './hf-config.js';
import { mapWeights, requiredTensors, type MappedWeight } from './hf-weights.js';
import { headerLength, MAX_HEADER_BYTES, parseHeader, SafetensorsFile, type SafetensorsHeader } from './safetensors.js';

export const HF_CONFIG = 'config.json';
export const HF_WEIGHTS = 'model.safetensors';
export const HF_TOKENIZER = 'tokenizer.json';

/**
 * A checkpoint file may hold a little more than the model's weights (GPT-2's saved causal-mask
 * buffers, BERT's pooler): up to this many bytes besides 4 per weight.
 */
const EXTRA_BYTES = 256 * MIB;

export interface ImportedCheckpoint {
  hf: HfModel;
  model: Model;
  tokenizer: HfTokenizer;
  /** Checkpoint tensors not used (e.g. BERT's pooler and next-sentence head, GPT-2's mask buffers). */
  unused: string[];
}

/**
 * Read a Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer.json) of a
 * GPT-2 or BERT into an atencao model. Everything is checked before the weights are read: the
 * architecture (others are refused in one line), the sizes (through the config's bounds), the
 * tokenizer's size against the vocabulary, the file's size, then its header (every tensor's
 * dtype, shape and byte range, the tensors this family needs with the shapes the config implies).
 */
export function readCheckpoint(dir: string): ImportedCheckpoint {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelFormatError(`checkpoint folder '${dir}' not found`);
  const hf = readHfConfig(parseJsonFile(readFolderFile(dir, HF_CONFIG, { maxBytes: MIB, what: 'config.json' }), join(dir, HF_CONFIG)), join(dir, HF_CONFIG));
  const tokenizerPath = join(dir, HF_TOKENIZER);
  const tokenizerJson = parseJsonFile(readFolderFile(dir, HF_TOKENIZER, { maxBytes: MAX_TOKENIZER_BYTES / 2, what: 'tokenizer file' }), tokenizerPath) as Record<string, unknown>;
  const tokenizer = buildTokenizer(hf, tokenizerJson, tokenizerPath);
  const weightsPath = join(dir, HF_WEIGHTS);
  const { header, bytes } = readSafetensorsFile(dir, 4 * countParameters(hf.config) + EXTRA_BYTES);
  const names = new Set(header.entries.keys());
  const missing = requiredTensors(hf, names).find((n) => !names.has(n));
  if (missing !== undefined) throw new ModelFormatError(`${weightsPath} has no tensor '${missing}' (is it a ${hf.family} checkpoint of this config?)`);
  const file = new SafetensorsFile(header, bytes, weightsPath);
  const weights = mapWeights(file, hf, tokenizer.hfIds);
  const model = createModel(hf.config as ModelConfig, { name: hf.family });
  try {
    assignMapped(model, weights, weightsPath);
  } catch (error) {
    model.dispose();
    throw error;
  }
  const used = usedTensors(hf, names);
  return { hf, model, tokenizer, unused: [...names].filter((n) => !used.has(n)) };
}

/**
 * Import a checkpoint into a new atencao model folder `out` (model.json, weights.bin,
 * tokenizer.json, config.json), which every command then reads like a trained model.
 */
export async function importCheckpoint(from: string, out: string): Promise<{ hf: HfModel; parameters: number; unused: string[] }> {
  if (existsSync(out) && (!statSync(out).isDirectory() || readdirSync(out).length > 0)) {
    throw new WriteError(`'${out}' already exists and is not an empty folder; choose a new --out`);
  }
  const { hf, model, tokenizer, unused } = readCheckpoint(from);
  try {
    mkdirSync(out, { recursive: true });
    await saveModelFiles(out, model, { importedFrom: hf.family });
    writeTokenizers(out, tokenizer, tokenizer);
    const run: RunConfig = {
      formatVersion: FORMAT_VERSION,
      createdAt: new Date().toISOString(),
      model: hf.config,
      data: {
        // Not a data spec of the trainer: where the weights came from.
        spec: { kind: 'import', format: hf.family, from },
        arch: hf.config.arch,
        description: `imported ${hf.family === 'gpt2' ? 'GPT-2' : 'BERT'} checkpoint (${from})`,
        validPairs: 0,
      },
      training: { steps: 0, batchSize: 0, lr: 0, warmup: 0, schedule: 'constant', labelSmoothing: 0, clip: 0, validEvery: 0, seed: 0 } as unknown as RunConfig['training'],
      backend: tf.getBackend(),
    };
    writeRunConfig(out, run);
    return { hf, parameters: model.countTrainableParams(), unused };
  } finally {
    model.dispose();
  }
}

/** The checkpoint's tokenizer with atencao's special ids first; its size must match config.json. */
function buildTokenizer(hf: HfModel, json: Record<string, unknown>, path: string): HfTokenizer {
  let size: number;
  try {
    size = HfTokenizer.hfSize(json);
  } catch (error) {
    throw new ModelFormatError(`${path}: ${(error as Error).message}`, { cause: error });
  }
  if (size !== hf.hfVocabSize) {
    throw new ModelFormatError(`${path} has ${size} tokens but config.json's vocab_size is ${hf.hfVocabSize}; they must agree`);
  }
  const probe = HfTokenizer.fromJSON({ kind: 'hf', version: 1, extraSpecials: [], hfIds: [-1, -1, -1, -1], tokenizer: json });
  const find = (names: string[]): number => {
    for (const n of names) {
      const id = probe.core.token_to_id(n);
      if (id !== undefined) return id;
    }
    throw new ModelFormatError(`${path} has none of the tokens ${names.join(', ')}`);
  };
  let specials: number[];
  let extraSpecials: string[] = [];
  if (hf.family === 'gpt2') {
    const end = find(['<|endoftext|>']);
    specials = [-1, end, end, -1];
  } else {
    specials = [find(['[PAD]']), find(['[CLS]']), find(['[SEP]']), find(['[UNK]']), find(['[MASK]'])];
    extraSpecials = [MASK];
  }
  const taken = new Set(specials);
  const rest = Array.from({ length: size }, (_, h) => h).filter((h) => !taken.has(h));
  const layout: HfTokenizerJSON = { kind: 'hf', version: 1, extraSpecials, hfIds: [...specials, ...rest], tokenizer: json };
  const tokenizer = HfTokenizer.fromJSON(layout);
  const vocab = (hf.config as { vocabSize: number }).vocabSize;
  if (tokenizer.size !== vocab) throw new ModelFormatError(`${path} gives ${tokenizer.size} atencao tokens but the model needs ${vocab}`);
  return tokenizer;
}

/** Read model.safetensors: its size checked, then its header (nothing else allocated), then the whole file. */
function readSafetensorsFile(dir: string, maxBytes: number): { header: SafetensorsHeader; bytes: Uint8Array } {
  const path = join(dir, HF_WEIGHTS);
  let info;
  try {
    info = lstatSync(path);
  } catch {
    throw new ModelFormatError(`${path} is missing`);
  }
  // A regular file only: a FIFO would block, a device (a link to /dev/zero) would read forever.
  if (!info.isFile()) throw new ModelFormatError(`${path} is not a regular file; refusing to read it`);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const size = fstatSync(fd).size;
    if (size > maxBytes + MAX_HEADER_BYTES) {
      throw new ModelFormatError(`${path} has ${size} bytes, more than this config's weights can need (${maxBytes + MAX_HEADER_BYTES}); refusing to read it`);
    }
    const first = Buffer.alloc(8);
    readSync(fd, first, 0, 8, 0);
    const n = headerLength(first, size, path);
    const headerBytes = Buffer.alloc(n);
    readSync(fd, headerBytes, 0, n, 8);
    const header = parseHeader(headerBytes, size, path, { maxValues: MAX_PARAMETERS });
    const bytes = Buffer.allocUnsafe(size);
    let at = 0;
    while (at < size) {
      const got = readSync(fd, bytes, at, size - at, at);
      if (got === 0) throw new ModelFormatError(`${path} shrank while it was read`);
      at += got;
    }
    return { header, bytes };
  } finally {
    closeSync(fd);
  }
}

/** Write mapped weights into a model's variables, every weight accounted for with its shape. */
function assignMapped(model: Model, weights: Map<string, MappedWeight>, source: string): void {
  const seen = new Set<string>();
  for (const [path, v] of model.namedWeights()) {
    const w = weights.get(path);
    if (w === undefined) throw new ModelFormatError(`${source}: nothing maps onto atencao weight '${path}'`);
    if (!tf.util.arraysEqual(w.shape, v.shape as number[])) throw new ModelFormatError(`${source}: '${path}' maps to shape [${w.shape}] but the model needs [${v.shape}]`);
    const t = tf.tensor(w.values, w.shape, 'float32');
    v.write(t);
    t.dispose();
    seen.add(path);
  }
  const extra = [...weights.keys()].find((k) => !seen.has(k));
  if (extra !== undefined) throw new Error(`mapped weight '${extra}' has no place in the model`); // a bug in the map, not in the file
}

/** Checkpoint tensors the mapping reads (the rest is reported as unused). */
function usedTensors(hf: HfModel, names: ReadonlySet<string>): Set<string> {
  const used = new Set(requiredTensors(hf, names));
  for (const n of names) {
    if (/(ln_\d|ln_f|LayerNorm)\.(weight|bias|gamma|beta)$/.test(n)) used.add(n);
    if (n === 'cls.predictions.bias' || n === 'cls.predictions.decoder.bias') used.add(n);
  }
  return used;
}
