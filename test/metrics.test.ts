import { expect, it } from 'vitest';
import { corpusBleu, exactMatch } from '../src/train/metrics.js';
import { SyntheticTask, solve } from '../src/data/tasks.js';
import { bucketedBatches, makeBatch } from '../src/data/batching.js';
import { Random } from '../src/util/random.js';
import * as tf from '@tensorflow/tfjs';

const words = (s: string) => s.split(' ');

it('corpus BLEU-4 matches a hand-computed value', () => {
  // Pair 1 matches 5/6 unigrams, 3/5 bigrams, 1/4 trigrams, 0/3 4-grams; pair 2 is identical (5 tokens).
  const r = corpusBleu([words('the cat sat on the mat'), words('a b c d e')], [words('the cat is on the mat'), words('a b c d e')]);
  expect(r.precisions[0]).toBeCloseTo(10 / 11, 12);
  expect(r.precisions[1]).toBeCloseTo(7 / 9, 12);
  expect(r.precisions[2]).toBeCloseTo(4 / 7, 12);
  expect(r.precisions[3]).toBeCloseTo(2 / 5, 12);
  expect(r.brevityPenalty).toBe(1);
  expect(r.bleu).toBeCloseTo(Math.pow(560 / 3465, 1 / 4), 12);
});

it('BLEU applies the brevity penalty, clips repeated n-grams and is 0 without a matching 4-gram', () => {
  expect(corpusBleu([words('a b c d')], [words('a b c d e')]).bleu).toBeCloseTo(Math.exp(1 - 5 / 4), 12);
  // "the the the the": 4 unigrams, only 2 "the" in the reference count.
  expect(corpusBleu([words('the the the the')], [words('the cat the dog')]).precisions[0]).toBe(0.5);
  expect(corpusBleu([words('the cat sat on the mat')], [words('the cat is on the mat')]).bleu).toBe(0);
  expect(corpusBleu([words('x y z w')], [words('x y z w')]).bleu).toBe(1);
});

it('exact match counts whole sequences', () => {
  expect(exactMatch([[1, 2], [3], [4, 5]], [[1, 2], [3, 4], [4, 5]])).toBeCloseTo(2 / 3, 12);
  expect(exactMatch([], [])).toBe(0);
});

it('synthetic tasks: targets, determinism, held-out sequences never trained on', () => {
  expect(solve('copy', 'cab')).toBe('cab');
  expect(solve('reverse', 'cab')).toBe('bac');
  expect(solve('sort', 'cbda')).toBe('abcd');
  const a = new SyntheticTask('sort', { symbols: 4, minLen: 3, maxLen: 5, testSize: 50, validSize: 20 });
  const b = new SyntheticTask('sort', { symbols: 4, minLen: 3, maxLen: 5, testSize: 50, validSize: 20 });
  expect(a.test).toEqual(b.test);
  expect(new Set([...a.test, ...a.valid].map((p) => p.source)).size).toBe(70);
  const heldOut = new Set([...a.test, ...a.valid].map((p) => p.source));
  const random = new Random(9);
  for (let i = 0; i < 3000; i++) {
    const p = a.sample(random);
    expect(heldOut.has(p.source)).toBe(false);
    expect(p.source.length).toBeGreaterThanOrEqual(3);
    expect(p.source.length).toBeLessThanOrEqual(5);
    expect(p.target).toBe(solve('sort', p.source));
  }
  expect(() => new SyntheticTask('copy', { symbols: 2, minLen: 2, maxLen: 2 })).toThrow(
    'copy with 2 symbols and lengths 2–2 has only 4 distinct sequences, too few to hold out 2000; use more symbols, longer sequences or smaller held-out sets',
  );
  expect(() => new SyntheticTask('copy', { symbols: 99 })).toThrow('symbols (99) must be an integer from 2 to 62');
});

it('batches pad sources and shift targets: tgtIn = [bos, …], tgtOut = [..., eos]', () => {
  const batch = makeBatch([{ src: [5, 6, 2], tgt: [7] }, { src: [8, 2], tgt: [9, 10] }], { pad: 0, bos: 1, eos: 2 });
  expect(batch.src.arraySync()).toEqual([[5, 6, 2], [8, 2, 0]]);
  expect(batch.tgtIn.arraySync()).toEqual([[1, 7, 0], [1, 9, 10]]);
  expect(batch.tgtOut.arraySync()).toEqual([[7, 2, 0], [9, 10, 2]]);
  tf.dispose([batch.src, batch.tgtIn, batch.tgtOut]);
});

it('length bucketing keeps every pair once and groups similar lengths', () => {
  const random = new Random(3);
  const items = Array.from({ length: 300 }, (_, i) => ({ src: new Array<number>(1 + (i * 7) % 30).fill(4), tgt: [5], id: i }));
  const batches = bucketedBatches(items, 16, random);
  expect(batches.flat().map((p) => p.id).sort((x, y) => x - y)).toEqual(items.map((p) => p.id));
  const spread = batches.map((b) => Math.max(...b.map((p) => p.src.length)) - Math.min(...b.map((p) => p.src.length)));
  expect(Math.max(...spread)).toBeLessThanOrEqual(5); // unsorted batches would span ~30
});
