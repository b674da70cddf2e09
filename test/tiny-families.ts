import { join } from 'node:path';
import { startRun } from '../src/train/run.js';
import type { Arch } from '../src/config.js';
import type { DataSpec } from '../src/data/spec.js';

const quiet = { info: () => undefined, warn: () => undefined };

/**
 * A model folder of one family trained a few steps on the toy corpus's Portuguese (decoder: next
 * word; encoder: masked words, or the referent classes) — enough to have real, uneven attention.
 */
export async function tinyFolder(root: string, arch: Exclude<Arch, 'encoder-decoder'>, data: DataSpec = { kind: 'pt', size: 200 }, steps = 20): Promise<string> {
  const dir = join(root, `${arch}-${data.kind}`);
  await startRun(
    {
      out: dir,
      arch,
      data,
      model: { dModel: 16, numHeads: 2, numLayers: 2, dFF: 32, dropout: 0 },
      training: { steps, batchSize: 16, lr: 1e-2, warmup: 2, schedule: 'noam', labelSmoothing: 0, clip: 1, validEvery: steps, seed: 1 },
      backend: 'wasm',
      workers: 1,
    },
    quiet,
  );
  return dir;
}
