import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createTransformer, TrainingError } from '../src/index.js';
import type { EncodedPair } from '../src/data/batching.js';
import { SyntheticTask } from '../src/data/tasks.js';
import { restoreOptimizer, saveCheckpoint } from '../src/io/checkpoint.js';
import { loadModelFiles } from '../src/io/model-files.js';
import { learningRate } from '../src/train/schedule.js';
import { train, type StepEvent, type TrainOptions } from '../src/train/trainer.js';
import { Random } from '../src/util/random.js';
import { expectNoLeak } from './helpers.js';

const task = new SyntheticTask('reverse', { symbols: 6, minLen: 3, maxLen: 6, testSize: 20, validSize: 16 });
const encode = (s: string) => [...s].map((c) => 4 + task.alphabet.indexOf(c));
const pair = (p: { source: string; target: string }): EncodedPair => ({ src: [...encode(p.source), 2], tgt: encode(p.target) });
const data = { batchAt: (step: number, size: number) => Array.from({ length: size }, ((r) => () => pair(task.sample(r)))(new Random(1000 + step))) };
const valid = task.valid.map(pair);
const ids = { pad: 0, bos: 1, eos: 2 };
const CONFIG = { srcVocabSize: 10, tgtVocabSize: 10, dModel: 16, numHeads: 2, numEncoderLayers: 1, numDecoderLayers: 1, dFF: 32, dropout: 0.1, maxLen: 8 };
const OPTIONS: TrainOptions = {
  steps: 12,
  batchSize: 8,
  schedule: { lr: 3e-3, warmup: 4, kind: 'noam' },
  labelSmoothing: 0.1,
  clipNorm: 1,
  validEvery: 6,
  seed: 5,
};
const adam = () => tf.train.adam(OPTIONS.schedule.lr, 0.9, 0.98, 1e-9);

it('a resumed run continues the loss curve exactly (weights, optimizer, schedule, data and dropout)', async () => {
  const straight: StepEvent[] = [];
  const model = createTransformer(CONFIG, { seed: 3 });
  let optimizer = adam();
  await train(model, optimizer, data, valid, { ids }, OPTIONS, { step: 0, elapsedSeconds: 0, tokensSeen: 0 }, { onStep: (e) => straight.push(e) });
  model.dispose();
  optimizer.dispose();

  const dir = mkdtempSync(join(tmpdir(), 'atencao-resume-'));
  const first: StepEvent[] = [];
  const model2 = createTransformer(CONFIG, { seed: 3 });
  optimizer = adam();
  const half = await train(model2, optimizer, data, valid, { ids }, { ...OPTIONS, steps: 6 }, { step: 0, elapsedSeconds: 0, tokensSeen: 0 }, {
    onStep: (e) => first.push(e),
    checkpoint: (state) => saveCheckpoint(dir, model2, optimizer, state),
  });
  expect(half.state.step).toBe(6);
  model2.dispose();
  optimizer.dispose();

  const model3 = loadModelFiles(dir);
  const optimizer3 = adam();
  const state = await restoreOptimizer(dir, optimizer3);
  expect(state.step).toBe(6);
  const second: StepEvent[] = [];
  await train(model3, optimizer3, data, valid, { ids }, OPTIONS, state, { onStep: (e) => second.push(e) });
  model3.dispose();
  optimizer3.dispose();

  // Equal up to float32 rounding: on restore Adam recomputes β^t with pow instead of repeated products.
  const resumed = [...first, ...second].map((e) => e.loss);
  expect(resumed).toHaveLength(straight.length);
  resumed.forEach((loss, i) => expect(Math.abs(loss - straight[i]!.loss)).toBeLessThan(1e-5));
  expect(first.map((e) => e.loss)).toEqual(straight.slice(0, 6).map((e) => e.loss));
  expect(second.map((e) => e.lr)).toEqual(straight.slice(6).map((e) => e.lr));
  expect(readdirSync(dir).filter((f) => f.startsWith('optimizer-'))).toEqual(['optimizer-6.bin']);
});

it('the same seed gives the same losses; another seed does not', async () => {
  const run = async (seed: number) => {
    const losses: number[] = [];
    const model = createTransformer(CONFIG, { seed });
    const optimizer = adam();
    await train(model, optimizer, data, valid, { ids }, { ...OPTIONS, steps: 5, validEvery: 100, seed }, { step: 0, elapsedSeconds: 0, tokensSeen: 0 }, { onStep: (e) => losses.push(e.loss) });
    model.dispose();
    optimizer.dispose();
    return losses;
  };
  const a = await run(1);
  expect(await run(1)).toEqual(a);
  expect(await run(2)).not.toEqual(a);
});

it('a NaN loss stops training with a TrainingError and keeps the last checkpoint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atencao-nan-'));
  const before = tf.memory().numTensors;
  const model = createTransformer(CONFIG, { seed: 3 });
  const optimizer = adam();
  const saved: number[] = [];
  await saveCheckpoint(dir, model, optimizer, { step: 0, elapsedSeconds: 0, tokensSeen: 0 });
  await expect(
    train(model, optimizer, data, valid, { ids }, { ...OPTIONS, schedule: { lr: 1e12, warmup: 0, kind: 'constant' }, clipNorm: 0, steps: 50, validEvery: 1 }, { step: 0, elapsedSeconds: 0, tokensSeen: 0 }, {
      checkpoint: async (state) => {
        await saveCheckpoint(dir, model, optimizer, state);
        saved.push(state.step);
      },
    }),
  ).rejects.toThrow(TrainingError);
  expect(saved.length).toBeGreaterThan(0); // step 1 computes its loss before the absurd update
  const reloaded = loadModelFiles(dir);
  const restored = tf.train.adam(1e-3);
  const state = await restoreOptimizer(dir, restored);
  expect(state.step).toBe(saved[saved.length - 1]);
  for (const disposable of [reloaded, model, optimizer, restored]) disposable.dispose();
  expect(tf.memory().numTensors).toBe(before);
});

it('resume refuses optimizer state that does not belong to the weights', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atencao-mismatch-'));
  const model = createTransformer(CONFIG, { seed: 3 });
  const optimizer = adam();
  await saveCheckpoint(dir, model, optimizer, { step: 0, elapsedSeconds: 0, tokensSeen: 0 });
  writeFileSync(join(dir, 'weights.bin'), Buffer.alloc(0));
  await expect(restoreOptimizer(dir, adam())).rejects.toThrow(`${dir} has no optimizer state matching its weights.bin, so the run cannot be resumed`);
  model.dispose();
  optimizer.dispose();
});

it('the training loop leaks no tensors', async () => {
  const model = createTransformer(CONFIG, { seed: 3 });
  const optimizer = adam();
  await train(model, optimizer, data, valid, { ids }, { ...OPTIONS, steps: 1 }, { step: 0, elapsedSeconds: 0, tokensSeen: 0 });
  const before = tf.memory().numTensors;
  await train(model, optimizer, data, valid, { ids }, { ...OPTIONS, steps: 7, validEvery: 3 }, { step: 1, elapsedSeconds: 0, tokensSeen: 0 });
  expect(tf.memory().numTensors).toBe(before);
  expectNoLeak(() => undefined);
  model.dispose();
  optimizer.dispose();
});

it('the noam schedule warms up linearly and then decays as 1/√step', () => {
  const o = { lr: 1e-3, warmup: 100, kind: 'noam' as const };
  expect(learningRate(1, o)).toBeCloseTo(1e-5, 12);
  expect(learningRate(50, o)).toBeCloseTo(5e-4, 12);
  expect(learningRate(100, o)).toBeCloseTo(1e-3, 12);
  expect(learningRate(400, o)).toBeCloseTo(5e-4, 12);
  expect(learningRate(400, { ...o, kind: 'constant' })).toBe(1e-3);
});
