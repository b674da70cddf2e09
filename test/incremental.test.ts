import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { createTransformer } from '../src/index.js';
import { greedyDecodeScored, sourceTensor } from '../src/infer/greedy.js';
import { IncrementalDecoder } from '../src/infer/incremental.js';
import { describeEachBackend, expectClose, rng } from './helpers.js';
import { randomizeWeights } from './model-fixtures.js';

const ids = { pad: 0, bos: 1, eos: 2 };
const CONFIG = { srcVocabSize: 11, tgtVocabSize: 13, dModel: 16, numHeads: 4, numEncoderLayers: 2, numDecoderLayers: 2, dFF: 24, maxLen: 12, dropout: 0.3 };

describeEachBackend('decoding with a key/value cache', () => {
  for (const variant of [{}, { normPlacement: 'post' as const, tieEmbeddings: true, activation: 'gelu' as const }]) {
    it(`gives the logits of re-running the full decoder at every position, to 1e-4 (${JSON.stringify(variant)})`, () => {
      const model = createTransformer({ ...CONFIG, ...variant }, { seed: 4 });
      randomizeWeights(model, 8, 0.7);
      const random = rng(2);
      const sources = [[3, 4, 5, 6, 2], [7, 8, 2], [9, 2]];
      const targets = sources.map(() => [1, ...Array.from({ length: 7 }, () => 3 + Math.floor(random() * 10))]);
      const before = tf.memory().numTensors;
      const src = sourceTensor(sources, 0);
      const { memory, memoryMask } = model.encode(src);
      const full = tf.tidy(() => {
        const tgt = tf.tensor2d(targets, undefined, 'int32');
        return model.project(model.decode(tgt, memory, memoryMask).hidden).arraySync() as number[][][];
      });
      const decoder = new IncrementalDecoder(model, memory, memoryMask);
      for (let t = 0; t < targets[0]!.length; t++) {
        const { logits } = decoder.step(targets.map((row) => row[t]!));
        expectClose(logits, targets.flatMap((_, b) => full[b]![t]!), 1e-4);
        logits.dispose();
      }
      decoder.dispose();
      tf.dispose([src, memory, memoryMask]);
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
    });
  }

  it('greedy decoding with the cache gives exactly the tokens of decoding without it', () => {
    const model = createTransformer(CONFIG, { seed: 5 });
    randomizeWeights(model, 9, 0.7);
    const random = rng(3);
    const sources = Array.from({ length: 12 }, () => [...Array.from({ length: 2 + Math.floor(random() * 7) }, () => 3 + Math.floor(random() * 8)), 2]);
    const before = tf.memory().numTensors;
    const cached = greedyDecodeScored(model, sources, ids, { maxLen: 11 });
    const plain = greedyDecodeScored(model, sources, ids, { maxLen: 11, cache: false });
    expect(tf.memory().numTensors).toBe(before);
    expect(cached.map((r) => r.ids)).toEqual(plain.map((r) => r.ids));
    expect(cached.some((r) => r.ids.length > 3)).toBe(true);
    cached.forEach((r, i) => expectClose(r.scores, plain[i]!.scores, 1e-4));
    model.dispose();
  });

  it('attention weights of a step equal the last row of the full decoder weights', () => {
    const model = createTransformer(CONFIG, { seed: 6 });
    randomizeWeights(model, 10, 0.7);
    const src = sourceTensor([[3, 4, 5, 2]], 0);
    const { memory, memoryMask } = model.encode(src);
    const target = [1, 5, 6, 7];
    const full = model.decode(tf.tensor2d([target], undefined, 'int32'), memory, memoryMask, { returnAttention: true });
    const decoder = new IncrementalDecoder(model, memory, memoryMask);
    let out;
    for (const token of target) {
      out?.logits.dispose();
      tf.dispose([...(out?.selfWeights ?? []), ...(out?.crossWeights ?? [])]);
      out = decoder.step([token], true);
    }
    const lastRow = (w: tf.Tensor) => tf.tidy(() => Array.from(tf.slice(w, [0, 0, target.length - 1, 0], [-1, -1, 1, -1]).dataSync()));
    out!.selfWeights!.forEach((w, layer) => expectClose(w, lastRow(full.selfAttention![layer]!), 1e-5));
    out!.crossWeights!.forEach((w, layer) => expectClose(w, lastRow(full.crossAttention![layer]!), 1e-5));
    tf.dispose([src, memory, memoryMask, full.hidden, ...full.selfAttention!, ...full.crossAttention!, out!.logits, ...out!.selfWeights!, ...out!.crossWeights!]);
    decoder.dispose();
    model.dispose();
  });
});
