import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { ModelFormatError } from '../errors.js';
import { createTransformer, Transformer } from '../model/transformer.js';
import { countParameters, normalizeConfigKeys, resolveConfig, type TransformerConfig, type TransformerConfigInput } from '../config.js';
import { writeFileAtomic } from './atomic.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

const topologies = new WeakMap<Transformer, object>();

/**
 * The model's topology as a TF.js functional model with two int32 inputs (source ids, target ids)
 * and the logits as output, so that `tf.loadLayersModel` can rebuild it wherever the atencao layers
 * are registered. Computed once per model (each symbolic call adds a node to the layer).
 */
export function modelTopology(model: Transformer): object {
  let topology = topologies.get(model);
  if (topology === undefined) {
    const src = tf.input({ shape: [null], dtype: 'int32', name: 'source_ids' });
    const tgt = tf.input({ shape: [null], dtype: 'int32', name: 'target_ids' });
    const logits = model.apply([src, tgt]) as tf.SymbolicTensor;
    const wrapper = tf.model({ inputs: [src, tgt], outputs: logits, name: 'atencao' });
    topology = wrapper.toJSON(null, false) as object;
    topologies.set(model, topology);
  }
  return topology;
}

/** Weight names in model.json: the layer name, then the weight's path ("transformer/encoder/…/wq"). */
function weightName(model: Transformer, path: string): string {
  return `${model.name}/${path}`;
}

/** Encode all weights in the TF.js binary layout (float32, concatenated in manifest order). */
export async function encodeModelWeights(model: Transformer): Promise<{ data: Uint8Array; specs: tf.io.WeightsManifestEntry[] }> {
  const named = model.namedWeights().map(([path, v]) => ({ name: weightName(model, path), tensor: v.read() }));
  const { data, specs } = await tf.io.encodeWeights(named);
  return { data: new Uint8Array(data as ArrayBuffer), specs };
}

/**
 * Write model.json and weights.bin (the standard TF.js layers-model layout). weights.bin is written
 * first: model.json does not change between checkpoints of a run, so at every moment the pair loads.
 */
export async function saveModelFiles(dir: string, model: Transformer, metadata: Record<string, unknown> = {}): Promise<void> {
  writeModelFiles(dir, model, await encodeModelWeights(model), metadata);
}

/** `saveModelFiles` with weights already encoded by `encodeModelWeights`. */
export function writeModelFiles(dir: string, model: Transformer, encoded: { data: Uint8Array; specs: tf.io.WeightsManifestEntry[] }, metadata: Record<string, unknown> = {}): void {
  const { data, specs } = encoded;
  writeFileAtomic(join(dir, WEIGHTS_BIN), data);
  const json = {
    format: 'layers-model',
    generatedBy: 'atencao',
    convertedBy: null,
    modelTopology: modelTopology(model),
    weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: specs }],
    userDefinedMetadata: metadata,
  };
  const text = JSON.stringify(json);
  const path = join(dir, MODEL_JSON);
  if (!existsSync(path) || readFileSync(path, 'utf8') !== text) writeFileAtomic(path, text);
}

/** The transformer's config as stored in a model.json topology. */
export function configFromModelJson(json: unknown, file = MODEL_JSON): TransformerConfigInput & { name?: string } {
  const layers = (json as { modelTopology?: { config?: { layers?: unknown } } })?.modelTopology?.config?.layers;
  if (!Array.isArray(layers)) throw new ModelFormatError(`${file} has no model topology (modelTopology.config.layers)`);
  const entry = layers.find((l) => (l as { class_name?: unknown })?.class_name === 'Transformer') as { config?: unknown } | undefined;
  if (entry === undefined || typeof entry.config !== 'object' || entry.config === null) {
    throw new ModelFormatError(`${file} holds no Transformer layer`);
  }
  return normalizeConfigKeys(entry.config as Record<string, unknown>) as unknown as TransformerConfigInput & { name?: string };
}

/** Refuse model.json files larger than this before parsing them (a real one is a few KB). */
const MAX_MODEL_JSON_BYTES = 16 * 1024 * 1024;

/**
 * Read model.json + weights.bin from a folder into a new Transformer, checking everything that can
 * be wrong before allocating: the manifest's structure, weight paths that would leave the folder,
 * the weight count the config implies, the file size, then every weight's shape and values.
 */
export function loadModelFiles(dir: string): Transformer {
  const jsonPath = join(dir, MODEL_JSON);
  if (!existsSync(jsonPath)) throw new ModelFormatError(`${jsonPath} is missing`);
  if (statSync(jsonPath).size > MAX_MODEL_JSON_BYTES) throw new ModelFormatError(`${jsonPath} is too large to be a model description`);
  let json: { weightsManifest?: unknown };
  try {
    json = JSON.parse(readFileSync(jsonPath, 'utf8'));
  } catch (error) {
    throw new ModelFormatError(`${jsonPath} is not valid JSON`, { cause: error });
  }
  const { name, trainable: _t, ...raw } = configFromModelJson(json, jsonPath) as TransformerConfigInput & { name?: string; trainable?: boolean };
  let config: TransformerConfig;
  try {
    config = resolveConfig(raw);
  } catch (error) {
    throw new ModelFormatError(`${jsonPath}: ${(error as Error).message}`, { cause: error });
  }
  const { path: weightsPath, specs } = readManifest(json.weightsManifest, dir, jsonPath);
  const floats = specs.reduce((n, s) => n + s.size, 0);
  const needed = countParameters(config);
  if (floats !== needed) {
    throw new ModelFormatError(`${jsonPath}: the config needs ${needed} weights but the manifest lists ${floats}`);
  }
  if (!existsSync(weightsPath)) throw new ModelFormatError(`${weightsPath} is missing`);
  const actualBytes = statSync(weightsPath).size;
  if (actualBytes !== 4 * floats) {
    throw new ModelFormatError(`${weightsPath} has ${actualBytes} bytes but should have ${4 * floats} (truncated or not this model's weights)`);
  }
  const model = createTransformer(config, { name });
  try {
    const bytes = readFileSync(weightsPath);
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    assignWeights(model, tf.io.decodeWeights(buffer, specs.map((s) => s.entry)), weightsPath);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

interface CheckedSpec {
  entry: tf.io.WeightsManifestEntry;
  size: number;
}

/** Validate the weights manifest: one group, one file inside the folder, float32 entries with sane shapes. */
function readManifest(manifest: unknown, dir: string, jsonPath: string): { path: string; specs: CheckedSpec[] } {
  if (!Array.isArray(manifest) || manifest.length !== 1) throw new ModelFormatError(`${jsonPath} must have exactly one weightsManifest group`);
  const group = manifest[0] as { paths?: unknown; weights?: unknown };
  if (!Array.isArray(group.paths) || group.paths.length !== 1 || typeof group.paths[0] !== 'string') {
    throw new ModelFormatError(`${jsonPath}: the weights must be in one file (weightsManifest[0].paths)`);
  }
  const root = resolve(dir);
  const path = resolve(root, group.paths[0]);
  if (isAbsolute(group.paths[0]) || !path.startsWith(root + sep)) {
    throw new ModelFormatError(`${jsonPath} points to a weights file outside the model folder ('${group.paths[0]}'); refusing to read it`);
  }
  if (!Array.isArray(group.weights)) throw new ModelFormatError(`${jsonPath}: weightsManifest[0].weights must be a list`);
  const specs = group.weights.map((w: unknown, i: number): CheckedSpec => {
    const e = w as Partial<tf.io.WeightsManifestEntry>;
    const shape = e?.shape as unknown;
    if (typeof e?.name !== 'string' || !Array.isArray(shape) || !shape.every((n) => Number.isSafeInteger(n) && n >= 0)) {
      throw new ModelFormatError(`${jsonPath}: weight ${i} needs a name and a shape of non-negative integers`);
    }
    if (e.dtype !== 'float32' || e.quantization !== undefined) {
      throw new ModelFormatError(`${jsonPath}: weight '${e.name}' must be unquantized float32 (got ${String(e.dtype)})`);
    }
    const size = (shape as number[]).reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(size)) throw new ModelFormatError(`${jsonPath}: weight '${e.name}' is impossibly large`);
    return { entry: e as tf.io.WeightsManifestEntry, size };
  });
  return { path, specs };
}

/** Copy decoded tensors into the model's weights by name, checking that every weight is there with its shape. */
export function assignWeights(model: Transformer, tensors: tf.NamedTensorMap, source: string): void {
  try {
    for (const [path, v] of model.namedWeights()) {
      const t = tensors[weightName(model, path)];
      if (t === undefined) throw new ModelFormatError(`${source} has no weight '${weightName(model, path)}'`);
      if (!tf.util.arraysEqual(t.shape, v.shape as number[])) {
        throw new ModelFormatError(`${source}: weight '${weightName(model, path)}' has shape [${t.shape}] but the config needs [${v.shape}]`);
      }
      if (!tf.tidy(() => tf.all(tf.isFinite(t)).dataSync()[0] === 1)) {
        throw new ModelFormatError(`${source} is corrupted: weight '${weightName(model, path)}' holds NaN or infinite values`);
      }
      v.write(t);
    }
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
