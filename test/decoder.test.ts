import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOS_ID, EOS_ID, PAD_ID, SEP, ShapeError, Tokenizer, UsageError, createModel, greedyDecode, greedyDecodeScored, makeLanguageModelBatch, type LoadedModel } from '../src/index.js';
import { generateIds, generateText } from '../src/infer/generate.js';
import { loadModelDir } from '../src/infer/load.js';
import { argmax, sampleFrom, samplingDistribution, softmax, topK, topP } from '../src/infer/sample.js';
import type { RunConfig } from '../src/io/model-dir.js';
import { BATCHERS } from '../src/data/batching.js';
import { prepareData } from '../src/train/prepare-data.js';
import { startRun } from '../src/train/run.js';
import type { Random } from '../src/util/random.js';
import { Random as SeededRandom } from '../src/util/random.js';
import { expectClose, rng } from './helpers.js';
import { fullLogits, plainArgmax, plainSoftmax, tinyDecoder, TINY_DECODER } from './decoder-fixtures.js';

const IDS = { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID };
const VOCAB = TINY_DECODER.vocabSize;
const MAX_LEN = TINY_DECODER.maxLen!;
const quiet = { info: () => undefined, warn: () => undefined };
/** Model variants the causal and cache checks run on: the defaults, and every switch flipped. */
const VARIANTS = [{}, { normPlacement: 'post' as const, tieEmbeddings: true, activation: 'gelu' as const, positionalEncoding: 'learned' as const }];

function randomTokens(n: number, random: () => number): number[] {
  return Array.from({ length: n }, () => 3 + Math.floor(random() * (VOCAB - 3)));
}

/** A fake Random that returns the given uniform numbers in turn. */
function fixedDraws(...values: number[]): Random {
  let i = 0;
  return { next: () => values[i++ % values.length]! } as unknown as Random;
}

describe('causal self-attention', () => {
  for (const variant of VARIANTS) {
    it(`logits at positions ≤ t do not change when the tokens after t change (${JSON.stringify(variant)})`, async () => {
      const model = tinyDecoder(variant, 4);
      const random = rng(7);
      const before = tf.memory().numTensors;
      for (const t of [0, 3, 8]) {
        const a = [BOS_ID, ...randomTokens(MAX_LEN - 1, random)];
        const b = a.map((id, i) => (i <= t ? id : 3 + ((id - 3 + 1 + Math.floor(random() * (VOCAB - 4))) % (VOCAB - 3)))); // every later token differs
        expect(b.slice(t + 1).every((id, i) => id !== a[t + 1 + i])).toBe(true);
        const [la, lb] = fullLogits(model, [a, b]);
        for (let p = 0; p <= t; p++) expectClose(la![p]!, lb![p]!, 1e-5);
        const later = Math.max(...la![t + 1]!.map((x, v) => Math.abs(x - lb![t + 1]![v]!)));
        expect(later).toBeGreaterThan(1e-3); // the next position does see the change
      }
      // The weights say the same: nothing above the diagonal, every row sums to 1.
      const weights = tf.tidy(() => model.attention({ ids: tf.tensor2d([[BOS_ID, ...randomTokens(9, random)]], undefined, 'int32') }).decoder!.map((w) => w.arraySync() as number[][][][]));
      expect(weights).toHaveLength(2);
      for (const layer of weights) {
        for (const head of layer[0]!) {
          head.forEach((row, q) => {
            row.forEach((w, k) => (k > q ? expect(w).toBe(0) : undefined));
            expect(row.reduce((s, w) => s + w, 0)).toBeCloseTo(1, 5);
          });
        }
      }
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
    });
  }
});

describe('generation with the key/value cache', () => {
  for (const variant of VARIANTS) {
    for (const promptLength of [1, 4]) {
      it(`equals the full recompute and the whole-sequence forward at every step, prompt of ${promptLength} (${JSON.stringify(variant)})`, async () => {
        const model = tinyDecoder(variant, 5);
        const random = rng(11 + promptLength);
        const rows = 3;
        // Each row: bos, the rest of its prompt, then the tokens fed step by step.
        const sequences = Array.from({ length: rows }, () => [BOS_ID, ...randomTokens(MAX_LEN - 1, random)]);
        const prompts = sequences.map((s) => s.slice(0, promptLength));
        const reference = fullLogits(model, sequences);
        const before = tf.memory().numTensors;
        const cached = model.startGeneration(prompts, { cache: true });
        const full = model.startGeneration(prompts, { cache: false });
        expect(cached.first).toEqual(prompts.map((p) => p[promptLength - 1]));
        expect(cached.capacity).toBe(MAX_LEN - promptLength);
        for (let t = promptLength - 1; t < MAX_LEN; t++) {
          const tokens = sequences.map((s) => s[t]!);
          const a = cached.step(tokens);
          const b = full.step(tokens);
          expect(a.logits.shape).toEqual([rows, VOCAB]);
          const want = sequences.flatMap((_, r) => reference[r]![t]!);
          expectClose(a.logits, want, 1e-4);
          expectClose(b.logits, want, 1e-4);
          tf.dispose([a.logits, b.logits]);
        }
        expect(cached.length).toBe(MAX_LEN);
        expect(cached.capacity).toBe(0);
        expect(() => cached.step(sequences.map(() => 3))).toThrow(ShapeError);
        cached.dispose();
        full.dispose();
        expect(tf.memory().numTensors).toBe(before);
        model.dispose();
      });
    }
  }

  it('select() reorders and duplicates rows (beam search) and the cache still equals the full recompute', async () => {
    const model = tinyDecoder({}, 6);
    const random = rng(21);
    const sequences = Array.from({ length: 3 }, () => [BOS_ID, ...randomTokens(MAX_LEN - 1, random)]);
    const prompts = sequences.map((s) => s.slice(0, 3));
    const before = tf.memory().numTensors;
    const cached = model.startGeneration(prompts, { cache: true });
    const full = model.startGeneration(prompts, { cache: false });
    const order = [2, 0, 0, 1];
    // The sequences as the generations hold them after select(order) at position `cut`: prefixes reordered, new tails.
    const cut = 6;
    const after = order.map((r) => [...sequences[r]!.slice(0, cut), ...randomTokens(MAX_LEN - cut, random)]);
    const reference = fullLogits(model, after);
    for (let t = 2; t < MAX_LEN; t++) {
      if (t === cut) {
        cached.select(order);
        full.select(order);
        expect(cached.rows).toBe(order.length);
      }
      const rowsNow = t < cut ? sequences : after;
      const tokens = rowsNow.map((s) => s[t]!);
      const a = cached.step(tokens);
      const b = full.step(tokens);
      if (t >= cut) {
        const want = after.flatMap((_, r) => reference[r]![t]!);
        expectClose(a.logits, want, 1e-4);
        expectClose(b.logits, want, 1e-4);
      } else {
        expectClose(a.logits, Array.from(b.logits.dataSync()), 1e-4);
      }
      tf.dispose([a.logits, b.logits]);
    }
    cached.dispose();
    full.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it("a step's attention weights equal the last row of the whole sequence's, with and without the cache", async () => {
    const model = tinyDecoder({}, 7);
    const sequence = [BOS_ID, ...randomTokens(7, rng(5))];
    const before = tf.memory().numTensors;
    const reference = tf.tidy(() =>
      model.attention({ ids: tf.tensor2d([sequence], undefined, 'int32') }).decoder!.map((w) => Array.from(tf.slice(w, [0, 0, sequence.length - 1, 0], [-1, -1, 1, -1]).dataSync())),
    );
    for (const cache of [true, false]) {
      const generation = model.startGeneration([sequence.slice(0, 3)], { cache });
      let last: ReturnType<typeof generation.step> | undefined;
      for (const token of sequence.slice(2)) {
        if (last) tf.dispose([last.logits, ...(last.weights?.decoder ?? [])]);
        last = generation.step([token], true);
      }
      const weights = last!.weights!.decoder!;
      expect(weights).toHaveLength(2);
      weights.forEach((w, l) => {
        expect(w.shape).toEqual([1, 4, 1, sequence.length]);
        expectClose(w, reference[l]!, 1e-5);
      });
      tf.dispose([last!.logits, ...weights]);
      generation.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('greedyDecode equals step-by-step argmax of the full forward (batched prompts of different lengths)', async () => {
    const model = tinyDecoder({}, 8, 1.2);
    const random = rng(31);
    const prompts = [[BOS_ID], [BOS_ID, ...randomTokens(3, random)], [BOS_ID, ...randomTokens(3, random)], [BOS_ID, ...randomTokens(6, random)]];
    const maxLen = 8;
    const before = tf.memory().numTensors;
    const scored = await greedyDecodeScored(model, prompts, IDS, { maxLen, batchSize: 2 });
    expect(await greedyDecode(model, prompts, IDS, { maxLen })).toEqual(scored.map((r) => r.ids));
    expect(tf.memory().numTensors).toBe(before);
    prompts.forEach((prompt, i) => {
      // The reference: one whole forward pass per token, the argmax of its last row.
      const seq = [...prompt];
      const ids: number[] = [];
      const scores: number[] = [];
      const limit = Math.min(maxLen, MAX_LEN - prompt.length);
      for (let step = 0; step < limit; step++) {
        const row = fullLogits(model, [seq])[0]![seq.length - 1]!;
        const id = plainArgmax(row);
        scores.push(Math.log(plainSoftmax(row)[id]!));
        if (id === EOS_ID) break;
        ids.push(id);
        seq.push(id);
      }
      expect(scored[i]!.ids).toEqual(ids);
      expectClose(scored[i]!.scores, scores, 1e-4);
    });
    expect(scored.some((r) => r.ids.length >= 3)).toBe(true);
    model.dispose();
  });
});

describe('language-model batches', () => {
  it('a task becomes "input <sep> output" and only the output and eos are scored (hand-checked ids)', async () => {
    const prepared = prepareData({ kind: 'task', task: 'reverse', symbols: 4, minLen: 6, maxLen: 7 }, { arch: 'decoder', seed: 1 }, quiet);
    const tok = prepared.source;
    // Vocabulary: the four fixed specials, <sep>, then a b c d.
    expect(tok.vocab).toEqual(['<pad>', '<bos>', '<eos>', '<unk>', '<sep>', 'a', 'b', 'c', 'd']);
    expect(prepared.maxLen).toBe(1 + 8 + 7); // bos, 7 symbols and <sep>, 7 symbols
    expect(prepared.objective).toBe('lm');
    const item = prepared.valid[0]!;
    expect(item.src[item.src.length - 1]).toBe(tok.special(SEP));
    expect(tok.decode(item.tgt)).toBe([...tok.decode(item.src.slice(0, -1))].reverse().join(''));
    // "abc" → "cba" and "db" → "bd", by hand: a=5 b=6 c=7 d=8 sep=4.
    const items = [
      { src: [5, 6, 7, 4], tgt: [7, 6, 5] },
      { src: [8, 6, 4], tgt: [6, 8] },
    ];
    const model = createModel({ ...TINY_DECODER, vocabSize: tok.size, maxLen: 8 }, { seed: 2 });
    const before = tf.memory().numTensors;
    const batch = makeLanguageModelBatch(items, IDS);
    expect(batch.ids.arraySync()).toEqual([
      [1, 5, 6, 7, 4, 7, 6, 5],
      [1, 8, 6, 4, 6, 8, 0, 0],
    ]);
    expect(batch.targets.arraySync()).toEqual([
      [0, 0, 0, 0, 7, 6, 5, 2],
      [0, 0, 0, 6, 8, 2, 0, 0],
    ]);
    expect(BATCHERS.lm.targets(items, IDS)).toBe(4 + 3);
    // The loss is the mean cross-entropy over exactly those 7 positions (a plain loop over the logits).
    const logits = tf.tidy(() => model.forward(batch.ids).arraySync() as number[][][]);
    const targets = batch.targets.arraySync();
    let sum = 0;
    let n = 0;
    targets.forEach((row, b) =>
      row.forEach((target, t) => {
        if (target === PAD_ID) return;
        sum -= Math.log(plainSoftmax(logits[b]![t]!)[target]!);
        n++;
      }),
    );
    expect(n).toBe(7);
    const loss = model.loss(batch);
    expect(loss.dataSync()[0]).toBeCloseTo(sum / n, 4);
    loss.dispose();
    tf.dispose([batch.ids, batch.targets]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('sampling maths (hand-computed)', () => {
  it('softmax with a temperature, and temperature 0 as the argmax', async () => {
    // softmax([2, 1, 0] / 0.5) = [e⁴, e², 1] / (e⁴ + e² + 1) = [54.59815, 7.389056, 1] / 62.98721
    expectClose(samplingDistribution([2, 1, 0], { temperature: 0.5 }), [0.866813, 0.11731, 0.015876], 1e-6);
    // temperature 2 flattens: [e¹, e^0.5, 1] / 5.367003
    expectClose(samplingDistribution([2, 1, 0], { temperature: 2 }), [0.506480, 0.307196, 0.186324], 1e-6);
    expectClose(softmax([0, Math.log(3)]), [0.25, 0.75], 1e-12);
    expect(samplingDistribution([0.3, 2.5, 2.5, -1], { temperature: 0 })).toEqual([0, 1, 0, 0]);
    expect(samplingDistribution([0.3, 2.5, 2.1, -1], { temperature: 0, exclude: [1] })).toEqual([0, 0, 1, 0]);
    expect(samplingDistribution([5, 0, Math.log(3)], { exclude: [0] })).toEqual([0, 0.25, 0.75].map((x) => expect.closeTo(x, 12)));
    expect(argmax([1, 3, 3, 2])).toBe(1);
  });

  it('top-k keeps the k most probable (ties: lower ids) and renormalises', async () => {
    expectClose(topK([0.1, 0.4, 0.2, 0.3], 2), [0, 4 / 7, 0, 3 / 7], 1e-12);
    expectClose(topK([0.1, 0.4, 0.2, 0.3], 1), [0, 1, 0, 0], 1e-12);
    expectClose(topK([0.25, 0.25, 0.25, 0.25], 2), [0.5, 0.5, 0, 0], 1e-12);
    expect(topK([0.1, 0.9], 5)).toEqual([0.1, 0.9]);
    expect(() => topK([1], 0)).toThrow('topK (0) must be a positive integer');
  });

  it('top-p keeps the fewest most probable tokens reaching p, and drops the tail', async () => {
    const probs = [0.1, 0.4, 0.2, 0.3];
    expectClose(topP(probs, 0.3), [0, 1, 0, 0], 1e-12); // 0.4 ≥ 0.3
    expectClose(topP(probs, 0.6), [0, 4 / 7, 0, 3 / 7], 1e-12); // 0.4 + 0.3 = 0.7 ≥ 0.6
    expectClose(topP(probs, 0.7), [0, 4 / 7, 0, 3 / 7], 1e-12); // reaches 0.7 exactly
    expectClose(topP(probs, 0.71), [0, 4 / 9, 2 / 9, 3 / 9], 1e-12); // needs 0.2 too; 0.1 is the tail
    expect(topP(probs, 1)).toEqual(probs);
    expect(() => topP(probs, 0)).toThrow('topP (0) must be in (0, 1]');
    // After temperature and top-k: softmax([2, 1, 0, -1]) = [0.643914, 0.236883, 0.087144, 0.032059];
    // top-k 3 → [0.665241, 0.244728, 0.090030, 0]; top-p 0.9: 0.665 + 0.245 = 0.910 ≥ 0.9 → [0.731105, 0.268895, 0, 0].
    expectClose(samplingDistribution([2, 1, 0, -1], { topK: 3 }), [0.665241, 0.244728, 0.09003, 0], 1e-6);
    expectClose(samplingDistribution([2, 1, 0, -1], { topK: 3, topP: 0.9 }), [0.731059, 0.268941, 0, 0], 1e-6);
  });

  it('sampleFrom draws by the cumulative sum, never a zero-probability id, with the right frequencies', async () => {
    const probs = [0.1, 0.4, 0.2, 0.3]; // cumulative 0.1, 0.5, 0.7, 1
    expect([0, 0.09, 0.1, 0.49, 0.5, 0.69, 0.7, 0.9999].map((u) => sampleFrom(probs, fixedDraws(u)))).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
    expect(sampleFrom([0, 0.5, 0, 0.5], fixedDraws(0))).toBe(1);
    expect(sampleFrom([0.5, 0.5, 0], fixedDraws(0.9999999999))).toBe(1);
    const random = new SeededRandom(1);
    const counts = [0, 0, 0, 0];
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[sampleFrom(probs, random)]!++;
    counts.forEach((c, i) => expect(Math.abs(c / n - probs[i]!)).toBeLessThan(0.012));
  });
});

describe('generateIds', () => {
  /**
   * The reference generator: a whole forward pass per token, plain argmax over the ids that may be
   * written (not pad or bos), and the rule the library documents: at most `limit` tokens, plus one
   * step in which eos may still end the text.
   */
  function referenceGreedy(model: ReturnType<typeof tinyDecoder>, prompt: number[], maxTokens?: number) {
    const seq = [BOS_ID, ...prompt];
    const room = MAX_LEN - seq.length;
    const limit = Math.min(maxTokens ?? room, room);
    const ids: number[] = [];
    const probs: number[] = [];
    for (;;) {
      const row = fullLogits(model, [seq])[0]![seq.length - 1]!;
      const id = plainArgmax(row, [PAD_ID, BOS_ID]);
      if (id !== EOS_ID && ids.length === limit) return { ids, probs, stop: maxTokens !== undefined && maxTokens <= room ? 'maxTokens' : 'maxLen' };
      ids.push(id);
      probs.push(plainSoftmax(row)[id]!);
      if (id === EOS_ID) return { ids, probs, stop: 'eos' };
      seq.push(id);
    }
  }

  it('temperature 0 is greedy: the argmax of the full forward at every step, with the cache or without', async () => {
    const model = tinyDecoder({}, 9, 1.2);
    const random = rng(41);
    for (const prompt of [[], randomTokens(2, random), randomTokens(5, random)]) {
      for (const maxTokens of [undefined, 3]) {
        const want = referenceGreedy(model, prompt, maxTokens);
        for (const cache of [true, false]) {
          const before = tf.memory().numTensors;
          const r = await generateIds(model, prompt, { maxTokens, cache, temperature: 0 });
          expect(tf.memory().numTensors).toBe(before);
          expect(r.ids).toEqual(want.ids);
          expect(r.stop).toBe(want.stop);
          expectClose(r.modelProbabilities, want.probs, 1e-4);
          expect(r.probabilities.every((p) => p === 1)).toBe(true);
        }
      }
    }
    model.dispose();
  });

  it('top-k 1 is greedy at any temperature; the same seed gives the same tokens, another seed others', async () => {
    const model = tinyDecoder({}, 10, 0.5);
    const prompt = randomTokens(3, rng(3));
    const greedy = await generateIds(model, prompt, { temperature: 0 });
    for (const seed of [1, 2, 3]) expect((await generateIds(model, prompt, { temperature: 1.5, topK: 1, seed })).ids).toEqual(greedy.ids);
    const before = tf.memory().numTensors;
    const a = await generateIds(model, prompt, { temperature: 1.5, seed: 42 });
    const b = await generateIds(model, prompt, { temperature: 1.5, seed: 42, cache: false });
    expect(tf.memory().numTensors).toBe(before);
    expect(a.seed).toBe(42);
    expect(b.ids).toEqual(a.ids);
    expectClose(b.probabilities, a.probabilities, 1e-4);
    const others = await Promise.all([43, 44, 45, 46].map(async (seed) => (await generateIds(model, prompt, { temperature: 1.5, seed })).ids.join(',')));
    expect(others.some((o) => o !== a.ids.join(','))).toBe(true);
    model.dispose();
  });

  it('sampled tokens and their probabilities match the model distribution; top-p never draws from the tail', async () => {
    const model = tinyDecoder({}, 11, 0.6);
    const prompt = randomTokens(2, rng(8));
    const temperature = 0.8;
    const p = 0.6;
    let tailSeen = 0;
    for (let seed = 0; seed < 12; seed++) {
      const before = tf.memory().numTensors;
      const r = await generateIds(model, prompt, { temperature, topP: p, seed });
      expect(tf.memory().numTensors).toBe(before);
      const seq = [BOS_ID, ...prompt];
      r.ids.forEach((id, i) => {
        const row = fullLogits(model, [seq])[0]![seq.length - 1]!;
        const model1 = plainSoftmax(row);
        // The nucleus by hand: softmax(logits / T) over the ids that may be written, most probable first, until the sum reaches p.
        const allowed = row.map((x, v) => (v === PAD_ID || v === BOS_ID ? -Infinity : x / temperature));
        const q = plainSoftmax(allowed);
        const order = q.map((_, v) => v).sort((x, y) => q[y]! - q[x]!);
        const nucleus: number[] = [];
        let mass = 0;
        for (const v of order) {
          nucleus.push(v);
          mass += q[v]!;
          if (mass >= p) break;
        }
        tailSeen += order.length - nucleus.length > 0 ? 1 : 0;
        expect(nucleus).toContain(id);
        expect(r.probabilities[i]).toBeCloseTo(q[id]! / mass, 4);
        expect(r.modelProbabilities[i]).toBeCloseTo(model1[id]!, 4);
        seq.push(id);
      });
    }
    expect(tailSeen).toBeGreaterThan(10); // the nucleus really did leave tokens out
    model.dispose();
  });

  it('stops at eos, at maxTokens or at maxLen, and refuses a prompt with no room', async () => {
    const model = tinyDecoder({}, 12, 0.3);
    const eosBias = tf.tidy(() => tf.add(model.outputBias.read(), tf.oneHot([EOS_ID], VOCAB).reshape([VOCAB]).mul(50)));
    const bias = model.outputBias.read().clone();
    model.outputBias.write(eosBias);
    eosBias.dispose();
    const before = tf.memory().numTensors;
    expect(await generateIds(model, [4, 5], { temperature: 0 })).toMatchObject({ ids: [EOS_ID], stop: 'eos' });
    expect(await generateIds(model, [4, 5], { temperature: 1, seed: 1 })).toMatchObject({ ids: [EOS_ID], stop: 'eos' });
    const endless = await generateIds(model, [4, 5], { temperature: 0, stopAtEos: false });
    expect(endless.stop).toBe('maxLen');
    expect(endless.ids).toHaveLength(MAX_LEN - 3);
    expect(endless.ids).not.toContain(EOS_ID);
    expect(await generateIds(model, [4, 5], { temperature: 0, stopAtEos: false, maxTokens: 4 })).toMatchObject({ stop: 'maxTokens' });
    expect((await generateIds(model, [4, 5], { temperature: 0, stopAtEos: false, maxTokens: 4 })).ids).toHaveLength(4);
    expect(tf.memory().numTensors).toBe(before);
    model.outputBias.write(bias);
    bias.dispose();
    expect((await generateIds(model, randomTokens(MAX_LEN - 2, rng(1)), { temperature: 0, stopAtEos: false })).ids).toHaveLength(1);
    await expect(generateIds(model, randomTokens(MAX_LEN - 1, rng(1)))).rejects.toThrow(new ShapeError(`a prompt of ${MAX_LEN - 1} tokens leaves no room to write in maxLen ${MAX_LEN} (at most ${MAX_LEN - 2})`));
    await expect(generateIds(model, [4], { maxTokens: 0 })).rejects.toThrow('maxTokens (0) must be a positive integer');
    model.dispose();
  });
});

describe('generateText', () => {
  const texts = ['ela derramou a água', 'o menino bebeu o leite', 'a água caiu no copo'];
  const tokenizer = Tokenizer.build('word', texts);

  function loaded(model: LoadedModel['model'], tok = tokenizer): LoadedModel {
    return { dir: 'models/mem', model, source: tok, target: tok, run: {} as RunConfig };
  }

  it('reports unknown words, cuts a long prompt at its start, and decodes the continuation', async () => {
    const model = tinyDecoder({ vocabSize: tokenizer.size }, 13, 1);
    const before = tf.memory().numTensors;
    const r = await generateText(loaded(model), 'ela derramou o vinho', { temperature: 0, maxTokens: 4 });
    expect(r.unknown).toEqual(['vinho']);
    expect(r.promptTokens).toEqual(['ela', 'derramou', 'o', '<unk>']);
    expect(r.truncated).toBe(false);
    expect(r.tokens).toEqual(r.ids.map((id) => tokenizer.vocab[id]));
    expect(r.text).toBe(tokenizer.decode(r.ids));
    expect(r.full).toBe(tokenizer.decode([...tokenizer.encode('ela derramou o vinho'), ...r.ids]));
    expect(r.ids).toEqual((await generateIds(model, tokenizer.encode('ela derramou o vinho'), { temperature: 0, maxTokens: 4 })).ids);
    const long = await generateText(loaded(model), texts.join(' '), { temperature: 0 });
    expect(long.truncated).toBe(true);
    expect(long.promptTokens).toEqual(tokenizer.tokenize(texts.join(' ')).slice(-(MAX_LEN - 2)));
    expect(long.ids.length).toBeGreaterThanOrEqual(1);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('a task vocabulary gets <sep> after the prompt', async () => {
    const tok = Tokenizer.build('char', ['abcd'], { extraSpecials: [SEP] });
    const model = tinyDecoder({ vocabSize: tok.size }, 14);
    const before = tf.memory().numTensors;
    const r = await generateText(loaded(model, tok), 'abc', { temperature: 0, maxTokens: 3 });
    expect(r.promptTokens).toEqual(['a', 'b', 'c', '<sep>']);
    expect(r.full.startsWith('abc<sep>')).toBe(true);
    expect((await generateText(loaded(model, tok), 'abc', { temperature: 0, maxTokens: 3, sep: false })).promptTokens).toEqual(['a', 'b', 'c']);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('refuses the other families with one line naming their command', async () => {
    const translator = createModel({ srcVocabSize: 8, tgtVocabSize: 8, dModel: 8, numHeads: 2, numEncoderLayers: 1, numDecoderLayers: 1, dFF: 8, maxLen: 8 });
    await expect(generateText(loaded(translator), 'ela')).rejects.toThrow(new UsageError("models/mem is an encoder-decoder model: use 'atencao translate' (generate needs a decoder model)"));
    await expect(generateIds(createModel({ arch: 'encoder', vocabSize: 8, dModel: 8, numHeads: 2, numLayers: 1, dFF: 8, maxLen: 8 }), [4])).rejects.toThrow(UsageError);
    translator.dispose();
  });
});

describe('atencao generate', () => {
  const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  let root: string;
  let gpt: string;
  let translator: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'atencao-generate-'));
    const text = join(root, 'pt.txt');
    const subjects = ['Ela', 'O menino', 'A mulher', 'Ele'];
    const objects = ['a água', 'o leite', 'o suco', 'o café'];
    const places = ['no copo', 'na jarra', 'na mesa', 'no chão'];
    writeFileSync(text, subjects.flatMap((s) => objects.flatMap((o) => places.map((p) => `${s} derramou ${o} ${p} .`))).join('\n'));
    gpt = join(root, 'gpt');
    translator = join(root, 'translator');
    const training = { steps: 20, batchSize: 16, lr: 5e-3, warmup: 5, schedule: 'noam' as const, labelSmoothing: 0, clip: 1, validEvery: 20, seed: 1 };
    await startRun({ out: gpt, arch: 'decoder', data: { kind: 'text', file: text, tokenizer: 'word', validFraction: 0.1 }, model: { dModel: 16, numHeads: 2, numLayers: 1, dFF: 32, dropout: 0 }, training, backend: 'wasm', workers: 1 }, quiet);
    const pairs = join(root, 'pairs.tsv');
    writeFileSync(pairs, objects.map((o, i) => `${o}\t${['the water', 'the milk', 'the juice', 'the coffee'][i]}`).join('\n'));
    await startRun({ out: translator, data: { kind: 'corpus', file: pairs, tokenizer: 'word', validFraction: 0.25 }, model: { dModel: 8, numHeads: 2, numEncoderLayers: 1, numDecoderLayers: 1, dFF: 8, dropout: 0 }, training: { ...training, steps: 1, validEvery: 1 }, backend: 'wasm', workers: 1 }, quiet);
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('--json prints tokens, ids, both probabilities and why it stopped, the same as the library', async () => {
    const r = run('generate', '--model', gpt, '--prompt', 'Ela derramou', '--max-tokens', '5', '--temperature', '0.9', '--top-k', '5', '--seed', '3', '--json', '--backend', 'wasm');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^backend: wasm/);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(out).sort()).toEqual(['full', 'ids', 'modelProbabilities', 'probabilities', 'prompt', 'promptTokens', 'seed', 'stop', 'text', 'tokens', 'truncated', 'unknown'].sort());
    expect(out).toMatchObject({ prompt: 'Ela derramou', promptTokens: ['Ela', 'derramou'], unknown: [], truncated: false, seed: 3 });
    const ids = out.ids as number[];
    expect(ids.length).toBeGreaterThanOrEqual(1);
    expect(ids.length).toBeLessThanOrEqual(5);
    expect((out.probabilities as number[]).every((p) => p > 0 && p <= 1)).toBe(true);
    expect(['eos', 'maxTokens']).toContain(out.stop);
    const model = await loadModelDir(gpt);
    const same = await generateText(model, 'Ela derramou', { maxTokens: 5, temperature: 0.9, topK: 5, seed: 3 });
    expect(ids).toEqual(same.ids);
    expect(out.tokens).toEqual(same.tokens);
    expect(out.full).toBe(same.full);
    model.model.dispose();
  });

  it('prints the text, takes the prompt as an argument, writes --samples and warns about unknown words', async () => {
    const r = run('generate', '--model', gpt, 'Ela', 'derramou', 'vinho', '--temperature', '1', '--samples', '2', '--seed', '5', '--backend', 'wasm');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    lines.forEach((l) => expect(l.startsWith('Ela derramou <unk>')).toBe(true));
    expect(r.stderr).toContain('warning: words the model never saw in training, read as <unk>: vinho');
    const long = run('generate', '--model', gpt, '--prompt', 'Ela derramou a água no copo . '.repeat(4), '--backend', 'wasm', '--json');
    expect(long.status, long.stderr).toBe(0);
    expect(long.stderr).toMatch(/warning: the prompt is longer than the \d+ tokens the model's maxLen \(\d+\) leaves room for; only its last \d+ were read/);
    expect(JSON.parse(long.stdout)).toMatchObject({ truncated: true });
  });

  it('refuses an encoder-decoder folder, and bad flags, with one line and exit code 2', async () => {
    const r = run('generate', '--model', translator, 'abc', '--backend', 'wasm');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`atencao: ${translator} is an encoder-decoder model: use 'atencao translate' (generate needs a decoder model)`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    for (const [args, message] of [
      [['--prompt', 'a', 'b'], 'give the prompt once'],
      [[], 'nothing to continue'],
      [['x', '--top-k', '3'], 'give a --temperature above 0 too'],
      [['x', '--temperature', '-1'], '--temperature (-1) must be in [0, 100]'],
      [['x', '--top-p', '0', '--temperature', '1'], '--top-p (0) must be in (0, 1]'],
      [['x', '--max-tokens', '0'], '--max-tokens (0) must be a positive integer'],
    ] as const) {
      const bad = run('generate', '--model', gpt, ...args);
      expect(bad.status, args.join(' ')).toBe(2);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
      expect(bad.stderr).toContain(message);
    }
  });

  it('--help shows examples', async () => {
    const r = run('generate', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('--top-p');
  });
});

describe('walkthrough 05', () => {
  it('trains a decoder on copy, shows the offset diagonal, writes the SVG and generates with the cache', async () => {
    const TSX = new URL('../node_modules/.bin/tsx', import.meta.url).pathname;
    const ROOT = new URL('..', import.meta.url).pathname;
    const out = mkdtempSync(join(tmpdir(), 'atencao-05-'));
    const r = spawnSync(TSX, ['scripts/05-gpt-continuation.ts', '--fast', '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/offset diagonal: [01]\.\d\d of the attention of layer \d, head \d goes to key = query − 10/);
    expect(r.stdout).toMatch(/check: the cache gives the full recompute's logits \(max difference \d\.\de[-+]\d+; tensors (\d+) → \1\)/);
    expect(r.stdout.match(/^\s+(1|10|20)\s+\d+%\s+head \d: [01]\.\d\d$/gm)).toHaveLength(3);
    expect(existsSync(join(out, 'causal-attention.svg'))).toBe(true);
    expect(readFileSync(join(out, 'causal-attention.svg'), 'utf8')).toContain('<svg');
    rmSync(out, { recursive: true, force: true });
  });
});
