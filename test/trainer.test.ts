import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createTransformer, TrainingError } from '../src/index.js';
import type { EncodedPair } from '../src/data/batching.js';
import { SyntheticTask } from '../src/data/tasks.js';
import { restoreOptimizer, saveCheckpoint } from '../src/io/checkpoint.js';
import { loadModelFiles } from '../src/model/load-files.js';
import type { Model } from '../src/model/model.js';
import { learningRate } from '../src/train/schedule.js';
import { DeviceStepper, FlatAdamStepper, type Stepper } from '../src/train/stepper.js';
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
const START = { step: 0, elapsedSeconds: 0, tokensSeen: 0 };
const OPTIONS: TrainOptions = {
  data,
  valid,
  evaluation: { objective: 'seq2seq', ids },
  start: START,
  steps: 12,
  batchSize: 8,
  schedule: { lr: 3e-3, warmup: 4, kind: 'noam' },
  labelSmoothing: 0.1,
  clipNorm: 1,
  validEvery: 6,
  seed: 5,
};
/** Each stepper that applies gradients on this thread: flat SIMD Adam and tf.train.adam. */
const STEPPERS: [string, (model: Model) => Stepper][] = [
  ['flat Adam', (model) => new FlatAdamStepper(model, OPTIONS.schedule.lr)],
  ['tf.train.adam', (model) => new DeviceStepper(model, OPTIONS.schedule.lr)],
];

for (const [name, makeStepper] of STEPPERS) {
  it(`a resumed run continues the loss curve exactly (weights, optimizer, schedule, data and dropout) [${name}]`, async () => {
    const straight: StepEvent[] = [];
    const model = createTransformer(CONFIG, { seed: 3 });
    let stepper = makeStepper(model);
    await train(model, stepper, OPTIONS, { onStep: (e) => straight.push(e) });
    model.dispose();
    await stepper.dispose();

    const dir = mkdtempSync(join(tmpdir(), 'atencao-resume-'));
    const first: StepEvent[] = [];
    const model2 = createTransformer(CONFIG, { seed: 3 });
    stepper = makeStepper(model2);
    const saving = stepper;
    const half = await train(model2, stepper, { ...OPTIONS, steps: 6 }, {
      onStep: (e) => first.push(e),
      checkpoint: (state) => saveCheckpoint(dir, model2, saving.optimizer, state),
    });
    expect(half.state.step).toBe(6);
    expect(half.reason).toBe('steps');
    model2.dispose();
    await stepper.dispose();

    const model3 = loadModelFiles(dir);
    const stepper3 = makeStepper(model3);
    const state = await restoreOptimizer(dir, stepper3.optimizer);
    expect(state.step).toBe(6);
    expect(state.tokensSeen).toBe(half.state.tokensSeen);
    const second: StepEvent[] = [];
    await train(model3, stepper3, { ...OPTIONS, start: state }, { onStep: (e) => second.push(e) });
    model3.dispose();
    await stepper3.dispose();

    // Equal up to float32 rounding: on restore Adam recomputes β^t with pow instead of repeated products.
    const resumed = [...first, ...second].map((e) => e.loss);
    expect(resumed).toHaveLength(straight.length);
    resumed.forEach((loss, i) => expect(Math.abs(loss - straight[i]!.loss)).toBeLessThan(1e-5));
    expect(first.map((e) => e.loss)).toEqual(straight.slice(0, 6).map((e) => e.loss));
    expect(second.map((e) => e.step)).toEqual([7, 8, 9, 10, 11, 12]);
    expect(second.map((e) => e.lr)).toEqual(straight.slice(6).map((e) => e.lr));
    expect(readdirSync(dir).filter((f) => f.startsWith('optimizer-'))).toEqual(['optimizer-6.bin']);
  });
}

it('the same seed gives the same losses; another seed does not', async () => {
  const run = async (seed: number) => {
    const losses: number[] = [];
    const model = createTransformer(CONFIG, { seed });
    const stepper = new FlatAdamStepper(model, OPTIONS.schedule.lr);
    await train(model, stepper, { ...OPTIONS, steps: 5, validEvery: 100, seed }, { onStep: (e) => losses.push(e.loss) });
    model.dispose();
    await stepper.dispose();
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
  const stepper = new DeviceStepper(model, 1e12);
  const saved: number[] = [];
  await saveCheckpoint(dir, model, stepper.optimizer, START);
  const error = await train(model, stepper, { ...OPTIONS, schedule: { lr: 1e12, warmup: 0, kind: 'constant' }, clipNorm: 0, steps: 50, validEvery: 1 }, {
    checkpoint: async (state) => {
      await saveCheckpoint(dir, model, stepper.optimizer, state);
      saved.push(state.step);
    },
  }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TrainingError);
  const match = /^the loss became (NaN|-?Infinity) at step (\d+); stopped, keeping the checkpoint of step (\d+) \(try a lower --lr or --clip\)$/.exec((error as Error).message);
  expect(match, (error as Error).message).not.toBeNull();
  expect(Number(match![3])).toBe(saved[saved.length - 1]);
  expect(Number(match![2])).toBe(Number(match![3]) + 1);
  expect(saved.length).toBeGreaterThan(0); // step 1 computes its loss before the absurd update
  const reloaded = loadModelFiles(dir);
  const restored = tf.train.adam(1e-3);
  const state = await restoreOptimizer(dir, restored);
  expect(state.step).toBe(saved[saved.length - 1]);
  await stepper.dispose();
  for (const disposable of [reloaded, model, restored]) disposable.dispose();
  expect(tf.memory().numTensors).toBe(before);
});

it('losses kept on the device are read every few steps: each step is still reported, and a NaN still stops the run before any checkpoint', async () => {
  const before = tf.memory().numTensors;
  const model = createTransformer(CONFIG, { seed: 3 });
  const stepper = new DeviceStepper(model, 1e12);
  const reported: { step: number; loss: number }[] = [];
  const saved: number[] = [];
  const error = await train(model, stepper, { ...OPTIONS, schedule: { lr: 1e12, warmup: 0, kind: 'constant' }, clipNorm: 0, steps: 50, validEvery: 50, readLossEvery: 4 }, {
    onStep: (e) => reported.push({ step: e.step, loss: e.loss }),
    checkpoint: async (state) => {
      saved.push(state.step);
    },
  }).catch((e: unknown) => e);
  const match = /^the loss became (NaN|-?Infinity) at step (\d+); stopped, keeping the checkpoint of step 0 /.exec((error as Error).message);
  expect(match, String(error)).not.toBeNull();
  const nanStep = Number(match![2]);
  // Every step before the first bad one was reported, in order, with a finite loss; nothing was saved.
  expect(reported.map((r) => r.step)).toEqual(Array.from({ length: nanStep - 1 }, (_, i) => i + 1));
  expect(reported.every((r) => Number.isFinite(r.loss))).toBe(true);
  expect(saved).toEqual([]);
  await stepper.dispose();
  model.dispose();
  expect(tf.memory().numTensors).toBe(before);
});

it('a time limit stops the run between steps, then validates and saves where it stopped', async () => {
  const model = createTransformer(CONFIG, { seed: 3 });
  const inner = new FlatAdamStepper(model, OPTIONS.schedule.lr);
  // Every step takes at least 40 ms, so a 0.1 s limit (0.02 s already spent in an earlier session) ends it after 2 steps.
  const slow: Stepper = {
    description: 'slow',
    optimizer: inner.optimizer,
    step: async (input) => {
      await new Promise((done) => setTimeout(done, 40));
      return inner.step(input);
    },
    dispose: () => inner.dispose(),
  };
  const saved: number[] = [];
  const result = await train(model, slow, { ...OPTIONS, start: { ...START, elapsedSeconds: 0.02 }, steps: 100, validEvery: 50, timeLimitSeconds: 0.1 }, { checkpoint: async (state) => void saved.push(state.step) });
  expect(result.reason).toBe('time');
  expect(result.state.step).toBe(2);
  expect(result.last?.step).toBe(2);
  expect(saved).toEqual([2]);
  await slow.dispose();
  model.dispose();
});

it('resume refuses optimizer state that does not belong to the weights', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atencao-mismatch-'));
  const model = createTransformer(CONFIG, { seed: 3 });
  const stepper = new FlatAdamStepper(model, 1e-3);
  await saveCheckpoint(dir, model, stepper.optimizer, START);
  writeFileSync(join(dir, 'weights.bin'), Buffer.alloc(0));
  const other = tf.train.adam(1e-3);
  await expect(restoreOptimizer(dir, other)).rejects.toThrow(`${dir} has no optimizer state matching its weights.bin, so the run cannot be resumed`);
  model.dispose();
  other.dispose();
  await stepper.dispose();
});

for (const [name, makeStepper] of STEPPERS) {
  it(`the training loop leaks no tensors [${name}]`, async () => {
    const model = createTransformer(CONFIG, { seed: 3 });
    const stepper = makeStepper(model);
    await train(model, stepper, { ...OPTIONS, steps: 1 });
    const before = tf.memory().numTensors;
    const result = await train(model, stepper, { ...OPTIONS, steps: 7, validEvery: 3, start: { step: 1, elapsedSeconds: 0, tokensSeen: 0 } });
    expect(result.state.step).toBe(7);
    expect(result.last?.step).toBe(7);
    expect(tf.memory().numTensors).toBe(before);
    expectNoLeak(() => undefined);
    model.dispose();
    await stepper.dispose();
  });
}

it('the noam schedule warms up linearly and then decays as 1/√step', () => {
  const o = { lr: 1e-3, warmup: 100, kind: 'noam' as const };
  expect(learningRate(1, o)).toBeCloseTo(1e-5, 12);
  expect(learningRate(50, o)).toBeCloseTo(5e-4, 12);
  expect(learningRate(100, o)).toBeCloseTo(1e-3, 12);
  expect(learningRate(400, o)).toBeCloseTo(5e-4, 12);
  expect(learningRate(400, { ...o, kind: 'constant' })).toBe(1e-3);
});
