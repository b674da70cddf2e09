import * as tf from '@tensorflow/tfjs';
import { ARCHS, countParameters, MODEL_CLASS_NAMES, normalizeConfigKeys, resolveConfig, type ModelConfig, type ModelConfigInput } from '../config.js';
import { ModelFormatError } from '../errors.js';

/**
 * Reading the TF.js layers-model format without the file system, so the same checks run in Node
 * and in a browser: the model layer in model.json and the weights manifest. Nothing here knows
 * the model classes; model/load.ts builds a model from what this reads.
 */

/** Weight names in model.json: the model's layer name, then the weight's path ("transformer/encoder/…/wq"). */
export function weightName(modelName: string, path: string): string {
  return `${modelName}/${path}`;
}

/** The model layer of a model.json topology: its class name and raw config. */
export function modelLayerOfJson(json: unknown, classNames: readonly string[], file = 'model.json'): { className: string; config: Record<string, unknown> } {
  const layers = (json as { modelTopology?: { config?: { layers?: unknown } } })?.modelTopology?.config?.layers;
  if (!Array.isArray(layers)) throw new ModelFormatError(`${file} has no model topology (modelTopology.config.layers)`);
  const entry = layers.find((l) => classNames.includes((l as { class_name?: unknown })?.class_name as string)) as { class_name: string; config?: unknown } | undefined;
  if (entry === undefined || typeof entry.config !== 'object' || entry.config === null) {
    throw new ModelFormatError(`${file} holds no model layer (one of ${classNames.join(', ')})`);
  }
  return { className: entry.class_name, config: entry.config as Record<string, unknown> };
}

export interface CheckedSpec {
  entry: tf.io.WeightsManifestEntry;
  size: number;
}

/** The manifest's one weights file and its float32 entries with sane shapes. */
export function checkManifest(manifest: unknown, jsonPath: string): { file: string; specs: CheckedSpec[] } {
  if (!Array.isArray(manifest) || manifest.length !== 1) throw new ModelFormatError(`${jsonPath} must have exactly one weightsManifest group`);
  const group = manifest[0] as { paths?: unknown; weights?: unknown };
  if (!Array.isArray(group.paths) || group.paths.length !== 1 || typeof group.paths[0] !== 'string') {
    throw new ModelFormatError(`${jsonPath}: the weights must be in one file (weightsManifest[0].paths)`);
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
  return { file: group.paths[0], specs };
}


/** What model.json describes, checked: the resolved config, the weight specs and the bytes they need. */
export interface ModelPlan {
  name?: string;
  /** The weights file the manifest names (relative to model.json). */
  file: string;
  config: ModelConfig;
  specs: CheckedSpec[];
  bytes: number;
  jsonPath: string;
}

/**
 * Check a parsed model.json before anything is allocated: a valid config of a known family, a
 * well-formed manifest, and exactly the number of weights that config builds (a 10^12-element
 * weight is refused here).
 */
export function planModel(json: { weightsManifest?: unknown }, jsonPath: string): ModelPlan {
  const layer = modelLayerOfJson(json, Object.values(MODEL_CLASS_NAMES), jsonPath);
  const arch = ARCHS.find((a) => MODEL_CLASS_NAMES[a] === layer.className);
  const { name, trainable: _t, ...raw } = normalizeConfigKeys(layer.config);
  let config: ModelConfig;
  try {
    config = resolveConfig({ ...raw, arch } as ModelConfigInput);
  } catch (error) {
    throw new ModelFormatError(`${jsonPath}: ${(error as Error).message}`, { cause: error });
  }
  const { file, specs } = checkManifest(json.weightsManifest, jsonPath);
  const floats = specs.reduce((n, s) => n + s.size, 0);
  const needed = countParameters(config);
  if (floats !== needed) {
    throw new ModelFormatError(`${jsonPath}: the config needs ${needed} weights but the manifest lists ${floats}`);
  }
  return { name: typeof name === 'string' ? name : undefined, file, config, specs, bytes: 4 * floats, jsonPath };
}
