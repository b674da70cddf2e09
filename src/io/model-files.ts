import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ModelFormatError } from '../errors.js';
import { createTransformer, Transformer } from '../model/transformer.js';
import { normalizeConfigKeys, type TransformerConfigInput } from '../config.js';
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

/** Read model.json + weights.bin from a folder into a new Transformer. */
export function loadModelFiles(dir: string): Transformer {
  const jsonPath = join(dir, MODEL_JSON);
  const weightsPath = join(dir, WEIGHTS_BIN);
  for (const p of [jsonPath, weightsPath]) {
    if (!existsSync(p)) throw new ModelFormatError(`${p} is missing`);
  }
  let json: { weightsManifest?: { paths?: unknown; weights?: tf.io.WeightsManifestEntry[] }[] };
  try {
    json = JSON.parse(readFileSync(jsonPath, 'utf8'));
  } catch (error) {
    throw new ModelFormatError(`${jsonPath} is not valid JSON`, { cause: error });
  }
  const { name, trainable: _t, ...config } = configFromModelJson(json, jsonPath) as TransformerConfigInput & { name?: string; trainable?: boolean };
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest) || manifest.length !== 1 || !Array.isArray(manifest[0]!.weights)) {
    throw new ModelFormatError(`${jsonPath} must have one weights group`);
  }
  const specs = manifest[0]!.weights!;
  const expectedBytes = specs.reduce((n, s) => n + 4 * (s.shape as number[]).reduce((a, b) => a * b, 1), 0);
  const actualBytes = statSync(weightsPath).size;
  if (actualBytes !== expectedBytes) {
    throw new ModelFormatError(`${weightsPath} has ${actualBytes} bytes, but model.json describes ${expectedBytes}`);
  }
  const model = createTransformer(config, { name });
  try {
    const bytes = readFileSync(weightsPath);
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    assignWeights(model, tf.io.decodeWeights(buffer, specs), jsonPath);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
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
      v.write(t);
    }
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
