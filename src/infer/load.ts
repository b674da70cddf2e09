import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../config.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { ModelFormatError } from '../errors.js';
import { checkpointWeightHashes, readChecksums, sha256 } from '../io/checkpoint.js';
import { WEIGHTS_BIN } from '../io/model-files.js';
import { readRunConfig, readTokenizers, RUN_CONFIG, TOKENIZER_JSON } from '../io/model-dir.js';
import { loadModelFiles } from '../model/load-files.js';
import type { Transformer } from '../model/transformer.js';
import { requireArch, type LoadedModel } from './loaded.js';
import { Translator } from './translator.js';

export { COMMANDS_OF, requireArch, type LoadedModel } from './loaded.js';

/**
 * Load a model folder made by `atencao train`, of any family, checking it first: every problem
 * (missing files, an unknown format version, weights that do not match the config, a truncated or
 * damaged weights.bin, weight paths that leave the folder, a missing tokenizer) is a
 * `ModelFormatError` with one line.
 */
export async function loadModelDir(dir: string): Promise<LoadedModel> {
  if (!existsSync(dir)) throw new ModelFormatError(`model folder '${dir}' not found`);
  if (!statSync(dir).isDirectory()) throw new ModelFormatError(`'${dir}' is not a folder`);
  for (const file of [RUN_CONFIG, TOKENIZER_JSON]) {
    if (!existsSync(join(dir, file))) throw new ModelFormatError(`${join(dir, file)} is missing`);
  }
  const run = readRunConfig(dir);
  const { source, target } = readTokenizers(dir);
  const model = loadModelFiles(dir);
  try {
    checkVocabulary(model.config, source, target, dir);
    checkAgainstCheckpoint(dir);
  } catch (error) {
    model.dispose();
    throw error;
  }
  const labels = run.data?.labels;
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

function checkVocabulary(config: ModelConfig, source: Tokenizer, target: Tokenizer, dir: string): void {
  const [want, have] =
    config.arch === 'encoder-decoder' ? [`${config.srcVocabSize}/${config.tgtVocabSize}`, `${source.size}/${target.size}`] : [`${config.vocabSize}`, `${source.size}`];
  if (want !== have) {
    throw new ModelFormatError(`${join(dir, TOKENIZER_JSON)} has ${have} tokens but the model was built for ${want}`);
  }
}

/**
 * weights.bin must be a version that was saved: its hash is in checksums.json (or, in folders
 * without it, in an optimizer checkpoint). Bit flips and replaced files are caught here.
 */
function checkAgainstCheckpoint(dir: string): void {
  const recorded = readChecksums(dir);
  const hashes = recorded.length > 0 ? recorded : checkpointWeightHashes(dir);
  if (hashes.length === 0) return;
  if (!hashes.includes(sha256(readFileSync(join(dir, WEIGHTS_BIN))))) throw new ModelFormatError(`${join(dir, WEIGHTS_BIN)} does not match the checksum saved with it (damaged or replaced)`);
}

