import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AtencaoError, WriteError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { writeChecksums } from '../io/checkpoint.js';
import { encodeModelWeights, writeModelFiles } from '../io/model-files.js';
import { RUN_CONFIG, TOKENIZER_JSON } from '../io/model-dir.js';
import { assignWeights } from '../model/load.js';
import type { Model } from '../model/model.js';

/** The sub-folder of a run's folder holding the weights of its best validation: a model folder of its own. */
export const BEST_DIR = 'best';

/**
 * Keeps the weights of the best validation so far: in memory (to test them at the end) and as a
 * complete model folder `best/` inside the run's folder (for translate, eval, serve). The run's
 * own folder keeps the last checkpoint, which a resumed run continues from.
 */
export class BestKeeper {
  private saved?: { step: number; data: Uint8Array; specs: tf.io.WeightsManifestEntry[] };
  /** The run's config.json and tokenizer.json, read once: they do not change while it trains. */
  private shared?: [string, Buffer][];

  constructor(
    private readonly dir: string,
    private readonly model: Model,
  ) {}

  /** Keep the model's current weights as those of step `step`. */
  async save(step: number): Promise<void> {
    const encoded = await encodeModelWeights(this.model);
    this.saved = { step, ...encoded };
    const final = join(this.dir, BEST_DIR);
    const partial = `${final}.partial-${process.pid}`;
    try {
      this.shared ??= [RUN_CONFIG, TOKENIZER_JSON].map((file) => [file, readFileSync(join(this.dir, file))]);
      rmSync(partial, { recursive: true, force: true });
      mkdirSync(partial);
      for (const [file, bytes] of this.shared) writeFileAtomic(join(partial, file), bytes);
      writeModelFiles(partial, this.model, encoded, { step });
      writeChecksums(partial);
      // Swap the folders: a crash leaves the old best/, the new one, or both beside each other.
      const old = `${final}.old-${process.pid}`;
      if (existsSync(final)) renameSync(final, old);
      renameSync(partial, final);
      rmSync(old, { recursive: true, force: true });
    } catch (error) {
      if (error instanceof AtencaoError) throw error;
      throw new WriteError(`cannot save the best weights in ${final}: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * Put the best weights back into the model if a later step ended the run, and return the step
   * whose weights the model now holds.
   */
  restore(lastStep: number, reporter: { info(message: string): void }): number {
    if (this.saved === undefined || this.saved.step === lastStep) return lastStep;
    const { data, specs, step } = this.saved;
    const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
    const tensors = tf.io.decodeWeights(buffer, specs);
    assignWeights(this.model, tensors, `the weights of step ${step}`); // frees the decoded tensors
    reporter.info(`testing the weights of step ${step}, the best validation (saved in ${BEST_DIR}/; the folder itself holds step ${lastStep}, to resume from)`);
    return step;
  }
}
