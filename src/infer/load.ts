import { arrayBufferOf } from '../io/model-files.js';
import { readModelFolder, type ModelFolder } from '../io/model-dir.js';
import { buildModel } from '../model/load.js';
import type { Transformer } from '../model/transformer.js';
import { requireArch, type LoadedModel } from './loaded.js';
import { Translator } from './translator.js';

export { COMMANDS_OF, requireArch, type LoadedModel } from './loaded.js';

/**
 * Load a model folder made by `atencao train`, of any family, checking it first: every problem
 * (missing files, an unknown format version, weights that do not match the config, a truncated or
 * damaged weights.bin, weight paths that leave the folder, a missing tokenizer, a file that is a
 * FIFO, a device or a link out of the folder, sizes beyond the bounds) is a `ModelFormatError`
 * with one line, raised before any weight is allocated.
 */
export async function loadModelDir(dir: string): Promise<LoadedModel> {
  return loadModelFolder(readModelFolder(dir));
}

/** Build the model of a folder already read and checked by `readModelFolder`. */
export function loadModelFolder(folder: ModelFolder): LoadedModel {
  const { dir, run, source, target, description } = folder;
  const model = buildModel(description.plan, arrayBufferOf(folder.weights), description.weightsPath);
  const labels = run.data.labels;
  // One vocabulary for the families that read and write the same tokens.
  const output = model.arch === 'encoder-decoder' ? target : source;
  return { dir, model, source, target: output, run, ...(labels ? { labels } : {}) };
}

/** Load an encoder–decoder folder as a Translator (any other family is refused, naming its command). */
export async function loadModel(dir: string): Promise<Translator> {
  const loaded = await loadModelDir(dir);
  try {
    requireArch(loaded, 'encoder-decoder', 'translation');
  } catch (error) {
    loaded.model.dispose();
    throw error;
  }
  return new Translator(dir, loaded.model as Transformer, loaded.source, loaded.target, loaded.run);
}
