import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { createTransformer, setBackend, type Transformer } from '../src/index.js';
import { makeBatch, type EncodedPair } from '../src/data/batching.js';
import { TrainingError } from '../src/errors.js';
import { Adam } from '../src/train/adam.js';
import { ParamLayout } from '../src/train/params.js';
import { DataParallel } from '../src/train/parallel.js';
import { batchLoss, trainableVariables } from '../src/train/step.js';
import { rng } from './helpers.js';

const ids = { pad: 0, bos: 1, eos: 2 };
const CONFIG = { srcVocabSize: 12, tgtVocabSize: 12, dModel: 16, numHeads: 2, numEncoderLayers: 1, numDecoderLayers: 1, dFF: 32, dropout: 0, maxLen: 12 };
const ADAM = { learningRate: 1e-2, beta1: 0.9, beta2: 0.98, epsilon: 1e-9 };

function items(n: number, seed: number): EncodedPair[] {
  const random = rng(seed);
  return Array.from({ length: n }, () => {
    const tokens = Array.from({ length: 2 + Math.floor(random() * 8) }, () => 3 + Math.floor(random() * 9));
    return { src: [...tokens, 2], tgt: [...tokens].reverse() };
  });
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

it('a data-parallel step (this thread + 1 worker) has the single-thread gradient, and its update is the single-thread update', async () => {
  await setBackend('wasm');
  const batch = items(24, 5);
  const single = createTransformer(CONFIG, { seed: 9 });
  const parallelModel = createTransformer(CONFIG, { seed: 9 });
  const singleVars = trainableVariables(single);
  const layout = ParamLayout.of(singleVars);
  const optA = new Adam(layout, ADAM);
  const optB = new Adam(ParamLayout.of(trainableVariables(parallelModel)), ADAM, 2);
  const parallel = await DataParallel.start(parallelModel, optB, 'wasm');
  try {
    for (let step = 0; step < 12; step++) {
      // The whole batch's gradient on one thread, with tfjs autograd.
      const tensors = makeBatch(batch, ids);
      const { value, grads } = tf.variableGrads(() => batchLoss(single, tensors, { labelSmoothing: 0.1, training: true }), singleVars);
      tf.dispose([tensors.src, tensors.tgtIn, tensors.tgtOut]);
      const loss = await parallel.gradients('seq2seq', batch, ids, 0.1);
      expect(Math.abs(value.dataSync()[0]! - loss)).toBeLessThan(1e-5);
      const combined = parallel.combinedGradient();
      singleVars.forEach((v, i) => expect(maxDiff(grads[v.name]!.dataSync(), layout.view(combined, i)), v.name).toBeLessThan(1e-5));
      tf.dispose([value, ...Object.values(grads)]);
      // The same combined gradient through the single-thread optimizer gives the same weights, bit
      // for bit, clipping included (a norm of 1 clips most of these steps).
      optA.grad.set(combined);
      const normA = optA.step(singleVars, 1);
      const normB = parallel.update(1);
      expect(normB).toBe(normA);
      const wa = single.getWeights().flatMap((t) => Array.from(t.dataSync()));
      const wb = parallelModel.getWeights().flatMap((t) => Array.from(t.dataSync()));
      expect(maxDiff(wa, wb)).toBe(0);
    }
  } finally {
    await parallel.dispose();
    for (const d of [single, parallelModel, optA, optB]) d.dispose();
  }
}, 60_000);

/** A model trained on `threads` threads, handed to `body`, then disposed. */
async function withParallel(seed: number, threads: number, body: (model: Transformer, parallel: DataParallel) => Promise<void>): Promise<void> {
  await setBackend('wasm');
  const model = createTransformer(CONFIG, { seed });
  const parallel = await DataParallel.start(model, new Adam(ParamLayout.of(trainableVariables(model)), ADAM, threads), 'wasm');
  try {
    await body(model, parallel);
  } finally {
    await parallel.dispose();
    model.dispose();
  }
}

const STEP = { labelSmoothing: 0, clipNorm: 0 };

it('uneven shares: a batch smaller than the thread count still trains (empty shares are left out)', async () => {
  await withParallel(3, 3, async (model, parallel) => {
    const before = model.getWeights().flatMap((t) => Array.from(t.dataSync()));
    const numTensors = tf.memory().numTensors;
    const { loss } = await parallel.step('seq2seq', items(2, 8), ids, STEP);
    expect(Number.isFinite(loss)).toBe(true);
    expect(tf.memory().numTensors).toBe(numTensors);
    const after = model.getWeights().flatMap((t) => Array.from(t.dataSync()));
    expect(maxDiff(before, after)).toBeGreaterThan(0);
  });
}, 60_000);

it('a worker that dies fails the step with one TrainingError instead of hanging, and later steps fail too', async () => {
  await withParallel(4, 2, async (_model, parallel) => {
    await parallel.step('seq2seq', items(8, 2), ids, STEP);
    // Stop the worker thread from outside, as a crash would.
    await (parallel as unknown as { workers: { terminate(): Promise<void> }[] }).workers[0]!.terminate();
    const numTensors = tf.memory().numTensors;
    await expect(parallel.step('seq2seq', items(8, 3), ids, STEP)).rejects.toThrow(/^a gradient worker exited \(code \d+\)$/);
    await expect(parallel.step('seq2seq', items(8, 3), ids, STEP)).rejects.toThrow(TrainingError);
    expect(tf.memory().numTensors).toBe(numTensors);
  });
}, 60_000);
