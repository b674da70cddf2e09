import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createTransformer } from '../src/index.js';
import { beamSearch, beamSearchBatch } from '../src/infer/beam.js';
import { greedyDecodeScored, type Generator } from '../src/infer/greedy.js';
import { bannedNext, outputLimit } from '../src/infer/guard.js';
import type { Generation } from '../src/model/model.js';
import { tinyDecoder } from './decoder-fixtures.js';
import { rng } from './helpers.js';
import { hasRepeatedNgram, referenceBeamSearch, repeats } from './beam-reference.js';
import { randomizeWeights } from './model-fixtures.js';

const ids = { pad: 0, bos: 1, eos: 2 };

function randomSources(count: number, vocab: number, seed: number, maxLength: number): number[][] {
  const random = rng(seed);
  return Array.from({ length: count }, () => {
    const n = 1 + Math.floor(random() * maxLength);
    return [...Array.from({ length: n }, () => 3 + Math.floor(random() * (vocab - 3))), ids.eos];
  });
}

function expectSame(got: { ids: number[]; scores: number[]; score: number }, want: { ids: number[]; scores: number[]; score: number }): void {
  expect(got.ids).toEqual(want.ids);
  expect(got.scores.length).toBe(want.scores.length);
  got.scores.forEach((s, i) => expect(s).toBeCloseTo(want.scores[i]!, 5));
  expect(got.score).toBeCloseTo(want.score, 5);
}

describe('beam search over a batch of prompts', () => {
  const model = createTransformer({ srcVocabSize: 9, tgtVocabSize: 7, dModel: 8, numHeads: 2, numEncoderLayers: 1, numDecoderLayers: 1, dFF: 16, maxLen: 9, dropout: 0 }, { seed: 5 });
  randomizeWeights(model, 23, 1.3);

  it('gives each prompt exactly what the one-prompt-at-a-time search gives (encoder–decoder, mixed lengths, chunks)', async () => {
    const sources = randomSources(11, 9, 7, 6);
    const before = tf.memory().numTensors;
    for (const [beam, lengthPenalty, maxLen, batchSize] of [[1, 0.6, 8, 4], [2, 0.6, 8, 3], [3, 0, 5, 32], [5, 1.2, 8, 2], [20, 0.6, 3, 5]] as const) {
      const batched = await beamSearchBatch(model, sources, ids, { beam, maxLen, lengthPenalty, batchSize });
      for (let i = 0; i < sources.length; i++) {
        expectSame(batched[i]!, await referenceBeamSearch(model, sources[i]!, ids, { beam, maxLen, lengthPenalty }));
      }
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('with per-prompt limits, each prompt is searched as if maxLen were its own limit', async () => {
    const sources = randomSources(7, 9, 8, 6);
    const maxLens = [0, 1, 2, 3, 8, 5, 4];
    const before = tf.memory().numTensors;
    const batched = await beamSearchBatch(model, sources, ids, { beam: 3, maxLen: 6, maxLens });
    for (let i = 0; i < sources.length; i++) {
      const want = await referenceBeamSearch(model, sources[i]!, ids, { beam: 3, maxLen: Math.min(6, maxLens[i]!) });
      expectSame(batched[i]!, want);
      expect(batched[i]!.ids.length).toBeLessThanOrEqual(Math.min(6, maxLens[i]!));
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('no-repeat n-grams: the same as the reference that checks every earlier n-gram, and no n-gram twice', async () => {
    const sources = randomSources(6, 9, 9, 6);
    const before = tf.memory().numTensors;
    for (const n of [1, 2, 3]) {
      const batched = await beamSearchBatch(model, sources, ids, { beam: 3, maxLen: 8, noRepeatNgram: n, batchSize: 4 });
      for (let i = 0; i < sources.length; i++) {
        expectSame(batched[i]!, await referenceBeamSearch(model, sources[i]!, ids, { beam: 3, maxLen: 8, noRepeatNgram: n }));
        expect(hasRepeatedNgram(batched[i]!.ids, n)).toBe(false);
      }
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('decoder-only prompts of different lengths: the same as one at a time', async () => {
    const gpt = tinyDecoder({}, 4, 1.1);
    const random = rng(12);
    const prompts = [1, 3, 3, 5, 1, 4].map((n) => [ids.bos, ...Array.from({ length: n - 1 }, () => 3 + Math.floor(random() * 10))]);
    const before = tf.memory().numTensors;
    const batched = await beamSearchBatch(gpt, prompts, ids, { beam: 3, maxLen: 6, batchSize: 2 });
    for (let i = 0; i < prompts.length; i++) expectSame(batched[i]!, await referenceBeamSearch(gpt, prompts[i]!, ids, { beam: 3, maxLen: 6 }));
    expect(tf.memory().numTensors).toBe(before);
    gpt.dispose();
  });

  it('a failing prompt leaves no tensor behind', async () => {
    const before = tf.memory().numTensors;
    await expect(beamSearchBatch(model, [[3, 2], [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2]], ids, { beam: 2, maxLen: 3 })).rejects.toThrow('source length 11 is longer than maxLen (9)');
    expect(tf.memory().numTensors).toBe(before);
  });
});

/**
 * A hand-built model: the next-token logits depend only on the last token fed (a Markov chain),
 * so what greedy decoding and the guard must do can be worked out by hand. Vocabulary: pad 0,
 * bos 1, eos 2, words 3…6. After bos: 3. After 3: 4, then 3, then 5. After 4: 3, then 6. After
 * 5 and 6: eos. Unguarded, greedy decoding loops "3 4 3 4 …".
 */
const TABLE: Record<number, number[]> = {
  1: [-9, -9, -5, 3, 1, 0, 0],
  3: [-9, -9, -5, 2, 3, 1, 0],
  4: [-9, -9, -5, 3, 0, 0, 2],
  5: [-9, -9, 3, 0, 0, 0, 0],
  6: [-9, -9, 3, 0, 0, 0, 0],
};

class MarkovGeneration implements Generation {
  rows: number;
  length = 0;
  readonly first: readonly number[];
  constructor(prompts: readonly number[][], private readonly maxLen: number) {
    this.rows = prompts.length;
    this.first = prompts.map(() => ids.bos);
  }
  get capacity(): number {
    return this.maxLen - 1 - this.length;
  }
  step(tokens: readonly number[]): { logits: tf.Tensor2D } {
    this.length++;
    return { logits: tf.tensor2d(tokens.map((t) => TABLE[t] ?? TABLE[6]!)) };
  }
  select(rows: readonly number[]): void {
    this.rows = rows.length;
  }
  dispose(): void {}
}

const markov: Generator = { startGeneration: (prompts) => new MarkovGeneration(prompts, 20) };

describe('repetition guard', () => {
  it('bannedNext lists the tokens that would complete an n-gram already written', () => {
    expect([...bannedNext([3, 4, 3], 2)].sort()).toEqual([4]);
    expect([...bannedNext([3, 4, 3, 3], 2)].sort()).toEqual([3, 4]);
    expect([...bannedNext([3, 4, 5, 3, 4], 3)].sort()).toEqual([5]);
    expect([...bannedNext([5, 3, 5], 1)].sort()).toEqual([3, 5]);
    expect(bannedNext([3, 4, 3], 0).size).toBe(0);
    expect(bannedNext([3], 3).size).toBe(0);
  });

  it('outputLimit is ⌊ratio × source⌋ + extra, capped by maxLen', () => {
    expect(outputLimit(5, 100)).toBe(20);
    expect(outputLimit(5, 100, 1.5, 2)).toBe(9);
    expect(outputLimit(5, 12)).toBe(12);
    expect(outputLimit(5, 100, Infinity)).toBe(100);
  });

  it('greedy decoding of the looping model: "3 4 3 4 …" unguarded, hand-worked outputs with the guard', async () => {
    const before = tf.memory().numTensors;
    const run = async (noRepeatNgram?: number, maxLens?: number[]) => (await greedyDecodeScored(markov, [[5, 2]], ids, { maxLen: 10, noRepeatNgram, maxLens }))[0]!.ids;
    expect(await run()).toEqual([3, 4, 3, 4, 3, 4, 3, 4, 3, 4]);
    // n = 2: after "3 4 3" the bigram "3 4" is taken, so 3 (second best after 3) follows; after
    // "3 3" both 3 and 4 are taken, so 5, then eos.
    expect(await run(2)).toEqual([3, 4, 3, 3, 5]);
    // n = 1: no token twice: 3, 4, then after 4 the best left is 6, then eos.
    expect(await run(1)).toEqual([3, 4, 6]);
    // n = 3: "3 4 3 4" is allowed (the trigram "4 3 4" is new), then 3 would repeat "3 4 3", so 6, then eos.
    expect(await run(3)).toEqual([3, 4, 3, 4, 6]);
    // A per-prompt limit cuts the loop.
    expect(await run(undefined, [3])).toEqual([3, 4, 3]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('beam search on the looping model: guarded it writes no n-gram twice and equals the reference', async () => {
    const before = tf.memory().numTensors;
    for (const n of [1, 2, 3]) {
      const guarded = await beamSearch(markov, [5, 2], ids, { beam: 2, maxLen: 10, noRepeatNgram: n });
      expect(hasRepeatedNgram(guarded.ids, n)).toBe(false);
      expectSame(guarded, await referenceBeamSearch(markov, [5, 2], ids, { beam: 2, maxLen: 10, noRepeatNgram: n }));
    }
    expect(repeats([3, 4, 3, 4], 2)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });
});
