import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { createTransformer, setBackend } from '../src/index.js';
import { makeBatch, type EncodedPair } from '../src/data/batching.js';
import { DataParallel } from '../src/train/parallel.js';
import { applyStep, batchLoss } from '../src/train/step.js';
import { rng } from './helpers.js';

const ids = { pad: 0, bos: 1, eos: 2 };
const CONFIG = { srcVocabSize: 12, tgtVocabSize: 12, dModel: 16, numHeads: 2, numEncoderLayers: 1, numDecoderLayers: 1, dFF: 32, dropout: 0, maxLen: 12 };

function items(n: number, seed: number): EncodedPair[] {
  const random = rng(seed);
  return Array.from({ length: n }, () => {
    const tokens = Array.from({ length: 2 + Math.floor(random() * 8) }, () => 3 + Math.floor(random() * 9));
    return { src: [...tokens, 2], tgt: [...tokens].reverse() };
  });
}

it('data-parallel gradients (this thread + 1 worker) equal the single-thread gradients, and so do the steps', async () => {
  await setBackend('wasm');
  const batch = items(24, 5);
  const single = createTransformer(CONFIG, { seed: 9 });
  const parallelModel = createTransformer(CONFIG, { seed: 9 });
  // Plain SGD, so equal gradients must give equal weights (Adam would magnify float noise on near-zero gradients).
  const optA = tf.train.sgd(0.5);
  const optB = tf.train.sgd(0.5);
  const parallel = await DataParallel.start(parallelModel, 2, 'wasm');
  try {
    for (let step = 0; step < 3; step++) {
      const tensors = makeBatch(batch, ids);
      const varsA = single.trainableWeights.map((w) => w.read() as tf.Variable);
      const { value, grads: gradsA } = tf.variableGrads(() => batchLoss(single, tensors, { labelSmoothing: 0.1, training: true }), varsA);
      tf.dispose([tensors.src, tensors.tgtIn, tensors.tgtOut]);
      const { loss, grads: gradsB } = await parallel.gradients(batch, ids, 0.1);
      expect(Math.abs(value.dataSync()[0]! - loss)).toBeLessThan(1e-5);
      const varsB = parallelModel.trainableWeights.map((w) => w.read() as tf.Variable);
      varsA.forEach((v, i) => {
        const a = gradsA[v.name]!.dataSync();
        const b = gradsB[varsB[i]!.name]!.dataSync();
        expect(Math.max(...Array.from(a, (x, j) => Math.abs(x - b[j]!))), v.name).toBeLessThan(1e-5);
      });
      applyStep(optA, gradsA, value.dataSync()[0]!, 1);
      applyStep(optB, gradsB, loss, 1);
      value.dispose();
    }
    const wa = single.getWeights().map((t) => Array.from(t.dataSync()));
    const wb = parallelModel.getWeights().map((t) => Array.from(t.dataSync()));
    expect(Math.max(...wa.flatMap((w, i) => w.map((x, j) => Math.abs(x - wb[i]![j]!))))).toBeLessThan(1e-5);
  } finally {
    await parallel.dispose();
    for (const d of [single, parallelModel, optA, optB]) d.dispose();
  }
}, 60_000);
