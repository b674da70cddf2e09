import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkResumeFlags } from '../src/cli/resume-flags.js';
import { resolveConfig } from '../src/config.js';
import { UsageError } from '../src/errors.js';
import type { RunConfig } from '../src/io/model-dir.js';

/** A run as `train --task reverse --symbols 6 --lengths 6:8 --d-model 16 --heads 2 --layers 1 --lr 0.002` saves it. */
const RUN: RunConfig = {
  formatVersion: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
  model: resolveConfig({ srcVocabSize: 10, tgtVocabSize: 10, dModel: 16, numHeads: 2, numEncoderLayers: 1, numDecoderLayers: 1, dFF: 32, maxLen: 10 }),
  data: { spec: { kind: 'task', task: 'reverse', symbols: 6, minLen: 6, maxLen: 8 }, description: 'reverse', validPairs: 10 },
  training: { steps: 100, batchSize: 16, lr: 0.002, warmup: 10, schedule: 'noam', labelSmoothing: 0.1, clip: 1, validEvery: 4, seed: 1 },
  backend: 'wasm',
};

const CORPUS_RUN: RunConfig = { ...RUN, data: { spec: { kind: 'corpus', file: '/data/pairs.tsv', tokenizer: 'word' }, description: 'pairs', validPairs: 3 } };

function refusal(given: Record<string, unknown>, config = RUN): string {
  try {
    checkResumeFlags(given, config);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('accepted');
}

describe('train --resume with the original flags repeated', () => {
  it('accepts the values the run was made with, and the flags that may change', () => {
    expect(() =>
      checkResumeFlags(
        { task: 'reverse', symbols: 6, lengths: '6:8', 'd-model': 16, heads: 2, layers: 1, 'd-ff': 32, 'max-len': 10, lr: 0.002, 'batch-size': 16, seed: 1, steps: 5000, 'valid-every': 8, 'until-exact': 0.9, backend: 'wasm', out: 'm', workers: 2 },
        RUN,
      ),
    ).not.toThrow();
    expect(() => checkResumeFlags({ lengths: ' 6:8 ', 'tie-embeddings': false, positions: 'sinusoidal', norm: 'pre', activation: 'relu', arch: 'encoder-decoder' }, RUN)).not.toThrow();
    expect(() => checkResumeFlags({}, RUN)).not.toThrow();
  });

  it('a --data path is compared as a path: relative or absolute, the same file is the same', () => {
    expect(() => checkResumeFlags({ data: '/data/../data/pairs.tsv', tokenizer: 'word' }, CORPUS_RUN)).not.toThrow();
    expect(() => checkResumeFlags({ data: join('/data', 'pairs.tsv') }, CORPUS_RUN)).not.toThrow();
    expect(refusal({ data: '/data/other.tsv' }, CORPUS_RUN)).toBe(
      '--resume continues the run as it was configured: --data /data/other.tsv differs from it (the run has /data/pairs.tsv); only --steps, --until-exact, --until-bleu, --patience, --valid-every and --time may change',
    );
  });

  it('refuses a changed value with one line naming the flag, both values and what may change', () => {
    expect(refusal({ task: 'copy' })).toBe('--resume continues the run as it was configured: --task copy differs from it (the run has reverse); only --steps, --until-exact, --until-bleu, --patience, --valid-every and --time may change');
    expect(refusal({ lr: 0.01 })).toBe('--resume continues the run as it was configured: --lr 0.01 differs from it (the run has 0.002); only --steps, --until-exact, --until-bleu, --patience, --valid-every and --time may change');
    expect(refusal({ lengths: '10' })).toContain('--lengths 10 differs from it (the run has 6:8)');
    expect(refusal({ 'tie-embeddings': true })).toContain('--tie-embeddings true differs from it (the run has false)');
    expect(refusal({ size: 100 })).toContain('--size 100 differs from it (the run used its default)');
    expect(refusal({ epochs: 2 })).toBe('--epochs cannot be given with --resume: the run has 100 steps; give --steps to train longer (only --steps, --until-exact, --until-bleu, --patience, --valid-every and --time may change)');
  });
});
