import * as tf from '@tensorflow/tfjs';
import { countParameters, normalizeConfigKeys, resolveConfig, type TransformerConfig, type TransformerConfigInput } from '../config.js';
import { ModelFormatError } from '../errors.js';
import { createTransformer, type Transformer } from '../model/transformer.js';

/**
 * Reading the TF.js layers-model format without the file system, so the same checks run in Node
 * and in a browser: the config in model.json, the weights manifest, and copying weights into a model.
 */

/** Weight names in model.json: the layer name, then the weight's path ("transformer/encoder/…/wq"). */
export function weightName(model: Transformer, path: string): string {
  return `${model.name}/${path}`;
}

/** The transformer's config as stored in a model.json topology. */
export function configFromModelJson(json: unknown, file = 'model.json'): TransformerConfigInput & { name?: string } {
  const layers = (json as { modelTopology?: { config?: { layers?: unknown } } })?.modelTopology?.config?.layers;
  if (!Array.isArray(layers)) throw new ModelFormatError(`${file} has no model topology (modelTopology.config.layers)`);
  const entry = layers.find((l) => (l as { class_name?: unknown })?.class_name === 'Transformer') as { config?: unknown } | undefined;
  if (entry === undefined || typeof entry.config !== 'object' || entry.config === null) {
    throw new ModelFormatError(`${file} holds no Transformer layer`);
  }
  return normalizeConfigKeys(entry.config as Record<string, unknown>) as unknown as TransformerConfigInput & { name?: string };
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
  config: TransformerConfig;
  specs: CheckedSpec[];
  bytes: number;
  jsonPath: string;
}

/**
 * Check a parsed model.json before anything is allocated: a valid config, a well-formed manifest,
 * and exactly the number of weights that config builds (a 10^12-element weight is refused here).
 */
export function planModel(json: { weightsManifest?: unknown }, jsonPath: string): ModelPlan {
  const { name, trainable: _t, ...raw } = configFromModelJson(json, jsonPath) as TransformerConfigInput & { name?: string; trainable?: boolean };
  let config: TransformerConfig;
  try {
    config = resolveConfig(raw);
  } catch (error) {
    throw new ModelFormatError(`${jsonPath}: ${(error as Error).message}`, { cause: error });
  }
  const { file, specs } = checkManifest(json.weightsManifest, jsonPath);
  const floats = specs.reduce((n, s) => n + s.size, 0);
  const needed = countParameters(config);
  if (floats !== needed) {
    throw new ModelFormatError(`${jsonPath}: the config needs ${needed} weights but the manifest lists ${floats}`);
  }
  return { name, file, config, specs, bytes: 4 * floats, jsonPath };
}

/** Create the model a plan describes and fill it with the weights in `buffer` (checked shapes and values). */
export function buildModel(plan: ModelPlan, buffer: ArrayBuffer, source: string): Transformer {
  if (buffer.byteLength !== plan.bytes) {
    throw new ModelFormatError(`${source} has ${buffer.byteLength} bytes but should have ${plan.bytes} (truncated or not this model's weights)`);
  }
  const model = createTransformer(plan.config, { name: plan.name });
  try {
    assignWeights(model, tf.io.decodeWeights(buffer, plan.specs.map((s) => s.entry)), source);
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
      if (!tf.tidy(() => tf.all(tf.isFinite(t)).dataSync()[0] === 1)) {
        throw new ModelFormatError(`${source} is corrupted: weight '${weightName(model, path)}' holds NaN or infinite values`);
      }
      v.write(t);
    }
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
