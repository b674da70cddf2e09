import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TransformerConfig } from '../config.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { ModelFormatError } from '../errors.js';
import { Translator } from '../infer/translator.js';
import { checkpointWeightHashes, readChecksums, sha256 } from './checkpoint.js';
import { loadModelFiles, WEIGHTS_BIN } from './model-files.js';
import { readRunConfig, readTokenizers, RUN_CONFIG, TOKENIZER_JSON } from './model-dir.js';

/**
 * Load a model folder made by `atencao train`, checking it first: every problem (missing files, an
 * unknown format version, weights that do not match the config, a truncated or damaged weights.bin,
 * weight paths that leave the folder, a missing tokenizer) is a `ModelFormatError` with one line.
 */
export async function loadModel(dir: string): Promise<Translator> {
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
  return new Translator(dir, model, source, target, run);
}

function checkVocabulary(config: TransformerConfig, source: Tokenizer, target: Tokenizer, dir: string): void {
  if (source.size !== config.srcVocabSize || target.size !== config.tgtVocabSize) {
    throw new ModelFormatError(
      `${join(dir, TOKENIZER_JSON)} has ${source.size}/${target.size} tokens but the model was built for ${config.srcVocabSize}/${config.tgtVocabSize}`,
    );
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

