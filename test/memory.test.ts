import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createModel, setBackend, type Example, type Model, type ModelConfigInput, type Objective } from '../src/index.js';
import { BATCHERS, disposeBatch, paddedTokens, splitByTokens } from '../src/data/batching.js';
import { Adam } from '../src/train/adam.js';
import { DataParallel } from '../src/train/parallel.js';
import { ParamLayout } from '../src/train/params.js';
import { shareGradient, trainableVariables, trainStep } from '../src/train/step.js';
import { evaluate } from '../src/train/evaluate.js';
import { ADAM, DeviceStepper, FlatAdamStepper, lossValue, type StepInput } from '../src/train/stepper.js';
import { seedDropout } from '../src/ops/dropout.js';
import { projectedCrossEntropy } from '../src/ops/projected-cross-entropy.js';
import { maskedCrossEntropy } from '../src/model/loss.js';
import { randomTensor, rng } from './helpers.js';

const ids = { pad: 0, bos: 1, eos: 2 };
const MASK = 3;
const block = { dModel: 16, numHeads: 2, dFF: 24, maxLen: 24, dropout: 0 };

/** Examples of each objective with lengths from 1 to 10 ordinary tokens (ids 4…11). */
function examples(objective: Objective, n: number, seed: number): Example[] {
  const random = rng(seed);
  const token = () => 4 + Math.floor(random() * 8);
  return Array.from({ length: n }, () => {
    const seq = Array.from({ length: 1 + Math.floor(random() * 10) }, token);
    switch (objective) {
      case 'seq2seq':
        return { src: [...seq, ids.eos], tgt: [...seq].reverse() };
      case 'lm':
        return { src: seq.slice(0, 2), tgt: [...seq].reverse() };
      case 'masked-lm': {
        const src = [ids.bos, ...seq, ids.eos];
        const tgt = src.map(() => ids.pad);
        for (let i = 1; i <= seq.length; i++) {
          if (random() < 0.35 || i === 1) {
            tgt[i] = src[i]!;
            src[i] = MASK;
          }
        }
        return { src, tgt };
      }
      case 'classify':
        return { src: [ids.bos, ...seq, ids.eos], tgt: [seq.length % 3] };
    }
  });
}

const FAMILIES: [Objective, ModelConfigInput][] = [
  ['seq2seq', { ...block, srcVocabSize: 12, tgtVocabSize: 12, numEncoderLayers: 1, numDecoderLayers: 1 }],
  ['seq2seq', { ...block, srcVocabSize: 12, tgtVocabSize: 12, numEncoderLayers: 1, numDecoderLayers: 1, tieEmbeddings: true }],
  ['lm', { ...block, arch: 'decoder', vocabSize: 12, numLayers: 1 }],
  ['masked-lm', { ...block, arch: 'encoder', vocabSize: 12, numLayers: 1, numClasses: 3 }],
  ['classify', { ...block, arch: 'encoder', vocabSize: 12, numLayers: 1, numClasses: 3 }],
];

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
const weightsOf = (model: Model) => model.trainableWeights.flatMap((w) => Array.from(w.read().dataSync()));
/**
 * The weights other than the key biases: a key bias adds the same q·bk to every score of a query,
 * which softmax ignores, so its gradient is rounding noise that Adam scales up to steps of ±lr.
 */
const weightsBesidesKeyBias = (model: Model) => model.namedWeights().filter(([path]) => !path.endsWith('/bk')).flatMap(([, w]) => Array.from(w.read().dataSync()));
/** Examples whose `src` has the given lengths (for the hand cases, which measure rows by src). */
const ofLengths = (lengths: number[]) => lengths.map((n, i) => ({ src: Array.from({ length: n }, () => 4), tgt: [i] }));
const bySrc = (p: Example) => p.src.length;

describe('splitByTokens', () => {
  it('leaves a batch within the budget whole, in its order', () => {
    const items = ofLengths([3, 9, 5]);
    expect(splitByTokens(items, 27, bySrc)).toEqual([items]);
    expect(splitByTokens(items, Infinity, bySrc)).toEqual([items]);
    expect(splitByTokens(items, 0, bySrc)).toEqual([items]);
  });

  it('cuts longest first, filling each piece while rows × its longest stays within the budget', () => {
    // Sorted 9 7 5 3 2: [9] (9, 2×9 = 18 > 16), [7 5] (2×7 = 14; 3×7 = 21 > 16), [3 2] (2×3 = 6).
    const pieces = splitByTokens(ofLengths([3, 9, 5, 2, 7]), 16, bySrc);
    expect(pieces.map((p) => p.map(bySrc))).toEqual([[9], [7, 5], [3, 2]]);
    // Sorted 8 8 8 1 1, budget 20: [8 8] (3×8 = 24 > 20), [8 1] (2×8 = 16; 3×8 > 20), [1].
    expect(splitByTokens(ofLengths([1, 8, 8, 1, 8]), 20, bySrc).map((p) => p.map(bySrc))).toEqual([[8, 8], [8, 1], [1]]);
  });

  it('puts an example longer than the budget alone, and every example in exactly one piece', () => {
    expect(splitByTokens(ofLengths([1, 20, 2]), 10, bySrc).map((p) => p.map(bySrc))).toEqual([[20], [2, 1]]);
    const items = ofLengths(Array.from({ length: 50 }, (_, i) => 1 + ((i * 7) % 13)));
    const pieces = splitByTokens(items, 30, bySrc);
    expect(pieces.flat().map((p) => p.tgt[0]).sort((a, b) => a! - b!)).toEqual(items.map((_, i) => i));
    for (const piece of pieces) expect(piece.length === 1 || paddedTokens(piece, bySrc) <= 30).toBe(true);
  });

  it('measures a row as each objective pads it', () => {
    const p = { src: [4, 5, 6], tgt: [7, 8, 9, 10, 11] };
    expect(BATCHERS.seq2seq.length(p)).toBe(6); // tgtIn = [bos, …tgt]
    expect(BATCHERS.seq2seq.length({ src: [4, 5, 6, 7, 8, 9, 10, 2], tgt: [4] })).toBe(8);
    expect(BATCHERS.lm.length(p)).toBe(9); // [bos, …src, …tgt] (eos only as a target)
    expect(BATCHERS['masked-lm'].length(p)).toBe(3);
    expect(BATCHERS.classify.length(p)).toBe(3);
    // The lengths match the batches the objectives make.
    for (const objective of ['seq2seq', 'lm', 'masked-lm', 'classify'] as const) {
      const items = examples(objective, 5, 3);
      const batch = BATCHERS[objective].make(items, ids);
      const first = Object.values(batch).find((v): v is tf.Tensor => v instanceof tf.Tensor)!;
      expect(first.shape[1], objective).toBe(Math.max(...items.map(BATCHERS[objective].length)));
      disposeBatch(batch);
    }
  });
});

describe('a batch cut into pieces', () => {
  for (const [objective, config] of FAMILIES) {
    const name = `${objective}${'tieEmbeddings' in config ? ', tied' : ''}`;
    it(`has the whole batch's loss and gradient (1e-5), and leaves no tensor behind [${name}]`, async () => {
      await setBackend('wasm');
      const model = createModel(config, { seed: 3 });
      const layout = ParamLayout.of(trainableVariables(model));
      const [whole, split] = [new Float32Array(layout.size), new Float32Array(layout.size)];
      const items = examples(objective, 16, 11);
      const budget = 24;
      expect(splitByTokens(items, budget, BATCHERS[objective].length).length).toBeGreaterThan(3);
      try {
        const wholeLoss = shareGradient(model, objective, items, ids, 0.1, 7, layout, whole);
        const before = tf.memory().numTensors;
        const splitLoss = shareGradient(model, objective, items, ids, 0.1, 7, layout, split, budget);
        expect(tf.memory().numTensors).toBe(before);
        expect(Math.abs(splitLoss - wholeLoss)).toBeLessThan(1e-5);
        expect(maxDiff(split, whole)).toBeLessThan(1e-5);
        expect(maxDiff(whole, new Float32Array(layout.size))).toBeGreaterThan(1e-3); // not vacuous
      } finally {
        model.dispose();
      }
    });
  }

  it('summed in the optimizer memory (SIMD) gives the bits of the plain-array sum, and nothing is left behind', async () => {
    await setBackend('wasm');
    const [objective, config] = FAMILIES[0]!;
    const model = createModel(config, { seed: 5 });
    const layout = ParamLayout.of(trainableVariables(model));
    const adam = new Adam(layout, { learningRate: 1e-3, ...ADAM }, 1);
    const plain = new Float32Array(layout.size);
    const items = examples(objective, 16, 12);
    try {
      expect(splitByTokens(items, 24, BATCHERS[objective].length).length).toBeGreaterThan(3);
      const plainLoss = shareGradient(model, objective, items, ids, 0.1, 7, layout, plain, 24);
      const before = tf.memory().numTensors;
      const loss = shareGradient(model, objective, items, ids, 0.1, 7, layout, adam.threadGradient, 24);
      expect(tf.memory().numTensors).toBe(before);
      expect(loss).toBe(plainLoss);
      expect(Array.from(adam.grad)).toEqual(Array.from(plain));
      expect(plain.some((x) => x !== 0)).toBe(true); // not vacuous
    } finally {
      model.dispose();
    }
  });

  it('a batch within the budget steps exactly as before (flat Adam: same loss and weights, bit for bit, with dropout)', async () => {
    await setBackend('wasm');
    const config = { ...FAMILIES[0]![1], dropout: 0.2 } as ModelConfigInput;
    const [a, b] = [createModel(config, { seed: 4 }), createModel(config, { seed: 4 })];
    const stepper = new FlatAdamStepper(a, 1e-2);
    const adam = new Adam(ParamLayout.of(trainableVariables(b)), { learningRate: 1e-2, ...ADAM }, 1);
    try {
      for (let s = 0; s < 3; s++) {
        const items = examples('seq2seq', 12, 20 + s); // at most 12 × 11 padded tokens: within 768
        const input: StepInput = { objective: 'seq2seq', items, ids, lr: 1e-2, labelSmoothing: 0.1, clipNorm: 1, dropoutSeed: 99 + s };
        const before = tf.memory().numTensors;
        const got = await stepper.step(input);
        expect(tf.memory().numTensors).toBe(before);
        // The path a step took before batches could be cut: one batch, its seed, trainStep.
        const batch = BATCHERS.seq2seq.make(items, ids);
        seedDropout(99 + s);
        const want = await trainStep(b, adam, batch, { labelSmoothing: 0.1, clipNorm: 1 });
        seedDropout(undefined);
        disposeBatch(batch);
        expect(got.loss).toBe(want.loss);
        expect(got.gradNorm).toBe(want.gradNorm);
        expect(maxDiff(weightsOf(a), weightsOf(b))).toBe(0);
      }
    } finally {
      await stepper.dispose();
      adam.dispose();
      a.dispose();
      b.dispose();
    }
  });

  it('tf.train.adam: a cut batch has the whole batch loss, the same update, and leaves no tensor behind', async () => {
    await setBackend('wasm');
    const config = FAMILIES[2]![1];
    const [a, b] = [createModel(config, { seed: 6 }), createModel(config, { seed: 6 })];
    const [whole, split] = [new DeviceStepper(a, 1e-2, Infinity), new DeviceStepper(b, 1e-2, 24)];
    try {
      for (let s = 0; s < 3; s++) {
        const input: StepInput = { objective: 'lm', items: examples('lm', 12, 30 + s), ids, lr: 1e-2, labelSmoothing: 0.1, clipNorm: 0.5, dropoutSeed: 5 };
        expect(splitByTokens(input.items, 24, BATCHERS.lm.length).length).toBeGreaterThan(3);
        const wholeLoss = await lossValue(await whole.step(input));
        const before = tf.memory().numTensors;
        const splitLoss = await lossValue(await split.step(input));
        // tf.train.adam makes its moments at its first step; after that nothing stays.
        if (s > 0) expect(tf.memory().numTensors).toBe(before);
        expect(Math.abs(splitLoss - wholeLoss)).toBeLessThan(1e-5);
        expect(maxDiff(weightsBesidesKeyBias(a), weightsBesidesKeyBias(b))).toBeLessThan(1e-5);
      }
    } finally {
      await whole.dispose();
      await split.dispose();
      a.dispose();
      b.dispose();
    }
  });

  it('data-parallel: each thread cuts its share, and the combined gradient is the whole batch gradient', async () => {
    await setBackend('wasm');
    const config = FAMILIES[0]![1];
    const [single, model] = [createModel(config, { seed: 8 }), createModel(config, { seed: 8 })];
    const layout = ParamLayout.of(trainableVariables(single));
    const whole = new Float32Array(layout.size);
    const optimizer = new Adam(ParamLayout.of(trainableVariables(model)), { learningRate: 1e-2, ...ADAM }, 2);
    const parallel = await DataParallel.start(model, optimizer, 'wasm', 24);
    try {
      const items = examples('seq2seq', 20, 12);
      const wholeLoss = shareGradient(single, 'seq2seq', items, ids, 0.1, undefined, layout, whole);
      const loss = await parallel.gradients('seq2seq', items, ids, 0.1);
      expect(Math.abs(loss - wholeLoss)).toBeLessThan(1e-5);
      expect(maxDiff(parallel.combinedGradient(), whole)).toBeLessThan(1e-5);
    } finally {
      await parallel.dispose();
      optimizer.dispose();
      single.dispose();
      model.dispose();
    }
  }, 60_000);
});

describe('projectedCrossEntropy', () => {
  for (const transposed of [false, true]) {
    for (const labelSmoothing of [0, 0.1]) {
      it(`has maskedCrossEntropy's loss and gradients (1e-5), chunk by chunk, and leaves no tensor behind [${transposed ? 'tied kernel (V, d)' : 'kernel (d, V)'}, ε ${labelSmoothing}]`, async () => {
        await setBackend('wasm');
        const random = rng(transposed ? 21 : 22);
        const [b, t, d, v] = [3, 5, 6, 13];
        const hidden = randomTensor([b, t, d], random);
        const kernel = tf.mul(randomTensor(transposed ? [v, d] : [d, v], random), 2);
        const bias = randomTensor([v], random);
        // Ids 1…12 with padding (0) at the end of some rows; padded rows are not scored.
        const idData = Array.from({ length: b * t }, (_, i) => (i % t >= t - (i % 3) ? 0 : 1 + Math.floor(random() * (v - 1))));
        const targets = tf.tensor2d(idData, [b, t], 'int32');
        const mask = tf.tensor2d(idData.map((x) => (x === 0 ? 0 : 1)), [b, t]);
        const reference = (h: tf.Tensor, w: tf.Tensor, c: tf.Tensor) => maskedCrossEntropy(tf.add(tf.matMul(h, w, false, transposed), c), targets, mask, labelSmoothing);
        const want = tf.valueAndGrads(reference)([hidden, kernel, bias]);
        try {
          for (const [chunkRows, eagerGradients] of [[4, false], [4, true], [256, false], [256, true]] as const) {
            const before = tf.memory().numTensors;
            const options = { labelSmoothing, transposed, chunkRows, eagerGradients };
            // Scaled by 3 after the op: backprop's dy is not 1.
            const got = tf.valueAndGrads((h: tf.Tensor, w: tf.Tensor, c: tf.Tensor) => tf.mul(projectedCrossEntropy(h, w, c, targets, mask, options), 3) as tf.Scalar)([hidden, kernel, bias]);
            const what = `${chunkRows} rows${eagerGradients ? ', eager' : ''}`;
            expect(Math.abs(got.value.dataSync()[0]! - 3 * want.value.dataSync()[0]!), `loss, ${what}`).toBeLessThan(3e-5);
            got.grads.forEach((g, i) => {
              expect(g.shape).toEqual(want.grads[i]!.shape);
              expect(maxDiff(g.dataSync(), want.grads[i]!.dataSync().map((x) => 3 * x)), `gradient ${i}, ${what}`).toBeLessThan(3e-5);
            });
            tf.dispose([got.value, ...got.grads]);
            expect(tf.memory().numTensors).toBe(before);
            // Without a tape (evaluation) nothing is kept either.
            tf.dispose(projectedCrossEntropy(hidden, kernel, bias, targets, mask, options));
            expect(tf.memory().numTensors).toBe(before);
          }
          expect(maxDiff(want.grads[0]!.dataSync(), new Float32Array(b * t * d))).toBeGreaterThan(1e-3); // not vacuous
        } finally {
          tf.dispose([hidden, kernel, bias, targets, mask, want.value, ...want.grads]);
        }
      });
    }
  }
});

describe('evaluate by token budget', () => {
  for (const [objective, config] of [FAMILIES[0]!, FAMILIES[2]!, FAMILIES[3]!, FAMILIES[4]!]) {
    it(`gives the same metrics with its batches cut into pieces, and leaves no tensor behind [${objective}]`, async () => {
      await setBackend('wasm');
      const model = createModel(config, { seed: 13 });
      const items = examples(objective, 30, 17);
      try {
        const whole = await evaluate(model, items, { objective, ids, batchSize: 16, maxTokens: Infinity });
        const before = tf.memory().numTensors;
        const cut = await evaluate(model, items, { objective, ids, batchSize: 16, maxTokens: 20 });
        expect(tf.memory().numTensors).toBe(before);
        expect(Math.abs(cut.loss - whole.loss)).toBeLessThan(1e-6);
        expect(cut.tokenAccuracy).toBe(whole.tokenAccuracy);
        expect(cut.exactMatch).toBe(whole.exactMatch);
        expect(cut.n).toBe(30);
      } finally {
        model.dispose();
      }
    });
  }
});

describe('a model loss', () => {
  for (const [objective, config] of FAMILIES) {
    const name = `${objective}${'tieEmbeddings' in config ? ', tied' : ''}`;
    it(`is maskedCrossEntropy of its scores, with the same gradients (1e-5), whichever way the family computes it [${name}]`, async () => {
      await setBackend('wasm');
      const model = createModel(config, { seed: 19 });
      const batch = BATCHERS[objective].make(examples(objective, 9, 23), ids);
      const vars = trainableVariables(model);
      try {
        const before = tf.memory().numTensors;
        const got = tf.variableGrads(() => model.loss(batch, { training: true, labelSmoothing: 0.1 }), vars);
        const want = tf.variableGrads(() => tf.tidy(() => {
          const { logits, targets, mask } = model.score(batch, { training: true });
          return maskedCrossEntropy(logits, targets, mask, 0.1);
        }), vars);
        expect(Math.abs(got.value.dataSync()[0]! - want.value.dataSync()[0]!)).toBeLessThan(1e-5);
        for (const v of vars) {
          if (want.grads[v.name] === undefined) continue; // a weight this objective does not reach
          expect(maxDiff(got.grads[v.name]!.dataSync(), want.grads[v.name]!.dataSync()), v.name).toBeLessThan(1e-5);
        }
        tf.dispose([got.value, want.value, ...Object.values(got.grads), ...Object.values(want.grads)]);
        expect(tf.memory().numTensors).toBe(before);
      } finally {
        disposeBatch(batch);
        model.dispose();
      }
    });
  }
});
