import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { createTransformer, sequenceLoss } from '../src/index.js';
import type { Seq2SeqBatch } from '../src/model/model.js';
import { batchLoss, trainStep } from '../src/train/step.js';
import { describeEachBackend, expectNoLeak, rng } from './helpers.js';

const PAD = 0;
const BOS = 1;
const EOS = 2;

/** A fixed copy-task batch: random sequences of symbols 3…11, with different lengths and padding. */
function copyBatch(size: number, maxLen: number, seed: number): Seq2SeqBatch {
  const random = rng(seed);
  const src: number[][] = [];
  const tgtIn: number[][] = [];
  const tgtOut: number[][] = [];
  for (let i = 0; i < size; i++) {
    const n = maxLen - 2 + Math.floor(random() * 3); // maxLen-2 … maxLen
    const seq = Array.from({ length: n }, () => 3 + Math.floor(random() * 9));
    const pad = (a: number[], len: number) => [...a, ...new Array<number>(len - a.length).fill(PAD)];
    src.push(pad(seq, maxLen));
    tgtIn.push(pad([BOS, ...seq], maxLen + 1));
    tgtOut.push(pad([...seq, EOS], maxLen + 1));
  }
  return {
    kind: 'seq2seq',
    src: tf.tensor2d(src, undefined, 'int32'),
    tgtIn: tf.tensor2d(tgtIn, undefined, 'int32'),
    tgtOut: tf.tensor2d(tgtOut, undefined, 'int32'),
  };
}

const CONFIG = {
  srcVocabSize: 12,
  tgtVocabSize: 12,
  dModel: 32,
  numHeads: 4,
  numEncoderLayers: 1,
  numDecoderLayers: 1,
  dFF: 64,
  dropout: 0,
  maxLen: 16,
};

describeEachBackend('training', () => {
  it('overfits one fixed copy batch: loss falls below 0.05 within 300 steps', async () => {
    const model = createTransformer(CONFIG, { seed: 1 });
    const optimizer = tf.train.adam(3e-3, 0.9, 0.98, 1e-9);
    const batch = copyBatch(8, 6, 3);
    const losses: number[] = [];
    for (let step = 0; step < 300; step++) {
      losses.push((await trainStep(model, optimizer, batch)).loss);
      if (losses[losses.length - 1]! < 0.05) break;
    }
    expect(losses[0]).toBeGreaterThan(1.5); // starts near ln(12) ≈ 2.5
    expect(losses[losses.length - 1]).toBeLessThan(0.05);
    // The trained model predicts every target token of the batch.
    const logits = model.forward(batch.src, batch.tgtIn);
    const predicted = tf.argMax(logits, -1).arraySync() as number[][];
    const wanted = batch.tgtOut.arraySync();
    wanted.forEach((row, i) => row.forEach((id, j) => id !== PAD && expect(predicted[i]![j]).toBe(id)));
    tf.dispose([logits, batch.src, batch.tgtIn, batch.tgtOut]);
    optimizer.dispose();
    model.dispose();
  });

  it('leaks no tensors in forward, backward, a training step, or with attention weights', async () => {
    const model = createTransformer({ ...CONFIG, dropout: 0.1 }, { seed: 2 });
    const optimizer = tf.train.adam(1e-3);
    const batch = copyBatch(4, 5, 4);
    await trainStep(model, optimizer, batch); // creates the optimizer's slots once
    expectNoLeak(() => {
      const logits = model.forward(batch.src, batch.tgtIn, { training: true });
      logits.dispose();
    });
    expectNoLeak(() => {
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(() => batchLoss(model, batch, { training: true, labelSmoothing: 0.1 }), vars);
      expect(Object.keys(grads).length).toBe(vars.length);
      tf.dispose([value, ...Object.values(grads)]);
    });
    const before = tf.memory().numTensors;
    await trainStep(model, optimizer, batch, { labelSmoothing: 0.1 });
    expect(tf.memory().numTensors).toBe(before);
    expectNoLeak(() => {
      const enc = model.encode(batch.src, { returnAttention: true });
      const dec = model.decode(batch.tgtIn, enc.memory, enc.memoryMask, { returnAttention: true });
      expect(enc.attention!.map((t) => t.shape)).toEqual([[4, 4, 5, 5]]);
      expect(dec.selfAttention!.map((t) => t.shape)).toEqual([[4, 4, 6, 6]]);
      expect(dec.crossAttention!.map((t) => t.shape)).toEqual([[4, 4, 6, 5]]);
      tf.dispose([enc.memory, enc.memoryMask, ...enc.attention!, dec.hidden, ...dec.selfAttention!, ...dec.crossAttention!]);
    });
    tf.dispose([batch.src, batch.tgtIn, batch.tgtOut]);
    optimizer.dispose();
    model.dispose();
  });
});

it('sequenceLoss equals hand-computed cross-entropy, with padding ignored and label smoothing', () => {
  // Two target positions, vocab 3; the second target is padding.
  const logits = tf.tensor3d([[[1, 2, 3], [5, 0, 0]]]);
  const targets = tf.tensor2d([[2, 0]], [1, 2], 'int32');
  const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
  const logp = [1 - lse, 2 - lse, 3 - lse];
  const plain = sequenceLoss(logits, targets);
  expect(plain.dataSync()[0]).toBeCloseTo(-logp[2]!, 5);
  const eps = 0.3;
  const smooth = sequenceLoss(logits, targets, { labelSmoothing: eps });
  const want = -((1 - eps + eps / 3) * logp[2]! + (eps / 3) * (logp[0]! + logp[1]!));
  expect(smooth.dataSync()[0]).toBeCloseTo(want, 5);
  tf.dispose([logits, targets, plain, smooth]);
});

it('model weights are reproducible from a seed', () => {
  const a = createTransformer(CONFIG, { seed: 7 });
  const b = createTransformer(CONFIG, { seed: 7 });
  const c = createTransformer(CONFIG, { seed: 8 });
  const values = (m: typeof a) => m.getWeights().map((t) => Array.from(t.dataSync()));
  expect(values(a)).toEqual(values(b));
  expect(values(a)).not.toEqual(values(c));
  for (const m of [a, b, c]) m.dispose();
});
