import { readModelFiles } from '../io/model-files.js';
import { buildModel } from './load.js';
import type { Model } from './model.js';

/** Read and check a model folder's model.json and weights.bin, and build the model they describe (Node only). */
export function loadModelFiles(dir: string): Model {
  const { plan, buffer, weightsPath } = readModelFiles(dir);
  return buildModel(plan, buffer, weightsPath);
}
