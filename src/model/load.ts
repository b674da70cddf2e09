import * as tf from '@tensorflow/tfjs';
import { ModelFormatError } from '../errors.js';
import { weightName, type ModelPlan } from '../io/weights.js';
import { createModel } from './create.js';
import type { Model } from './model.js';

/**
 * A model from the TF.js layers-model format, without the file system, so the same checks run in
 * Node and in a browser: `planModel` (io/weights.ts) reads model.json, then `buildModel` fills a
 * new model of that family with the weights' bytes.
 */

/** Create the model a plan describes and fill it with the weights in `buffer` (checked shapes and values). */
export function buildModel(plan: ModelPlan, buffer: ArrayBuffer, source: string): Model {
  if (buffer.byteLength !== plan.bytes) {
    throw new ModelFormatError(`${source} has ${buffer.byteLength} bytes but should have ${plan.bytes} (truncated or not this model's weights)`);
  }
  checkFinite(plan, buffer, source);
  const model = createModel(plan.config, { name: plan.name });
  try {
    assignWeights(model, tf.io.decodeWeights(buffer, plan.specs.map((s) => s.entry)), source);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

/** Refuse weights holding NaN or infinities, read from the bytes (no tensor read, so any backend). */
function checkFinite(plan: ModelPlan, buffer: ArrayBuffer, source: string): void {
  const values = new Float32Array(buffer);
  let offset = 0;
  for (const spec of plan.specs) {
    for (let i = offset; i < offset + spec.size; i++) {
      if (!Number.isFinite(values[i]!)) {
        throw new ModelFormatError(`${source} is corrupted: weight '${spec.entry.name}' holds NaN or infinite values`);
      }
    }
    offset += spec.size;
  }
}

/** Copy decoded tensors into the model's weights by name, checking that every weight is there with its shape. */
export function assignWeights(model: Model, tensors: tf.NamedTensorMap, source: string): void {
  try {
    for (const [path, v] of model.namedWeights()) {
      const name = weightName(model.name, path);
      const t = tensors[name];
      if (t === undefined) throw new ModelFormatError(`${source} has no weight '${name}'`);
      if (!tf.util.arraysEqual(t.shape, v.shape as number[])) {
        throw new ModelFormatError(`${source}: weight '${name}' has shape [${t.shape}] but the config needs [${v.shape}]`);
      }
      v.write(t);
    }
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

