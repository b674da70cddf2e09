import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTransformer } from '../src/index.js';
import type { EncodedPair } from '../src/data/batching.js';
import { loadModelDir } from '../src/infer/load.js';
import { BEST_DIR, BestKeeper } from '../src/train/best.js';
import { fitCorpus } from '../src/train/fit.js';
import { duration } from '../src/train/plan.js';
import { startRun } from '../src/train/run.js';
import type { Stepper } from '../src/train/stepper.js';
import { betterValidation, train, type TrainOptions } from '../src/train/trainer.js';

describe('defaults fitted to a corpus', () => {
  it('follow the stated rule: size band, passes over the data, warm-up a sixth, ten validations, patience 3', () => {
    // 9,020 pairs: the d 128 band, 16 passes of ceil(9020 / 64) = 141 batches = 2,256 steps.
    const mid = fitCorpus({ pairs: 9020, meanTargetTokens: 12 });
    expect(mid.model).toMatchObject({ dModel: 128, numHeads: 4, numEncoderLayers: 2, numDecoderLayers: 2, dFF: 512, dropout: 0.1 });
    expect(mid.training).toMatchObject({ steps: 2256, batchSize: 64, lr: 1.5e-3, warmup: 380, validEvery: 230, patience: 3, schedule: 'noam' });
    // 500 pairs: the d 64 band, 30 × 8 = 240 steps, raised to the 500-step floor; warm-up at its 100 floor.
    const small = fitCorpus({ pairs: 500, meanTargetTokens: 8 });
    expect(small.model).toMatchObject({ dModel: 64, dFF: 256, dropout: 0.2 });
    expect(small.training).toMatchObject({ steps: 500, lr: 2e-3, warmup: 100, validEvery: 50 });
    // 100,000 pairs: d 256 with 3+3 layers, 6 passes of 1,563 batches.
    const large = fitCorpus({ pairs: 100_000, meanTargetTokens: 20 });
    expect(large.model).toMatchObject({ dModel: 256, numEncoderLayers: 3, numDecoderLayers: 3, dFF: 1024 });
    expect(large.training).toMatchObject({ steps: 9378, warmup: 1560, validEvery: 940 });
    expect(fitCorpus({ pairs: 2_000_000, meanTargetTokens: 20 }).model).toMatchObject({ dModel: 512, numHeads: 8, numEncoderLayers: 6 });
  });

  it('size the steps to a time budget at the measured speed', () => {
    // 600 s at 0.5 s/step: 1,200 steps, warm-up 200, validation every 120.
    const timed = fitCorpus({ pairs: 9020, meanTargetTokens: 12 }, { seconds: 600, secondsPerStep: 0.5 });
    expect(timed.training).toMatchObject({ steps: 1200, warmup: 200, validEvery: 120 });
    // A budget for 30 steps still gets a warm-up shorter than the run.
    const tiny = fitCorpus({ pairs: 9020, meanTargetTokens: 12 }, { seconds: 3, secondsPerStep: 0.1 });
    expect(tiny.training.steps).toBe(50);
    expect(tiny.training.warmup).toBeLessThan(tiny.training.steps);
  });

  it('print durations the way people read them', () => {
    expect([duration(45), duration(780), duration(9000)]).toEqual(['45 s', '13 min', '2.5 h']);
  });
});

describe('choosing the best validation', () => {
  const record = (bleu: number | undefined, loss: number) => ({ bleu, loss, tokenAccuracy: 0, n: 1 });
  it('compares BLEU first, then loss on a tie, and loss alone without BLEU', () => {
    expect(betterValidation(record(0.2, 3), record(0.1, 1))).toBe(true);
    expect(betterValidation(record(0.1, 1), record(0.2, 3))).toBe(false);
    expect(betterValidation(record(0, 2), record(0, 3))).toBe(true);
    expect(betterValidation(record(undefined, 2), record(undefined, 2))).toBe(false);
    expect(betterValidation({ loss: 2, tokenAccuracy: 0, n: 1, exactMatch: 0.5 }, { loss: 1, tokenAccuracy: 0, n: 1, exactMatch: 0.4 })).toBe(true);
  });
});

describe('early stopping', () => {
  // A model that never changes (its stepper does nothing): every validation scores the same.
  const CONFIG = { srcVocabSize: 10, tgtVocabSize: 10, dModel: 8, numHeads: 2, numEncoderLayers: 1, numDecoderLayers: 1, dFF: 16, dropout: 0, maxLen: 8 };
  const pair: EncodedPair = { src: [4, 5, 6, 2], tgt: [6, 5, 4] };
  const still: Stepper = { description: 'still', step: async () => ({ loss: 1 }), optimizer: { getWeights: async () => [], setWeights: async () => undefined }, dispose: async () => undefined };
  const options = (extra: Partial<TrainOptions>): TrainOptions => ({
    data: { batchAt: () => [pair, pair] },
    valid: [pair, pair],
    evaluation: { objective: 'seq2seq', ids: { pad: 0, bos: 1, eos: 2 }, bleu: true },
    start: { step: 0, elapsedSeconds: 0, tokensSeen: 0 },
    steps: 20,
    batchSize: 2,
    schedule: { lr: 1e-3, warmup: 2, kind: 'noam' },
    labelSmoothing: 0,
    clipNorm: 1,
    validEvery: 2,
    seed: 1,
    ...extra,
  });

  it('stops after `patience` validations without a better score, having kept the first as the best', async () => {
    const model = createTransformer(CONFIG, { seed: 1 });
    const bests: number[] = [];
    const before = tf.memory().numTensors;
    const result = await train(model, still, options({ patience: 2 }), { onBest: async (r) => void bests.push(r.step) });
    expect(tf.memory().numTensors).toBe(before);
    // Validations at 2 (best), 4 and 6 (no better: 2 in a row) → stop at step 6.
    expect(result.reason).toBe('plateau');
    expect(result.state.step).toBe(6);
    expect(bests).toEqual([2]);
    expect(result.best?.step).toBe(2);
    model.dispose();
  });

  it('stops once validation BLEU reaches --until-bleu', async () => {
    const model = createTransformer(CONFIG, { seed: 1 });
    const result = await train(model, still, options({ untilBleu: 0 }));
    expect(result.reason).toBe('target');
    expect(result.state.step).toBe(2);
    model.dispose();
  });
});

describe('the best checkpoint', () => {
  it('is a loadable model folder, and its weights come back into the model for the test', async () => {
    const root = mkdtempSync(join(tmpdir(), 'atencao-best-'));
    const corpus = join(root, 'pairs.tsv');
    const words = [['um', 'one'], ['dois', 'two'], ['três', 'three'], ['quatro', 'four'], ['gato', 'cat'], ['cão', 'dog']];
    writeFileSync(corpus, words.flatMap(([a, b]) => words.map(([c, d]) => `${a} ${c}\t${b} ${d}\n`)).join(''));
    const out = join(root, 'model');
    const lines: string[] = [];
    const summary = await startRun(
      {
        out,
        data: { kind: 'corpus', file: corpus, tokenizer: 'word', validFraction: 0.15 },
        model: {},
        training: { steps: 1, batchSize: 8, lr: 1e-3, warmup: 1, schedule: 'noam', labelSmoothing: 0, clip: 1, validEvery: 1, seed: 1 },
        given: { model: { dModel: 16, numHeads: 2, dFF: 32, numEncoderLayers: 1, numDecoderLayers: 1 }, training: { steps: 4, batchSize: 8, validEvery: 2 } },
        backend: 'wasm',
        workers: 1,
      },
      { info: (m) => lines.push(m), warn: (m) => lines.push(m) },
    );
    // The plan: steps given, warm-up and validation sized to them by the rule (4 / 6 → at least 100, capped at a third).
    const plan = lines.find((l) => l.startsWith('plan: '));
    expect(plan).toMatch(/^plan: 4 steps of 8 .* after 2 warm-up steps, validate every 2; stop early after 3 validations without a better score; [\d.]+ s\/step measured here/);
    expect(summary.config.training).toMatchObject({ steps: 4, warmup: 2, validEvery: 2, patience: 3, lr: 2e-3 });
    expect(summary.config.model).toMatchObject({ dModel: 16, dropout: 0.2 });
    const evaluation = JSON.parse(readFileSync(join(out, 'evaluation.json'), 'utf8')) as { split: string; step: number; trainedSteps: number; weights: string };
    expect(evaluation).toMatchObject({ split: 'test', step: summary.result.best!.step, trainedSteps: 4 });
    expect(existsSync(join(out, BEST_DIR, 'weights.bin'))).toBe(true);
    const loaded = await loadModelDir(join(out, BEST_DIR));
    expect(loaded.model.config).toEqual(summary.config.model);
    loaded.model.dispose();
  });

  it('restores the weights it saved', async () => {
    const root = mkdtempSync(join(tmpdir(), 'atencao-keeper-'));
    writeFileSync(join(root, 'config.json'), '{}');
    writeFileSync(join(root, 'tokenizer.json'), '{}');
    const model = createTransformer({ srcVocabSize: 10, tgtVocabSize: 10, dModel: 8, numHeads: 2, numEncoderLayers: 1, numDecoderLayers: 1, dFF: 16, dropout: 0, maxLen: 8 }, { seed: 1 });
    const [, first] = model.namedWeights()[0]!;
    const original = await first.read().data();
    const keeper = new BestKeeper(root, model);
    await keeper.save(5);
    const before = tf.memory().numTensors;
    for (const [, v] of model.namedWeights()) {
      const zeros = tf.zerosLike(v.read());
      v.write(zeros);
      zeros.dispose();
    }
    expect(Array.from(await first.read().data()).every((x) => x === 0)).toBe(true);
    expect(keeper.restore(9, { info: () => undefined })).toBe(5);
    expect(Array.from(await first.read().data())).toEqual(Array.from(original));
    expect(keeper.restore(5, { info: () => undefined })).toBe(5);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
