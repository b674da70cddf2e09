import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ModelFormatError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';
import { MIB, parseJsonFile, readFolderFile } from './read-file.js';
import { checkManifest, planModel, weightName, type CheckedSpec, type ModelPlan } from './weights.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/** What saving needs of a model (any family): its layer, its named weights, the names of its id inputs. */
export interface SavableModel {
  readonly name: string;
  readonly inputNames: readonly string[];
  namedWeights(): [string, { read(): tf.Tensor }][];
  apply(inputs: tf.SymbolicTensor | tf.SymbolicTensor[]): unknown;
}

const topologies = new WeakMap<SavableModel, object>();

/**
 * The model's topology as a TF.js functional model with int32 id inputs (source and target ids
 * for an encoder–decoder, token ids for the others) and the logits as output, so that
 * `tf.loadLayersModel` can rebuild it wherever the atencao layers are registered. Computed once
 * per model (each symbolic call adds a node to the layer).
 */
export function modelTopology(model: SavableModel): object {
  let topology = topologies.get(model);
  if (topology === undefined) {
    const inputs = model.inputNames.map((name) => tf.input({ shape: [null], dtype: 'int32', name }));
    const logits = model.apply(inputs.length === 1 ? inputs[0]! : inputs) as tf.SymbolicTensor;
    const wrapper = tf.model({ inputs, outputs: logits, name: 'atencao' });
    topology = wrapper.toJSON(null, false) as object;
    topologies.set(model, topology);
  }
  return topology;
}

/** Encode all weights in the TF.js binary layout (float32, concatenated in manifest order). */
export async function encodeModelWeights(model: SavableModel): Promise<{ data: Uint8Array; specs: tf.io.WeightsManifestEntry[] }> {
  const named = model.namedWeights().map(([path, v]) => ({ name: weightName(model.name, path), tensor: v.read() }));
  const { data, specs } = await tf.io.encodeWeights(named);
  return { data: new Uint8Array(data as ArrayBuffer), specs };
}

/**
 * Write model.json and weights.bin (the standard TF.js layers-model layout). weights.bin is written
 * first: model.json does not change between checkpoints of a run, so at every moment the pair loads.
 */
export async function saveModelFiles(dir: string, model: SavableModel, metadata: Record<string, unknown> = {}): Promise<void> {
  writeModelFiles(dir, model, await encodeModelWeights(model), metadata);
}

/** `saveModelFiles` with weights already encoded by `encodeModelWeights`. */
export function writeModelFiles(dir: string, model: SavableModel, encoded: { data: Uint8Array; specs: tf.io.WeightsManifestEntry[] }, metadata: Record<string, unknown> = {}): void {
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

/** Refuse model.json files larger than this before parsing them (a real one is a few KB). */
const MAX_MODEL_JSON_BYTES = 16 * MIB;

/** What model.json describes, read and checked, before the weights are read. */
export interface ModelDescription {
  plan: ModelPlan;
  /** The weights file, relative to the folder (the manifest's path, checked to stay inside it). */
  weightsFile: string;
  weightsPath: string;
  /** The bytes of model.json as read. */
  bytes: Buffer;
}

/**
 * Read model.json from a folder, checking everything that can be wrong before reading the
 * weights: the manifest's structure, weight paths that would leave the folder, the weight count
 * the config implies (and the config's own bounds).
 */
export function readModelDescription(dir: string): ModelDescription {
  const jsonPath = join(dir, MODEL_JSON);
  const bytes = readFolderFile(dir, MODEL_JSON, { maxBytes: MAX_MODEL_JSON_BYTES, what: 'model description' });
  const json = parseJsonFile(bytes, jsonPath) as { weightsManifest?: unknown };
  const plan = planModel(json, jsonPath);
  const { path: weightsPath } = readManifest(json.weightsManifest, dir, jsonPath);
  return { plan, weightsFile: relative(resolve(dir), weightsPath), weightsPath, bytes };
}

/** Read the weights model.json lists: a regular file of the folder, of exactly the size the manifest gives. */
export function readWeights(dir: string, description: ModelDescription): Buffer {
  return readFolderFile(dir, description.weightsFile, { maxBytes: description.plan.bytes, exactBytes: description.plan.bytes, what: 'weights file' });
}

/** The bytes of a Buffer as an ArrayBuffer of their own (no copy when the Buffer owns its memory). */
export function arrayBufferOf(bytes: Buffer): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer as ArrayBuffer;
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/**
 * Read model.json + weights.bin from a folder (`readModelDescription`, then `readWeights`).
 * `buildModel` (model/load.ts) then checks every weight's shape and values as it fills a model.
 */
export function readModelFiles(dir: string): { plan: ModelPlan; buffer: ArrayBuffer; weightsPath: string } {
  const description = readModelDescription(dir);
  return { plan: description.plan, buffer: arrayBufferOf(readWeights(dir, description)), weightsPath: description.weightsPath };
}

/** Validate the weights manifest: one group, one file inside the folder, float32 entries with sane shapes. */
function readManifest(manifest: unknown, dir: string, jsonPath: string): { path: string; specs: CheckedSpec[] } {
  const { file, specs } = checkManifest(manifest, jsonPath);
  const root = resolve(dir);
  const path = resolve(root, file);
  if (isAbsolute(file) || !path.startsWith(root + sep)) {
    throw new ModelFormatError(`${jsonPath} points to a weights file outside the model folder ('${file}'); refusing to read it`);
  }
  return { path, specs };
}
