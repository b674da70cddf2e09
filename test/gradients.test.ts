import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { disposeBatch } from '../src/data/batching.js';
import { MultiHeadAttention, paddingMask, type Batch, type Model } from '../src/index.js';
import { describeEachBackend, expectNoLeak, randomArray, rng } from './helpers.js';
import {
  analyticGradients,
  tinyClassificationBatch,
  tinyDecoder,
  tinyEncoder,
  tinyLanguageModelBatch,
  tinyLoss,
  tinyMaskedBatch,
  tinyModel,
} from './model-fixtures.js';

const EPS = 1e-2;

/** Central difference of f at entry `index` of variable `v`. */
function centralDifference(v: tf.LayerVariable, index: number, f: () => number): number {
  const original = v.read().dataSync().slice();
  const at = (delta: number) => {
    const values = original.slice();
    values[index]! += delta;
    const t = tf.tensor(values, v.shape as number[]);
    v.write(t);
    t.dispose();
    return f();
  };
  const plus = at(EPS);
  const minus = at(-EPS);
  const restore = tf.tensor(original, v.shape as number[]);
  v.write(restore);
  restore.dispose();
  return (plus - minus) / (2 * EPS);
}

function scalar(f: () => tf.Scalar): number {
  const t = f();
  const value = t.dataSync()[0]!;
  t.dispose();
  return value;
}

/** Compare analytic and numeric gradients on a few entries of every weight. */
function checkModelGradients(model: Pick<Model, 'namedWeights'>, f: () => tf.Scalar, entriesPerWeight: number, seed: number): number {
  const analytic = analyticGradients(model, f);
  const random = rng(seed);
  let checked = 0;
  for (const [path, v] of model.namedWeights()) {
    const size = (v.shape as number[]).reduce((a, b) => a * b, 1);
    for (let n = 0; n < Math.min(entriesPerWeight, size); n++) {
      const index = Math.floor(random() * size);
      const numeric = centralDifference(v, index, () => scalar(f));
      const exact = analytic.get(path)![index]!;
      expect(Math.abs(numeric - exact), `${path}[${index}]: numeric ${numeric} vs analytic ${exact}`).toBeLessThan(1e-4 + 1e-2 * Math.abs(exact));
      checked++;
    }
  }
  return checked;
}

describeEachBackend('gradients agree with central finite differences', () => {
  it('for a tiny MultiHeadAttention (weights and input, causal + padding masks)', () => {
    const layer = new MultiHeadAttention({ name: 'mha', numHeads: 2, keyDim: 3 });
    const random = rng(11);
    const x = tf.tensor(randomArray([2, 4, 6], random) as number[], [2, 4, 6]);
    const memory = tf.tensor(randomArray([2, 5, 6], random) as number[], [2, 5, 6]);
    const ids = tf.tensor2d([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], [2, 5], 'int32');
    const mask = paddingMask(ids, 0);
    const probe = tf.tensor(randomArray([2, 4, 6], random) as number[], [2, 4, 6]);
    layer.build([x.shape, memory.shape]);
    for (const [, v] of layer.namedWeights()) {
      const t = tf.tensor(randomArray(v.shape as number[], random) as number[], v.shape as number[]);
      v.write(t);
      t.dispose();
    }
    // f = Σ probe ⊙ (self-attention(x) + cross-attention(x, memory))
    const f = () =>
      tf.tidy(() => {
        const self = layer.forward(x, x, x, { useCausalMask: true }).output;
        const cross = layer.forward(x, memory, memory, { attentionMask: mask }).output;
        return tf.sum(tf.mul(tf.add(self, cross), probe)) as tf.Scalar;
      });
    const vars = layer.namedWeights().map(([, v]) => v.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(f, vars);
    value.dispose();
    for (const [path, v] of layer.namedWeights()) {
      const exact = grads[(v.read() as tf.Variable).name]!.dataSync();
      const size = exact.length;
      for (const index of [0, Math.floor(size / 2), size - 1]) {
        const numeric = centralDifference(v, index, () => scalar(f));
        expect(Math.abs(numeric - exact[index]!), `${path}[${index}]`).toBeLessThan(1e-4 + 1e-2 * Math.abs(exact[index]!));
      }
    }
    // And with respect to the query input.
    const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(layer.forward(input, memory, memory, { attentionMask: mask }).output, probe)))(x);
    const base = x.dataSync().slice();
    for (const index of [0, 7, 20, 47]) {
      const at = (delta: number) => {
        const values = base.slice();
        values[index]! += delta;
        return tf.tidy(() => tf.sum(tf.mul(layer.forward(tf.tensor(values, x.shape), memory, memory, { attentionMask: mask }).output, probe)).dataSync()[0]!);
      };
      const numeric = (at(EPS) - at(-EPS)) / (2 * EPS);
      expect(Math.abs(numeric - dx.dataSync()[index]!)).toBeLessThan(1e-4 + 1e-2 * Math.abs(dx.dataSync()[index]!));
    }
    tf.dispose([x, memory, ids, mask, probe, dx, ...Object.values(grads)]);
    layer.dispose();
  });

  it('for the full model loss (pre-norm, ReLU→GELU for smoothness, separate output projection)', () => {
    const model = tinyModel({ activation: 'gelu' });
    const checked = checkModelGradients(model, () => tinyLoss(model), 3, 5);
    expect(checked).toBeGreaterThan(60);
    model.dispose();
  });

  it('for the full model loss (post-norm, tied embeddings, learned positions)', () => {
    const model = tinyModel({ activation: 'gelu', normPlacement: 'post', tieEmbeddings: true, positionalEncoding: 'learned' }, 9);
    expect(model.namedWeights().some(([p]) => p === 'output_kernel')).toBe(false);
    checkModelGradients(model, () => tinyLoss(model), 3, 6);
    model.dispose();
  });

  it('for the decoder-only LM loss (prompt not scored, padding; pre-norm, separate output projection)', () => {
    const model = tinyDecoder({ activation: 'gelu' });
    const batch = tinyLanguageModelBatch();
    const f = () => model.loss(batch, { labelSmoothing: 0.1 });
    expectNoLeak(() => tf.dispose(f()));
    expectNoLeak(() => void analyticGradients(model, f));
    const checked = checkModelGradients(model, f, 3, 7);
    expect(checked).toBeGreaterThan(40);
    disposeBatch(batch);
    model.dispose();
  });

  it('for the decoder-only LM loss (post-norm, tied embeddings, learned positions)', () => {
    const model = tinyDecoder({ activation: 'gelu', normPlacement: 'post', tieEmbeddings: true, positionalEncoding: 'learned' }, 8);
    expect(model.namedWeights().some(([p]) => p === 'output_kernel')).toBe(false);
    const batch = tinyLanguageModelBatch();
    checkModelGradients(model, () => model.loss(batch, { labelSmoothing: 0.1 }), 3, 8);
    disposeBatch(batch);
    model.dispose();
  });

  /** Masked-LM loss plus classification loss, so every weight (both heads) gets a gradient. */
  const encoderLoss = (model: Model, batches: Batch[]) => () => tf.tidy(() => tf.addN(batches.map((b) => model.loss(b, { labelSmoothing: 0.1 }))) as tf.Scalar);

  it('for the encoder-only masked-LM + [CLS] classification losses (pre-norm, separate output projection)', () => {
    const model = tinyEncoder({ activation: 'gelu' });
    const batches = [tinyMaskedBatch(), tinyClassificationBatch()];
    const f = encoderLoss(model, batches);
    expectNoLeak(() => tf.dispose(f()));
    expectNoLeak(() => void analyticGradients(model, f));
    // Each head's weights get a gradient from their own loss only.
    const mlmOnly = analyticGradients(model, () => model.loss(batches[0]!));
    expect(mlmOnly.get('classifier_kernel')!.every((g) => g === 0)).toBe(true);
    expect(mlmOnly.get('output_kernel')!.some((g) => g !== 0)).toBe(true);
    const checked = checkModelGradients(model, f, 3, 9);
    expect(checked).toBeGreaterThan(40);
    batches.forEach(disposeBatch);
    model.dispose();
  });

  it('for the encoder-only losses (post-norm, tied embeddings, learned positions)', () => {
    const model = tinyEncoder({ activation: 'gelu', normPlacement: 'post', tieEmbeddings: true, positionalEncoding: 'learned' }, 10);
    const batches = [tinyMaskedBatch(), tinyClassificationBatch()];
    checkModelGradients(model, encoderLoss(model, batches), 3, 10);
    batches.forEach(disposeBatch);
    model.dispose();
  });
});
