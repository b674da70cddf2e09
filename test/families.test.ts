import * as tf from '@tensorflow/tfjs';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BATCHERS, disposeBatch } from '../src/data/batching.js';
import {
  buildModel,
  createModel,
  evaluate,
  loadModel,
  loadModelDir,
  loadModelFiles,
  ModelFormatError,
  planModel,
  resumeRun,
  saveModelFiles,
  ShapeError,
  Tokenizer,
  UsageError,
  type Batch,
  type Example,
  type Model,
  type Objective,
  type ModelConfigInput,
} from '../src/index.js';
import { FORMAT_VERSION, writeRunConfig, writeTokenizers } from '../src/io/model-dir.js';
import { expectNoLeak } from './helpers.js';
import { randomizeWeights, tinyClassificationBatch, tinyLanguageModelBatch, tinyMaskedBatch } from './model-fixtures.js';

const SHIPPED = new URL('../models/pt-en', import.meta.url).pathname;
/** A run folder written by atencao before the three families existed (reverse task, 4 of 6 steps, its optimizer state). */
const OLD_RUN = new URL('./fixtures/old-reverse-run', import.meta.url).pathname;

const seq2seqBatch = (): Batch => ({
  kind: 'seq2seq',
  src: tf.tensor2d([[3, 4, 5, 6, 2], [7, 8, 2, 0, 0]], undefined, 'int32'),
  tgtIn: tf.tensor2d([[1, 6, 5, 4, 3], [1, 8, 7, 0, 0]], undefined, 'int32'),
  tgtOut: tf.tensor2d([[6, 5, 4, 3, 2], [8, 7, 2, 0, 0]], undefined, 'int32'),
});

const small = { dModel: 8, numHeads: 2, dFF: 12, maxLen: 8, dropout: 0.1 };
const variants = [{}, { tieEmbeddings: true, positionalEncoding: 'learned' as const }, { normPlacement: 'post' as const, activation: 'gelu' as const }];

/** Each family, a config, and the batches its score() reads. */
const FAMILIES: [string, ModelConfigInput, () => Batch[]][] = [
  ['encoder-decoder', { ...small, srcVocabSize: 9, tgtVocabSize: 10, numEncoderLayers: 1, numDecoderLayers: 2 }, () => [seq2seqBatch()]],
  ['decoder', { ...small, arch: 'decoder', vocabSize: 9, numLayers: 2 }, () => [tinyLanguageModelBatch()]],
  ['encoder', { ...small, arch: 'encoder', vocabSize: 9, numLayers: 2, numClasses: 3 }, () => [tinyMaskedBatch(), tinyClassificationBatch()]],
];

/** The logits of every batch (inference: dropout off), as plain numbers. */
function logitsOf(model: Model, batches: Batch[]): number[][] {
  return batches.map((b) => tf.tidy(() => Array.from(model.score(b).logits.dataSync())));
}

describe('save → load round trip', () => {
  for (const [family, config, batches] of FAMILIES) {
    it(`${family}: saved model.json + weights.bin load back with identical logits, through loadModelFiles and planModel + buildModel`, async () => {
      for (const variant of variants) {
        const dir = mkdtempSync(join(tmpdir(), `atencao-${family}-`));
        const model = createModel({ ...config, ...variant } as ModelConfigInput, { seed: 2 });
        randomizeWeights(model, 11);
        const inputs = batches();
        const expected = logitsOf(model, inputs);
        await saveModelFiles(dir, model);

        const loaded = loadModelFiles(dir);
        expect(loaded.arch).toBe(model.arch);
        expect(loaded.config).toEqual(model.config);
        expect(loaded.constructor).toBe(model.constructor);
        expect(loaded.namedWeights().map(([p]) => p)).toEqual(model.namedWeights().map(([p]) => p));
        expect(logitsOf(loaded, inputs), JSON.stringify(variant)).toEqual(expected);

        // The browser's path: model.json parsed and checked, then the bytes.
        const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
        const bytes = readFileSync(join(dir, 'weights.bin'));
        const plan = planModel(json, 'model.json');
        expect(plan.config).toEqual(model.config);
        const built = buildModel(plan, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, 'weights.bin');
        expect(logitsOf(built, inputs)).toEqual(expected);

        expectNoLeak(() => loadModelFiles(dir).dispose());
        inputs.forEach(disposeBatch);
        for (const m of [model, loaded, built]) m.dispose();
      }
    });

    it(`${family}: the saved files also load as a plain TF.js layers model (weights matched by name)`, async () => {
      const dir = mkdtempSync(join(tmpdir(), `atencao-${family}-`));
      const model = createModel(config, { seed: 4 });
      randomizeWeights(model, 12);
      await saveModelFiles(dir, model);
      const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
      expect(json.modelTopology.config.layers.map((l: { class_name: string }) => l.class_name).at(-1)).toBe({ 'encoder-decoder': 'Transformer', decoder: 'DecoderOnly', encoder: 'EncoderOnly' }[model.arch]);
      const weights = readFileSync(join(dir, 'weights.bin'));
      const layersModel = await tf.loadLayersModel({
        load: async () => ({
          modelTopology: json.modelTopology,
          weightSpecs: json.weightsManifest[0].weights,
          weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
        }),
      });
      const inputs = batches();
      const first = inputs[0]!;
      // The topology's output is the token logits: the decoder's for seq2seq, the LM/MLM head's otherwise.
      const feed = first.kind === 'seq2seq' ? [first.src, first.tgtIn] : (first as { ids: tf.Tensor }).ids;
      const got = tf.tidy(() => Array.from((layersModel.predict(feed) as tf.Tensor).dataSync()));
      expect(got).toEqual(logitsOf(model, [first])[0]);
      layersModel.dispose();
      inputs.forEach(disposeBatch);
      model.dispose();
    });
  }

  it("a model refuses another family's batch with one line naming what it trains on", async () => {
    const [decoder, encoder, translator] = [createModel(FAMILIES[1]![1]), createModel({ ...small, arch: 'encoder', vocabSize: 9 }), createModel(FAMILIES[0]![1])];
    const [mlm, lm, cls] = [tinyMaskedBatch(), tinyLanguageModelBatch(), tinyClassificationBatch()];
    const before = tf.memory().numTensors;
    expect(() => decoder.loss(mlm)).toThrow(new ShapeError("a decoder model trains on lm batches, not 'masked-lm'"));
    expect(() => translator.score(lm)).toThrow(new ShapeError("an encoder-decoder model trains on seq2seq batches, not 'lm'"));
    // An encoder without classes has no classifier head.
    expect(() => encoder.loss(cls)).toThrow(new ShapeError("an encoder model trains on masked-lm batches, not 'classify'"));
    expect(tf.memory().numTensors).toBe(before);
    [mlm, lm, cls].forEach(disposeBatch);
    for (const m of [decoder, encoder, translator]) m.dispose();
  });
});

describe('evaluate, per objective', () => {
  const ids = { pad: 0, bos: 1, eos: 2 };

  /** Loss, token accuracy and count over the scored targets, by plain loops over the model's logits. */
  function byHand(model: Model, objective: Objective, items: Example[]): { loss: number; accuracy: number; count: number } {
    const batch = BATCHERS[objective].make(items, ids);
    const { logits, targets, mask } = tf.tidy(() => {
      const s = model.score(batch);
      const v = s.logits.shape.at(-1)!;
      return { logits: s.logits.reshape([-1, v]).arraySync() as number[][], targets: Array.from(s.targets.dataSync()), mask: Array.from(s.mask.dataSync()) };
    });
    disposeBatch(batch);
    let loss = 0;
    let right = 0;
    let count = 0;
    logits.forEach((row, i) => {
      if (mask[i] !== 1) return;
      const max = Math.max(...row);
      const logSum = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
      loss += logSum - row[targets[i]!]!;
      if (row.indexOf(max) === targets[i]) right++;
      count++;
    });
    return { loss: loss / count, accuracy: right / count, count };
  }

  const cases: [Objective, ModelConfigInput, Example[], 'defined' | 'undefined' | 'accuracy'][] = [
    ['seq2seq', FAMILIES[0]![1], [{ src: [3, 4, 2], tgt: [4, 3] }, { src: [5, 6, 7, 2], tgt: [7, 6, 5] }, { src: [8, 2], tgt: [8] }], 'defined'],
    // Continuations of a prompt are decoded and compared; plain text (no prompt) has nothing to compare.
    ['lm', FAMILIES[1]![1], [{ src: [3, 4], tgt: [4, 3] }, { src: [5, 6, 7], tgt: [7] }], 'defined'],
    ['lm', FAMILIES[1]![1], [{ src: [], tgt: [3, 4, 5] }, { src: [], tgt: [6, 7] }], 'undefined'],
    ['masked-lm', FAMILIES[2]![1], [{ src: [1, 8, 4, 5, 2], tgt: [0, 3, 0, 0, 0] }, { src: [1, 6, 8, 8, 2], tgt: [0, 0, 7, 5, 0] }], 'undefined'],
    ['classify', FAMILIES[2]![1], [{ src: [1, 4, 5, 2], tgt: [2] }, { src: [1, 6, 2], tgt: [0] }, { src: [1, 7, 7, 7, 2], tgt: [1] }], 'accuracy'],
  ];

  for (const [objective, config, items, exact] of cases) {
    it(`${objective}${items[0]!.src.length === 0 ? ' (no prompt)' : ''}: loss and accuracy over the scored targets; exact match ${exact}`, async () => {
      const model = createModel(config, { seed: 8 });
      randomizeWeights(model, 21);
      const want = byHand(model, objective, items);
      const before = tf.memory().numTensors;
      const got = await evaluate(model, items, { objective, ids, batchSize: 2 });
      expect(tf.memory().numTensors).toBe(before);
      expect(got.n).toBe(items.length);
      expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-5);
      expect(got.tokenAccuracy).toBeCloseTo(want.accuracy, 10);
      expect(want.count).toBe(BATCHERS[objective].targets(items, ids));
      if (exact === 'undefined') expect(got.exactMatch).toBeUndefined();
      else if (exact === 'accuracy') expect(got.exactMatch).toBe(got.tokenAccuracy);
      else expect(got.exactMatch).toBeGreaterThanOrEqual(0);
      model.dispose();
    });
  }
});

describe('folders saved before the three families existed', () => {
  // Recorded with the code of that time on the same folder (wasm backend).
  const SEEDS = [
    {
      source: 'Ela derramou água da jarra para o copo até que ficasse cheio.',
      output: 'She poured water from the jug into the glass until the glass was full.',
      scores: [-0.0808357, -0.0680046, -0.061924, -0.0800148, -0.085442, -0.049856, -0.0717891, -0.0863728, -0.0524452, -0.0774397, -0.0838572, -0.0571773, -0.0728051, -0.070241, -0.0869022, -0.0880025],
      beamScore: -0.5532196,
    },
    {
      source: 'Ela derramou água da jarra para o copo até que ficasse vazia.',
      output: 'She poured water from the jug into the glass until the jug was empty.',
      scores: [-0.0827786, -0.069275, -0.061452, -0.0810886, -0.0839114, -0.0484173, -0.0710029, -0.0851473, -0.0483867, -0.0778734, -0.0830316, -0.0469179, -0.0695399, -0.0635278, -0.0848995, -0.0879381],
      beamScore: -0.5400524,
    },
  ];

  it('the shipped models/pt-en (no arch in its config) loads as an encoder–decoder and translates the seed sentences as before', async () => {
    const loaded = await loadModelDir(SHIPPED);
    expect(loaded.model.arch).toBe('encoder-decoder');
    const saved = JSON.parse(readFileSync(join(SHIPPED, 'config.json'), 'utf8')).model;
    expect(saved.arch).toBeUndefined();
    expect(loaded.model.config).toEqual({ arch: 'encoder-decoder', ...saved });
    loaded.model.dispose();

    const translator = await loadModel(SHIPPED);
    for (const seed of SEEDS) {
      const greedy = await translator.translate(seed.source);
      expect(greedy.output).toBe(seed.output);
      expect(greedy.tokenScores).toHaveLength(seed.scores.length);
      greedy.tokenScores.forEach((s, i) => expect(Math.abs(s - seed.scores[i]!)).toBeLessThan(1e-5));
      const beam = await translator.translate(seed.source, { beam: 4 });
      expect(beam.output).toBe(seed.output);
      expect(Math.abs(beam.score - seed.beamScore)).toBeLessThan(1e-5);
    }
    translator.dispose();
  });

  it('an old run folder loads, translates as before, and resumes exactly where the old code would have gone', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'atencao-old-run-')), 'run');
    cpSync(OLD_RUN, dir, { recursive: true });
    const translator = await loadModel(dir);
    // Untrained (4 steps): every token is unk, but the log-probabilities are the old code's.
    const old = [-0.8796009, -0.6673627, -0.7688932, -0.7384071, -0.7071932];
    (await translator.translate('abc')).tokenScores.forEach((s, i) => expect(Math.abs(s - old[i]!)).toBeLessThan(1e-5));
    translator.dispose();

    const summary = await resumeRun({ out: dir, overrides: { steps: 6 }, backend: 'wasm', workers: 1, stepper: 'flat' }, { info: () => undefined, warn: () => undefined });
    expect(summary.result.state.step).toBe(6);
    // The old code, run straight to step 6, recorded these (metrics.jsonl and evaluation.json).
    const last = summary.result.last!;
    expect(last.step).toBe(6);
    expect(Math.abs(last.trainLoss - 2.9303154945373535)).toBeLessThan(1e-6);
    expect(Math.abs(last.loss - 3.0247877002384502)).toBeLessThan(1e-6);
    expect(Math.abs(last.tokenAccuracy - 0.06694259492531941)).toBeLessThan(1e-9);
    expect(Math.abs(summary.test.loss - 3.0140458079518035)).toBeLessThan(1e-6);
    const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number });
    expect(metrics.map((m) => m.step)).toEqual([2, 4, 6]);
  });
});

describe('loading a folder of another family', () => {
  it('loadModelDir loads any family; loadModel refuses one that does not translate, with one line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atencao-gpt-'));
    const tokenizer = Tokenizer.build('char', ['abcde edcba']);
    const model = createModel({ ...small, arch: 'decoder', vocabSize: tokenizer.size, numLayers: 1 }, { seed: 1 });
    await saveModelFiles(dir, model);
    writeTokenizers(dir, tokenizer, tokenizer);
    writeRunConfig(dir, {
      formatVersion: FORMAT_VERSION,
      createdAt: new Date(0).toISOString(),
      model: model.config,
      data: { spec: { kind: 'text', file: 'lines.txt', tokenizer: 'char' }, arch: 'decoder', description: 'lines.txt', validPairs: 0 },
      training: { steps: 0, batchSize: 1, lr: 1e-3, warmup: 0, schedule: 'constant', labelSmoothing: 0, clip: 0, validEvery: 1, seed: 1 },
      backend: 'wasm',
    });
    const before = tf.memory().numTensors;
    const loaded = await loadModelDir(dir);
    expect(loaded.model.arch).toBe('decoder');
    expect(loaded.source).toBe(loaded.target);
    loaded.model.dispose();
    await expect(loadModel(dir)).rejects.toThrow(new UsageError(`${dir} is a decoder model: use 'atencao generate' (translation needs an encoder-decoder model)`));
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('a model.json whose config is not valid for its family is a ModelFormatError naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atencao-bad-'));
    const model = createModel({ ...small, arch: 'encoder', vocabSize: 9, numLayers: 1 });
    await saveModelFiles(dir, model);
    model.dispose();
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const layer = json.modelTopology.config.layers.at(-1);
    layer.config.num_classes = -2;
    expect(() => planModel(json, 'model.json')).toThrow(new ModelFormatError('model.json: numClasses (-2) must be a non-negative integer'));
    layer.config.num_classes = 0;
    layer.config.num_encoder_layers = 2;
    expect(() => planModel(json, 'model.json')).toThrow(/^model\.json: unknown encoder config field 'numEncoderLayers'/);
  });
});
