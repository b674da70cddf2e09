import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { createTransformer } from '../src/index.js';
import { greedyDecodeScored } from '../src/infer/greedy.js';
import { idTensor } from '../src/model/ids.js';
import { describeEachBackend, expectClose, rng } from './helpers.js';
import { randomizeWeights } from './model-fixtures.js';

const ids = { pad: 0, bos: 1, eos: 2 };
const CONFIG = { srcVocabSize: 11, tgtVocabSize: 13, dModel: 16, numHeads: 4, numEncoderLayers: 2, numDecoderLayers: 2, dFF: 24, maxLen: 12, dropout: 0.3 };

describeEachBackend('decoding with a key/value cache', () => {
  for (const variant of [{}, { normPlacement: 'post' as const, tieEmbeddings: true, activation: 'gelu' as const }]) {
    it(`gives the logits of re-running the full decoder at every position, to 1e-4 (${JSON.stringify(variant)})`, async () => {
      const model = createTransformer({ ...CONFIG, ...variant }, { seed: 4 });
      randomizeWeights(model, 8, 0.7);
      const random = rng(2);
      const sources = [[3, 4, 5, 6, 2], [7, 8, 2], [9, 2]];
      const targets = sources.map(() => [1, ...Array.from({ length: 7 }, () => 3 + Math.floor(random() * 10))]);
      const before = tf.memory().numTensors;
      const full = tf.tidy(() => {
        const src = idTensor(sources, 0);
        const { memory, memoryMask } = model.encode(src);
        const tgt = tf.tensor2d(targets, undefined, 'int32');
        return model.project(model.decode(tgt, memory, memoryMask).hidden).arraySync() as number[][][];
      });
      const generation = model.startGeneration(sources, { cache: true });
      expect(generation.first).toEqual([1, 1, 1]);
      expect(generation.capacity).toBe(CONFIG.maxLen - 1);
      for (let t = 0; t < targets[0]!.length; t++) {
        const { logits } = generation.step(targets.map((row) => row[t]!));
        expect(logits.shape).toEqual([sources.length, CONFIG.tgtVocabSize]);
        expectClose(logits, targets.flatMap((_, b) => full[b]![t]!), 1e-4);
        logits.dispose();
      }
      expect(generation.length).toBe(targets[0]!.length);
      expect(generation.capacity).toBe(CONFIG.maxLen - 1 - targets[0]!.length);
      generation.dispose();
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
    });
  }

  it('greedy decoding with the cache gives exactly the tokens of decoding without it', async () => {
    const model = createTransformer(CONFIG, { seed: 5 });
    randomizeWeights(model, 9, 0.7);
    const random = rng(3);
    const sources = Array.from({ length: 12 }, () => [...Array.from({ length: 2 + Math.floor(random() * 7) }, () => 3 + Math.floor(random() * 8)), 2]);
    const before = tf.memory().numTensors;
    const cached = await greedyDecodeScored(model, sources, ids, { maxLen: 11 });
    const plain = await greedyDecodeScored(model, sources, ids, { maxLen: 11, cache: false });
    expect(tf.memory().numTensors).toBe(before);
    expect(cached.map((r) => r.ids)).toEqual(plain.map((r) => r.ids));
    expect(cached.some((r) => r.ids.length > 3)).toBe(true);
    cached.forEach((r, i) => expectClose(r.scores, plain[i]!.scores, 1e-4));
    model.dispose();
  });

  it('attention weights of a step equal the last row of the full decoder weights', async () => {
    const model = createTransformer(CONFIG, { seed: 6 });
    randomizeWeights(model, 10, 0.7);
    const source = [3, 4, 5, 2];
    const target = [1, 5, 6, 7];
    const before = tf.memory().numTensors;
    const full = tf.tidy(() => {
      const src = idTensor([source], 0);
      const { memory, memoryMask } = model.encode(src);
      const r = model.decode(tf.tensor2d([target], undefined, 'int32'), memory, memoryMask, { returnAttention: true });
      const lastRow = (w: tf.Tensor) => Array.from(tf.slice(w, [0, 0, target.length - 1, 0], [-1, -1, 1, -1]).dataSync());
      return { self: r.selfAttention!.map(lastRow), cross: r.crossAttention!.map(lastRow) };
    });
    for (const cache of [true, false]) {
      const generation = model.startGeneration([source], { cache });
      let out: ReturnType<typeof generation.step> | undefined;
      for (const token of target) {
        if (out) tf.dispose([out.logits, ...(out.weights?.decoder ?? []), ...(out.weights?.cross ?? [])]);
        out = generation.step([token], true);
      }
      expect(out!.weights!.decoder).toHaveLength(CONFIG.numDecoderLayers);
      expect(out!.weights!.cross).toHaveLength(CONFIG.numDecoderLayers);
      out!.weights!.decoder!.forEach((w, layer) => {
        expect(w.shape).toEqual([1, CONFIG.numHeads, 1, target.length]);
        expectClose(w, full.self[layer]!, 1e-5);
      });
      out!.weights!.cross!.forEach((w, layer) => {
        expect(w.shape).toEqual([1, CONFIG.numHeads, 1, source.length]);
        expectClose(w, full.cross[layer]!, 1e-5);
      });
      tf.dispose([out!.logits, ...out!.weights!.decoder!, ...out!.weights!.cross!]);
      generation.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
