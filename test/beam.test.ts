import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { createTransformer } from '../src/index.js';
import { beamSearch } from '../src/infer/beam.js';
import { greedyDecodeScored } from '../src/infer/greedy.js';
import { idTensor } from '../src/model/ids.js';
import { randomizeWeights } from './model-fixtures.js';

const ids = { pad: 0, bos: 1, eos: 2 };
const V = 5;
const model = createTransformer({ srcVocabSize: 6, tgtVocabSize: V, dModel: 8, numHeads: 2, numEncoderLayers: 1, numDecoderLayers: 1, dFF: 16, maxLen: 8, dropout: 0 }, { seed: 3 });
randomizeWeights(model, 17, 1.5);
const source = [3, 4, 5, 2];

/** Log-probability of `tokens` (then eos, if `withEos`) by running the full decoder on the prefix. */
function sequenceLogProb(tokens: number[], withEos: boolean): number {
  return tf.tidy(() => {
    const { memory, memoryMask } = model.encode(idTensor([source], 0));
    const input = [ids.bos, ...tokens];
    const logp = tf.logSoftmax(model.project(model.decode(tf.tensor2d([input], undefined, 'int32'), memory, memoryMask).hidden)).arraySync() as number[][][];
    const targets = withEos ? [...tokens, ids.eos] : tokens;
    return targets.reduce((s, t, i) => s + logp[0]![i]![t]!, 0);
  });
}

it('beam search equals exhaustive search when K covers every hypothesis (vocabulary 5, up to 3 tokens)', async () => {
  const L = 3;
  const others = [...Array(V).keys()].filter((t) => t !== ids.eos);
  const sequences: number[][] = [[]];
  for (let len = 1; len <= L; len++) for (const s of sequences.filter((x) => x.length === len - 1)) for (const t of others) sequences.push([...s, t]);
  // Finished outputs: fewer than L tokens then eos, or exactly L tokens (stopped by the limit).
  let best = { tokens: [] as number[], score: -Infinity };
  for (const s of sequences) {
    const score = sequenceLogProb(s, s.length < L);
    if (score > best.score) best = { tokens: s, score };
  }
  const beam = await beamSearch(model, source, ids, { beam: 1000, maxLen: L, lengthPenalty: 0 });
  expect(beam.ids).toEqual(best.tokens);
  expect(beam.score).toBeCloseTo(best.score, 4);
});

it('greedy and beam K = 1 agree at every length limit; scores cover exactly the emitted tokens', async () => {
  const before = tf.memory().numTensors;
  for (let limit = 0; limit <= 7; limit++) {
    const greedy = (await greedyDecodeScored(model, [source], ids, { maxLen: limit }))[0]!;
    const beam = await beamSearch(model, source, ids, { beam: 1, maxLen: limit });
    expect(greedy.ids.length).toBeLessThanOrEqual(limit);
    expect(beam.ids).toEqual(greedy.ids);
    const endedWithEos = greedy.scores.length === greedy.ids.length + 1;
    expect(greedy.scores.length === greedy.ids.length || endedWithEos).toBe(true);
    if (!endedWithEos) expect(greedy.ids.length).toBe(limit);
    beam.scores.forEach((s, i) => expect(s).toBeCloseTo(greedy.scores[i]!, 5));
  }
  expect(tf.memory().numTensors).toBe(before);
});

it('a source longer than maxLen is a clear error and leaves no tensor behind', async () => {
  const before = tf.memory().numTensors;
  await expect(greedyDecodeScored(model, [[3, 3, 3, 3, 3, 3, 3, 3, 3, 2]], ids, { maxLen: 3 })).rejects.toThrow('source length 10 is longer than maxLen (8)');
  await expect(beamSearch(model, [3, 3, 3, 3, 3, 3, 3, 3, 3, 2], ids, { beam: 2, maxLen: 3 })).rejects.toThrow('source length 10 is longer than maxLen (8)');
  expect(tf.memory().numTensors).toBe(before);
});
