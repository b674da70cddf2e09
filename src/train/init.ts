import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../errors.js';
import { loadModelFiles } from '../model/load-files.js';
import type { Model } from '../model/model.js';

/**
 * Fine-tuning: copy into `model` every weight of the model saved in `dir` that has the same path
 * and shape (for an encoder pre-trained as a masked LM and fine-tuned to classify: the embedding,
 * positions, blocks and masked-LM head; the new classifier keeps its fresh initialisation).
 */
export function initFrom(model: Model, dir: string): { weights: number; parameters: number } {
  const source = loadModelFiles(dir);
  try {
    if (source.arch !== model.arch) {
      throw new UsageError(`--init ${dir} holds a ${source.arch} model; this run trains a ${model.arch} model`);
    }
    const saved = new Map(source.namedWeights());
    let weights = 0;
    let parameters = 0;
    for (const [path, variable] of model.namedWeights()) {
      const from = saved.get(path);
      if (from === undefined || !tf.util.arraysEqual(from.shape as number[], variable.shape as number[])) continue;
      variable.write(from.read());
      weights++;
      parameters += from.read().size;
    }
    if (weights === 0) throw new UsageError(`--init ${dir} shares no weights with this model (different sizes?)`);
    return { weights, parameters };
  } finally {
    source.dispose();
  }
}
