import type { Arch } from '../config.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { UsageError } from '../errors.js';
import type { RunConfig } from '../io/model-dir.js';
import type { Model } from '../model/model.js';

/**
 * A model folder, loaded: the model of its family, its tokenizers, and how it was trained. Free
 * of Node APIs (`loadModelDir` in load.ts builds one from a folder, the browser page from the
 * files it is served), so everything that takes one also runs in a browser.
 */
export interface LoadedModel {
  dir: string;
  model: Model;
  /** Input tokenizer; the same object as `target` for single-vocabulary families. */
  source: Tokenizer;
  target: Tokenizer;
  run: RunConfig;
  /** Classification: the class names, by index. */
  labels?: string[];
}

/** The commands that use each family, for messages that point to the right one. */
export const COMMANDS_OF: Readonly<Record<Arch, string>> = {
  'encoder-decoder': "'atencao translate'",
  decoder: "'atencao generate'",
  encoder: "'atencao classify' or 'atencao fill-mask'",
};

/** Refuse a folder of another family with one line naming the family it holds and the command that fits it. */
export function requireArch(loaded: Pick<LoadedModel, 'dir' | 'model'>, arch: Arch, command: string): void {
  if (loaded.model.arch !== arch) {
    throw new UsageError(`${loaded.dir} is ${article(loaded.model.arch)} ${loaded.model.arch} model: use ${COMMANDS_OF[loaded.model.arch]} (${command} needs ${article(arch)} ${arch} model)`);
  }
}

function article(arch: Arch): string {
  return arch === 'decoder' ? 'a' : 'an';
}
