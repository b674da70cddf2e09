import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModel } from '../src/model/create.js';
import type { EncoderOnly } from '../src/model/encoder-only.js';
import { loadModelFiles } from '../src/model/load-files.js';
import { CONTAINERS, generatePtEn, generateReferent, referentNouns, referentSentence, REFERENT_LABELS, SEED_PAIRS, type ReferentCase } from '../src/data/pt-en.js';
import { BOS_ID, EOS_ID, MASK, PAD_ID, Tokenizer } from '../src/data/tokenizer.js';
import { classifyText, classifyTexts, fillMask } from '../src/infer/classify.js';
import { loadModelDir, type LoadedModel } from '../src/infer/load.js';
import { readTokenizers } from '../src/io/model-dir.js';
import { initFrom } from '../src/train/init.js';
import { prepareData } from '../src/train/prepare-data.js';
import { maskTokens, MASK_RATE } from '../src/train/prepare/masked.js';
import { startRun } from '../src/train/run.js';
import { Random } from '../src/util/random.js';
import type { ModelArgs, TrainingArgs } from '../src/train/defaults.js';
import { describeEachBackend, expectClose, rng } from './helpers.js';

const ROOT = new URL('..', import.meta.url).pathname;
const TSX = new URL('../node_modules/.bin/tsx', import.meta.url).pathname;
const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
const quiet = { info: () => undefined, warn: () => undefined };

/** Every weight set to seeded values in [-0.5, 0.5), so no head starts uniform or zero. */
function randomize(model: EncoderOnly, seed: number): void {
  const random = rng(seed);
  for (const [, v] of model.namedWeights()) {
    const t = tf.tensor(Array.from({ length: v.read().size }, () => random() - 0.5), v.shape as number[]);
    v.write(t);
    t.dispose();
  }
}

function tinyEncoder(numClasses: number): EncoderOnly {
  const model = createModel({ arch: 'encoder', vocabSize: 12, dModel: 8, numHeads: 2, numLayers: 2, dFF: 16, dropout: 0, maxLen: 10, numClasses }, { seed: 5 });
  randomize(model, 11);
  return model;
}

function rowsOf(t: tf.Tensor, row: number, length: number): number[] {
  return tf.tidy(() => Array.from(tf.slice(t, [row, 0], [1, length]).dataSync()));
}

describeEachBackend('encoder outputs do not depend on padding', () => {
  const short = [BOS_ID, 5, 6, 7, EOS_ID];
  const long = [BOS_ID, 4, 8, 9, 10, 11, 3, EOS_ID];
  const batch = () => tf.tensor2d([[...short, PAD_ID, PAD_ID, PAD_ID], long], undefined, 'int32');

  it('hidden states and masked-LM logits at real tokens: alone vs padded beside a longer sequence', async () => {
    const model = tinyEncoder(3);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const alone = model.encode(tf.tensor2d([short], undefined, 'int32')).hidden; // (1, 5, d)
      const longAlone = model.encode(tf.tensor2d([long], undefined, 'int32')).hidden; // (1, 8, d)
      const padded = model.encode(batch()).hidden; // (2, 8, d)
      expectClose(rowsOf(padded, 0, short.length), Array.from(alone.dataSync()), 1e-5);
      expectClose(rowsOf(padded, 1, long.length), Array.from(longAlone.dataSync()), 1e-5);
      const logitsAlone = model.predictTokens(alone); // (1, 5, V)
      const logitsPadded = model.score({ kind: 'masked-lm', ids: batch(), targets: tf.zeros([2, 8], 'int32') }).logits; // (2, 8, V)
      expectClose(rowsOf(logitsPadded, 0, short.length), Array.from(logitsAlone.dataSync()), 1e-5);
    });
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('classification logits: alone vs padded, and the classifier reads [CLS] as a plain dot product', async () => {
    const model = tinyEncoder(3);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const labels = tf.zeros([1], 'int32') as tf.Tensor1D;
      const alone = Array.from(model.score({ kind: 'classify', ids: tf.tensor2d([short], undefined, 'int32'), labels }).logits.dataSync()); // (1, C)
      const padded = model.score({ kind: 'classify', ids: batch(), labels: tf.zeros([2], 'int32') as tf.Tensor1D }).logits; // (2, C)
      expectClose(Array.from(padded.dataSync()).slice(0, 3), alone, 1e-5);
      // Reference: [CLS] vector · kernel + bias, in plain loops.
      const cls = Array.from(model.encode(tf.tensor2d([short], undefined, 'int32')).hidden.dataSync()).slice(0, 8);
      const kernel = model.classifierKernel!.read().arraySync() as number[][];
      const bias = Array.from(model.classifierBias!.read().dataSync());
      const expected = bias.map((b, c) => b + cls.reduce((s, x, i) => s + x * kernel[i]![c]!, 0));
      expectClose(alone, expected, 1e-5);
    });
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('masked-LM corruption', () => {
  const tokenizer = Tokenizer.build('word', ['a b c d e f g h'], { extraSpecials: [MASK] });
  const mask = tokenizer.special(MASK);

  /** A Random whose draws are given in advance, to check corruption by hand. */
  class Scripted extends Random {
    constructor(private readonly draws: number[]) {
      super(0);
    }
    override next(): number {
      const d = this.draws.shift();
      if (d === undefined) throw new Error('more draws than scripted');
      return d;
    }
  }

  it('chooses positions below the 15% threshold, then masks (r < 0.8), replaces (r < 0.9) or keeps them', async () => {
    expect(MASK_RATE).toBe(0.15);
    expect(tokenizer.reserved).toBe(5); // pad, bos, eos, unk, mask
    expect(mask).toBe(4);
    const ids = [5, 6, 7, 8, 9];
    // Choice draws for the five tokens: 1st, 3rd and 4th are below 0.15.
    // Then per chosen token: 0.79 → mask; 0.85 → random (next draw 0.5 → 5 + floor(0.5·8) = 9); 0.95 → kept.
    const random = new Scripted([0.1, 0.5, 0.149, 0.0, 0.99, 0.79, 0.85, 0.5, 0.95]);
    const { src, tgt } = maskTokens(ids, tokenizer, random);
    expect(tokenizer.size).toBe(13);
    expect(src).toEqual([BOS_ID, mask, 6, 9, 8, 9, EOS_ID]);
    expect(tgt).toEqual([PAD_ID, 5, PAD_ID, 7, 8, PAD_ID, PAD_ID]);
  });

  it('masks one token when the draws choose none', async () => {
    // No draw below 0.15; the fallback picks 1 + floor(0.7·3) = position 3, and 0.1 masks it.
    const { src, tgt } = maskTokens([5, 6, 7], tokenizer, new Scripted([0.5, 0.5, 0.5, 0.7, 0.1]));
    expect(src).toEqual([BOS_ID, 5, 6, mask, EOS_ID]);
    expect(tgt).toEqual([PAD_ID, PAD_ID, PAD_ID, 7, PAD_ID]);
  });

  it('over many draws: 15% of tokens (plus the one forced when none is chosen), split 80/10/10, never [CLS] or eos', async () => {
    const big = Tokenizer.build('word', [Array.from({ length: 1000 }, (_, i) => `w${i}`).join(' ')], { extraSpecials: [MASK] });
    const m = big.special(MASK);
    const real = big.size - big.reserved;
    const random = new Random(7);
    const pick = rng(3);
    for (const length of [1, 2, 20]) {
      let chosen = 0;
      let masked = 0;
      let replaced = 0;
      let kept = 0;
      const n = length === 20 ? 20000 : 40000;
      let wrong = 0; // any corruption that breaks the rules (counted, then checked once: expect() is slow in loops)
      for (let s = 0; s < n; s++) {
        const ids = Array.from({ length }, () => big.reserved + Math.floor(pick() * real));
        const { src, tgt } = maskTokens(ids, big, random);
        if (src[0] !== BOS_ID || src[length + 1] !== EOS_ID || tgt[0] !== PAD_ID || tgt[length + 1] !== PAD_ID) wrong++;
        let here = 0;
        for (let i = 1; i <= length; i++) {
          if (tgt[i] === PAD_ID) {
            if (src[i] !== ids[i - 1]) wrong++;
            continue;
          }
          here++;
          if (tgt[i] !== ids[i - 1]) wrong++;
          if (src[i] === m) masked++;
          else if (src[i] === ids[i - 1]) kept++;
          else {
            replaced++;
            if (src[i]! < big.reserved) wrong++;
          }
        }
        if (here === 0) wrong++;
        chosen += here;
      }
      expect(wrong).toBe(0);
      // Expected chosen per sequence: 0.15·L, plus 1 when the L draws choose none (0.85^L).
      const expected = MASK_RATE * length + (1 - MASK_RATE) ** length;
      expect(Math.abs(chosen / n - expected), `length ${length}`).toBeLessThan(0.01 * Math.max(1, expected));
      // A random replacement equal to the original counts as kept: 0.1/real of the chosen.
      expect(Math.abs(masked / chosen - 0.8)).toBeLessThan(0.01);
      expect(Math.abs(replaced / chosen - 0.1 * (1 - 1 / real))).toBeLessThan(0.01);
      expect(Math.abs(kept / chosen - (0.1 + 0.1 / real))).toBeLessThan(0.01);
    }
  });

  it('prepared data: validation masked once and the same every time, training masks fixed by step and new each step', async () => {
    const a = prepareData({ kind: 'pt', size: 300 }, { arch: 'encoder', seed: 3 }, quiet);
    const b = prepareData({ kind: 'pt', size: 300 }, { arch: 'encoder', seed: 3 }, quiet);
    expect(a.objective).toBe('masked-lm');
    expect(a.valid).toEqual(b.valid);
    expect(a.train.batchAt(5, 16)).toEqual(b.train.batchAt(5, 16));
    const originals = generatePtEn({ seed: 3, size: 300 }).valid.map((p) => a.source.encode(p.source));
    const m = a.source.special(MASK);
    let chosen = 0;
    let tokens = 0;
    a.valid.forEach((p, i) => {
      const ids = originals[i]!;
      expect(p.src.length).toBe(ids.length + 2);
      expect(p.src[0]).toBe(BOS_ID);
      expect(p.src.at(-1)).toBe(EOS_ID);
      const scored = p.tgt.flatMap((t, j) => (t === PAD_ID ? [] : [j]));
      expect(scored.length).toBeGreaterThanOrEqual(1);
      for (let j = 1; j <= ids.length; j++) {
        if (p.tgt[j] === PAD_ID) expect(p.src[j]).toBe(ids[j - 1]);
        else expect(p.tgt[j]).toBe(ids[j - 1]);
      }
      chosen += scored.length;
      tokens += ids.length;
      expect(p.src.filter((t) => t === m).length).toBeLessThanOrEqual(scored.length);
    });
    expect(chosen / tokens).toBeGreaterThan(0.13);
    expect(chosen / tokens).toBeLessThan(0.19);
    // The same sentences at another step are masked afresh (dynamic masking).
    const perEpoch = a.train.batchesPerEpoch!(16);
    const key = (items: { src: number[] }[]) => items.map((p) => p.src.join(',')).sort();
    const first = a.train.batchAt(0, 16);
    const again = a.train.batchAt(perEpoch, 16);
    expect(first.length).toBe(16);
    expect(new Set([...key(first), ...key(again)]).size).toBeGreaterThan(16);
  });

  it('a text file (--data): lines masked as above, its hash recorded, a change reported when the run continues', async () => {
    const { createHash } = await import('node:crypto');
    const { writeFileSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'atencao-mlm-text-'));
    const file = join(dir, 'lines.txt');
    const lines = Array.from({ length: 60 }, (_, i) => `linha ${i % 7} com ${i % 5} palavras`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const spec = { kind: 'text' as const, file, tokenizer: 'word' as const };
    const a = prepareData(spec, { arch: 'encoder', seed: 2 }, quiet);
    expect(a.objective).toBe('masked-lm');
    expect(a.provenance.sha256?.train).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    expect(a.valid.length + a.provenance.trainPairs!).toBe(60);
    for (const p of [...a.valid, ...a.train.batchAt(0, 8)]) {
      expect(p.src.length).toBe(7); // [CLS], five words, eos
      expect(p.tgt.filter((t) => t !== PAD_ID).length).toBeGreaterThanOrEqual(1);
    }
    writeFileSync(file, `${lines.join('\n')}\nmais uma linha\n`);
    const warnings: string[] = [];
    prepareData(spec, { arch: 'encoder', seed: 2, tokenizers: { source: a.source, target: a.target }, expect: a.provenance }, { info: () => undefined, warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([`${file} changed since this run started; training continues on its current content`]);
    rmSync(dir, { recursive: true, force: true });
  });
});

/** Gender of each written adjective form, by hand. */
const ADJECTIVE_GENDER: Record<string, 'f' | 'm'> = { cheia: 'f', vazia: 'f', limpa: 'f', suja: 'f', cheio: 'm', vazio: 'm', limpo: 'm', sujo: 'm' };
const SENTENCE = /^(?:Ela|Ele|A menina|O menino|A mulher|O homem) (?:derramou|despejou) \S+ (da|do) (\S+) para (a|o) (\S+) até que ficasse (\S+)\.$/;

/** The label a reader of the sentence gives: the container whose article agrees with the adjective. */
function labelByHand(sentence: string): { label: 'from' | 'into'; from: string; into: string; adjective: string } {
  const m = SENTENCE.exec(sentence);
  if (!m) throw new Error(`not a referent sentence: ${sentence}`);
  const [, fromArticle, from, intoArticle, into, adjective] = m as unknown as string[];
  const fromGender = fromArticle === 'da' ? 'f' : 'm';
  const intoGender = intoArticle === 'a' ? 'f' : 'm';
  expect(fromGender).not.toBe(intoGender);
  const gender = ADJECTIVE_GENDER[adjective!];
  expect(gender, adjective).toBeDefined();
  return { label: gender === fromGender ? 'from' : 'into', from: from!, into: into!, adjective: adjective! };
}

describe('referent classification data', () => {
  const corpus = generateReferent({ seed: 1, size: 3000 });
  const all: ReferentCase[] = [...corpus.train, ...corpus.valid, ...corpus.test];
  const pairKey = (a: string, b: string) => [a, b].sort().join('+');

  it('labels the seed sentences and hand-written examples as a reader would', async () => {
    expect(REFERENT_LABELS).toEqual(['from', 'into']);
    expect(SEED_PAIRS.map((c) => [c.source, c.referent])).toEqual([
      ['Ela derramou água da jarra para o copo até que ficasse cheio.', 'into'],
      ['Ela derramou água da jarra para o copo até que ficasse vazia.', 'from'],
    ]);
    const odd = referentSentence({ from: 'jarra', into: 'copo', referent: 'from', state: 'full' });
    expect([odd.source, odd.referent, odd.adjective]).toEqual(['Ela derramou água da jarra para o copo até que ficasse cheia.', 'from', 'cheia']);
    const clean = referentSentence({ subject: 'O menino', verb: 'despejou', liquid: 'leite', from: 'balde', into: 'caneca', referent: 'into', state: 'clean' });
    expect([clean.source, clean.referent]).toEqual(['O menino despejou leite do balde para a caneca até que ficasse limpa.', 'into']);
    expect(() => referentSentence({ from: 'jarra', into: 'copo', referent: 'into', state: 'small' })).toThrow(/unknown state 'small'/);
    expect(referentNouns(clean.source)).toEqual({ from: 'balde', into: 'caneca' });
    expect(referentNouns('Ele lavou o balde.')).toBeUndefined();
    expect(corpus.train.map((c) => c.source)).toEqual(expect.arrayContaining(SEED_PAIRS.map((c) => c.source)));
  });

  it('every label matches the grammar, and each adjective meaning occurs with both labels (only its gender decides)', async () => {
    const combos = new Map<string, number>();
    for (const c of all) {
      const byHand = labelByHand(c.source);
      expect(c.referent, c.source).toBe(byHand.label);
      expect([c.from, c.into]).toEqual([byHand.from, byHand.into]);
      const meaning = byHand.adjective.replace(/[ao]$/, '');
      combos.set(`${meaning}/${byHand.label}`, (combos.get(`${meaning}/${byHand.label}`) ?? 0) + 1);
    }
    expect([...combos.keys()].sort()).toEqual(['chei/from', 'chei/into', 'limp/from', 'limp/into', 'suj/from', 'suj/into', 'vazi/from', 'vazi/into']);
    const shares = REFERENT_LABELS.map((l) => corpus.train.filter((c) => c.referent === l).length / corpus.train.length);
    shares.forEach((s) => expect(Math.abs(s - 0.5)).toBeLessThan(0.05));
    expect(new Set(all.map((c) => c.source)).size).toBe(all.length);
  });

  it('test pairs never occur together in training or validation, here or in the pt-en corpus of the same seed', async () => {
    const seen = new Set([...corpus.train, ...corpus.valid].map((c) => pairKey(c.from, c.into)));
    const held = new Set(corpus.heldOutPairs.map(([f, m]) => pairKey(f, m)));
    expect(held.size).toBe(13); // 20% of the 8 × 8 feminine–masculine pairs
    for (const c of corpus.test) {
      expect(held.has(pairKey(c.from, c.into)), c.source).toBe(true);
      expect(seen.has(pairKey(c.from, c.into)), c.source).toBe(false);
    }
    const genders = new Map(CONTAINERS.map((c) => [c.pt, c.gender]));
    for (const [f, m] of corpus.heldOutPairs) expect([genders.get(f), genders.get(m)]).toEqual(['f', 'm']);
    // A masked LM pre-trained on the pt-en corpus of the same seed never read a held-out pair together.
    const ptEn = generatePtEn({ seed: 1 });
    const ptPairs = [...ptEn.train, ...ptEn.valid].flatMap((p) => {
      const n = p.source.includes('até que ficasse') ? referentNouns(p.source) : undefined;
      return n ? [pairKey(n.from, n.into)] : [];
    });
    expect(ptPairs.length).toBeGreaterThan(3000);
    expect(ptPairs.filter((k) => held.has(k))).toEqual([]);
    expect(ptEn.heldOutReferent.every((c) => held.has(pairKey(c.from, c.into)))).toBe(true);
  });

  it('is the same for the same seed, and the pt-en corpus it shares a grammar with is unchanged', async () => {
    expect(generateReferent({ seed: 1, size: 3000 })).toEqual(corpus);
    expect(generateReferent({ seed: 2, size: 3000 }).test).not.toEqual(corpus.test);
    const { createHash } = await import('node:crypto');
    const digest = createHash('sha256').update(JSON.stringify(generatePtEn())).digest('hex');
    expect(digest).toBe(PT_EN_DIGEST);
  });

  it('prepared data: [CLS] sentence eos labelled 0 (from) or 1 (into), class names recorded, the vocabulary of --init reused', async () => {
    const prepared = prepareData({ kind: 'referent', size: 400 }, { arch: 'encoder', seed: 1 }, quiet);
    expect(prepared.objective).toBe('classify');
    expect(prepared.labels).toEqual(['from', 'into']);
    expect(prepared.provenance.labels).toEqual(['from', 'into']);
    expect(prepared.provenance.arch).toBe('encoder');
    const raw = generateReferent({ seed: 1, size: 400 });
    expect(prepared.test!.length).toBe(raw.test.length);
    prepared.test!.forEach((p, i) => {
      expect(p.src).toEqual([BOS_ID, ...prepared.source.encode(raw.test[i]!.source), EOS_ID]);
      expect(p.tgt).toEqual([labelByHand(raw.test[i]!.source).label === 'from' ? 0 : 1]);
    });
    expect(prepared.source.extraSpecials).toContain(MASK);
    // Fine-tuning: the given vocabulary is used as it is, and missing words are reported.
    const vocabulary = Tokenizer.build('word', ['Ela derramou água da jarra para o copo até que ficasse cheio .'], { extraSpecials: [MASK] });
    const warnings: string[] = [];
    const tuned = prepareData({ kind: 'referent', size: 400 }, { arch: 'encoder', seed: 1, tokenizers: { source: vocabulary, target: vocabulary } }, { info: () => undefined, warn: (m) => warnings.push(m) });
    expect(tuned.source).toBe(vocabulary);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^\d+ words of the referent sentences are not in the vocabulary the run starts from \(read as <unk>\): /);
  });
});

/** sha256 of JSON.stringify(generatePtEn()): the translation corpus must not change. */
const PT_EN_DIGEST = '9f0fa8aa1b5f9631c17ecaf2b993060e07e00691bd7979c7c2c9b64351e9504d';

describe('classify and fill-mask on small trained folders', () => {
  const tiny: ModelArgs = { dModel: 16, numHeads: 2, numLayers: 1, dFF: 32, dropout: 0 };
  const training: TrainingArgs = { steps: 4, batchSize: 16, lr: 2e-3, warmup: 2, schedule: 'noam', labelSmoothing: 0, clip: 1, validEvery: 4, seed: 1 };
  let root: string;
  let mlmDir: string;
  let clsDir: string;
  let infos: string[];
  let mlm: LoadedModel;
  let cls: LoadedModel;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'atencao-encoder-'));
    mlmDir = join(root, 'mlm');
    clsDir = join(root, 'referent');
    await startRun({ out: mlmDir, arch: 'encoder', data: { kind: 'pt' }, model: tiny, training, backend: 'wasm', workers: 1 }, quiet);
    infos = [];
    await startRun(
      { out: clsDir, arch: 'encoder', data: { kind: 'referent', size: 400 }, model: tiny, training: { ...training, init: mlmDir }, backend: 'wasm', workers: 1 },
      { info: (m) => infos.push(m), warn: (m) => infos.push(`warning: ${m}`) },
    );
    mlm = await loadModelDir(mlmDir);
    cls = await loadModelDir(clsDir);
  });

  afterAll(() => {
    mlm?.model.dispose();
    cls?.model.dispose();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('fine-tuning keeps the pre-trained vocabulary and says how many weights it copied', async () => {
    expect(readFileSync(join(clsDir, 'tokenizer.json'), 'utf8')).toBe(readFileSync(join(mlmDir, 'tokenizer.json'), 'utf8'));
    expect(cls.labels).toEqual(['from', 'into']);
    const weights = cls.model.trainableWeights.length;
    // Everything but the classifier's kernel and bias.
    expect(infos).toContain(infos.find((m) => m.startsWith(`initialised ${weights - 2} of ${weights} weights`)));
    expect(infos.filter((m) => m.startsWith('warning:'))).toEqual([]);
  });

  it('initFrom copies exactly the weights with the same path and shape and leaves the new classifier as initialised', async () => {
    const { source } = readTokenizers(mlmDir);
    const model = createModel({ arch: 'encoder', vocabSize: source.size, numClasses: 2, maxLen: 16, ...tiny } as never, { seed: 9 }) as unknown as EncoderOnly;
    const fresh = new Map(model.namedWeights().map(([path, v]) => [path, Array.from(v.read().dataSync())]));
    const saved = loadModelFiles(mlmDir);
    const savedWeights = new Map(saved.namedWeights().map(([path, v]) => [path, Array.from(v.read().dataSync())]));
    saved.dispose();
    const before = tf.memory().numTensors;
    const copied = initFrom(model, mlmDir);
    expect(tf.memory().numTensors).toBe(before);
    const paths = model.namedWeights().map(([p]) => p);
    const shared = paths.filter((p) => savedWeights.has(p));
    expect(copied.weights).toBe(shared.length);
    expect(paths.filter((p) => !savedWeights.has(p)).sort()).toEqual(['classifier_bias', 'classifier_kernel']);
    for (const [path, v] of model.namedWeights()) {
      const now = Array.from(v.read().dataSync());
      if (savedWeights.has(path)) expect(now, path).toEqual(savedWeights.get(path));
      else expect(now, path).toEqual(fresh.get(path));
    }
    expect(copied.parameters).toBe(shared.reduce((n, p) => n + savedWeights.get(p)!.length, 0));
    const kernel = fresh.get('classifier_kernel')!;
    expect(kernel.some((x) => x !== 0)).toBe(true);
    model.dispose();
  });

  it('classifyText: probabilities are the softmax of [CLS] · kernel + bias, and name the referent noun', async () => {
    const text = SEED_PAIRS[0]!.source;
    let result!: Awaited<ReturnType<typeof classifyText>>;
    const before = tf.memory().numTensors;
    result = await classifyText(cls, text);
    expect(tf.memory().numTensors).toBe(before);
    const model = cls.model as EncoderOnly;
    const ids = [BOS_ID, ...cls.source.encode(text), EOS_ID];
    const logits = tf.tidy(() => {
      const hidden = model.encode(tf.tensor2d([ids], undefined, 'int32')).hidden.arraySync() as number[][][];
      const k = model.classifierKernel!.read().arraySync() as number[][];
      const b = Array.from(model.classifierBias!.read().dataSync());
      return b.map((bias, c) => bias + hidden[0]![0]!.reduce((s, x, i) => s + x * k[i]![c]!, 0));
    });
    const z = logits.map((l) => Math.exp(l - Math.max(...logits)));
    const p = z.map((x) => x / z.reduce((a, b) => a + b, 0));
    expect(Object.keys(result.probabilities)).toEqual(['from', 'into']);
    expectClose([result.probabilities.from!, result.probabilities.into!], p, 1e-5);
    expect(result.label).toBe(p[0]! > p[1]! ? 'from' : 'into');
    expect(result.noun).toBe(result.label === 'from' ? 'jarra' : 'copo');
    expect(result).toMatchObject({ text, unknown: [], truncated: false });
  });

  it('classifyTexts: a batch (padded) gives what each sentence gives alone', async () => {
    const texts = ['Ela derramou água da jarra para o copo até que ficasse vazia.', 'A menina despejou leite do balde para a caneca até que ficasse limpa.', 'Ela derramou água.'];
    const before = tf.memory().numTensors;
    const together = await classifyTexts(cls, texts, { batchSize: 3 });
    const alone = await Promise.all(texts.map((t) => classifyText(cls, t)));
    expect(tf.memory().numTensors).toBe(before);
    together.forEach((r, i) => expectClose(Object.values(r.probabilities), Object.values(alone[i]!.probabilities), 1e-5));
    expect(together[2]!.noun).toBeUndefined();
    expect((await classifyText(cls, 'Ela derramou xyzzy da jarra para o copo.')).unknown).toEqual(['xyzzy']);
    await expect(classifyTexts(cls, texts, { batchSize: 0 })).rejects.toThrow(/batchSize \(0\) must be a positive integer/);
    const long = `${'Ela derramou água '.repeat(10)}.`;
    expect((await classifyText(cls, long)).truncated).toBe(true);
  });

  it('classify refuses an encoder without classes and a folder of another family, in one line', async () => {
    await expect(classifyText(mlm, 'Ela derramou água.')).rejects.toThrow(/is a masked language model without classes: use 'atencao fill-mask'/);
    const translator = await loadModelDir(join(ROOT, 'models/pt-en'));
    try {
      await expect(classifyText(translator, 'Ela derramou água.')).rejects.toThrow(/is an encoder-decoder model: use 'atencao translate' \(classify needs an encoder model\)/);
      await expect(fillMask(translator, 'Ela derramou [MASK].')).rejects.toThrow(/fill-mask needs an encoder model/);
    } finally {
      translator.model.dispose();
    }
  });

  it('fillMask: candidates are the top words of the softmax at each [MASK], reserved tokens excluded', async () => {
    const text = 'Ela derramou água da [MASK] para o [MASK].';
    const before = tf.memory().numTensors;
    const r = await fillMask(mlm, text, { topK: 4 });
    expect(tf.memory().numTensors).toBe(before);
    const tok = mlm.source;
    const m = tok.special(MASK);
    const ids = [BOS_ID, ...tok.encode('Ela derramou água da'), m, ...tok.encode('para o'), m, ...tok.encode('.'), EOS_ID];
    expect(r.tokens).toEqual(ids.map((id) => tok.vocab[id]));
    expect(r.masks.map((x) => x.position)).toEqual([5, 8]);
    const model = mlm.model as EncoderOnly;
    const logits = tf.tidy(() => model.predictTokens(model.encode(tf.tensor2d([ids], undefined, 'int32')).hidden).arraySync() as number[][][])[0]!;
    r.masks.forEach((mask) => {
      const row = logits[mask.position]!;
      const top = Math.max(...row);
      const z = row.map((l) => Math.exp(l - top));
      const sum = z.reduce((a, b) => a + b, 0);
      const expected = z
        .map((x, id) => ({ id, p: x / sum }))
        .filter(({ id }) => id >= tok.reserved)
        .sort((a, b) => b.p - a.p)
        .slice(0, 4);
      expect(mask.candidates.map((c) => c.id)).toEqual(expected.map((e) => e.id));
      expectClose(mask.candidates.map((c) => c.probability), expected.map((e) => e.p), 1e-5);
      expect(mask.candidates.map((c) => c.token)).toEqual(expected.map((e) => tok.vocab[e.id]));
    });
    expect(r.filled).toBe(`Ela derramou água da ${r.masks[0]!.candidates[0]!.token} para o ${r.masks[1]!.candidates[0]!.token}.`);
    await expect(fillMask(mlm, 'Ela derramou água.')).rejects.toThrow(/the text has no \[MASK\] to fill/);
    await expect(fillMask(mlm, 'Ela [MASK].', { topK: 0 })).rejects.toThrow(/topK \(0\) must be a positive integer/);
    // Any encoder has a masked-LM head, the classifier too.
    expect((await fillMask(cls, 'Ela derramou água da [MASK] para o copo.')).masks).toHaveLength(1);
  });

  describe('command line', () => {
    // The built command, as users run it (the test script builds first).
    const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, input: '' });

    it('classify --json prints label, probabilities and noun; fill-mask --json prints candidates per mask', async () => {
      const c = cli('classify', '--model', clsDir, '--json', '--backend', 'wasm', SEED_PAIRS[0]!.source, SEED_PAIRS[1]!.source);
      expect(c.status, c.stderr).toBe(0);
      const rows = c.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(rows).toHaveLength(2);
      const lib = await classifyTexts(cls, [SEED_PAIRS[0]!.source, SEED_PAIRS[1]!.source]);
      rows.forEach((row, i) => {
        expect(Object.keys(row).sort()).toEqual(['label', 'noun', 'probabilities', 'text', 'truncated', 'unknown']);
        expect(row.label).toBe(lib[i]!.label);
        expect(row.noun).toBe(lib[i]!.noun);
        expectClose(Object.values(row.probabilities as Record<string, number>), Object.values(lib[i]!.probabilities), 1e-5);
      });
      const plain = cli('classify', '--model', clsDir, '--backend', 'wasm', SEED_PAIRS[0]!.source);
      expect(plain.status, plain.stderr).toBe(0);
      expect(plain.stdout).toMatch(/^(from \(jarra\)|into \(copo\))\tfrom \d+\.\d%  into \d+\.\d%\n$/);
      const f = cli('fill-mask', '--model', mlmDir, '--json', '--top-k', '3', '--backend', 'wasm', 'Ela derramou água da [MASK] para o copo.');
      expect(f.status, f.stderr).toBe(0);
      const fill = JSON.parse(f.stdout) as { masks: { position: number; candidates: { token: string; probability: number }[] }[]; filled: string };
      expect(fill.masks).toHaveLength(1);
      expect(fill.masks[0]!.candidates).toHaveLength(3);
      expect(fill.filled).toBe(`Ela derramou água da ${fill.masks[0]!.candidates[0]!.token} para o copo.`);
    });

    it('refusals are one line with exit code 2, and both commands have --help with examples', async () => {
      const cases: [string[], RegExp][] = [
        [['classify', '--model', mlmDir, 'Ela derramou água.'], /masked language model without classes: use 'atencao fill-mask'/],
        [['classify', '--model', join(ROOT, 'models/pt-en'), 'Ela derramou água.'], /is an encoder-decoder model: use 'atencao translate'/],
        [['fill-mask', '--model', join(ROOT, 'models/pt-en'), 'Ela [MASK].'], /fill-mask needs an encoder model/],
        [['fill-mask', '--model', mlmDir, 'Ela derramou água.'], /the text has no \[MASK\] to fill/],
        [['fill-mask', '--model', mlmDir, '--top-k', '0', 'Ela [MASK].'], /--top-k \(0\) must be a positive integer/],
        [['classify', '--model', clsDir], /nothing to label/],
      ];
      for (const [args, message] of cases) {
        const r = cli(...args);
        expect(r.status, args.join(' ')).toBe(2);
        const lines = r.stderr.trim().split('\n');
        expect(lines, r.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(/^atencao: /);
        expect(lines[0]).toMatch(message);
      }
      const missing = cli('classify', '--model', join(root, 'nothing-here'), 'x');
      expect(missing.status).toBe(1);
      expect(missing.stderr.trim().split('\n')).toHaveLength(1);
      for (const command of ['classify', 'fill-mask']) {
        const help = cli(command, '--help');
        expect(help.status).toBe(0);
        expect(help.stdout).toContain('Examples:');
        expect(help.stdout).toContain(`atencao ${command} --model`);
      }
    });
  });
});

it('06: the BERT walkthrough pre-trains, fine-tunes the referent classifier and names the heads that find the noun', async () => {
  const out = mkdtempSync(join(tmpdir(), 'atencao-06-'));
  const r = spawnSync(TSX, ['scripts/06-bert-referent.ts', '--fast', '--pretrain', '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(r.stdout).toMatch(/Ela derramou água da jarra para o copo até que ficasse \[MASK\]\.\n  → \S+ \d+%, \S+ \d+%, \S+ \d+%/);
  expect(r.stdout).toMatch(/Ela derramou água do balde para a xícara até que ficasse \[MASK\]\.\n  → \S+ \d+%, \S+ \d+%, \S+ \d+%/);
  expect(r.stdout).toContain('Training the classifier, fine-tuned from the masked LM');
  expect(r.stdout).toMatch(/last layer: [01]\.\d\d of \[CLS\]'s attention on the adjective/);
  expect(r.stdout).toMatch(/held-out container pairs: \d+\.\d% right \(\d+ sentences\)/);
  expect(r.stdout).toMatch(/best head: layer \d, head \d — [01]\.\d\d of the adjective's attention to the two nouns goes to the right one/);
  for (const file of ['heads.json', 'heads.svg']) expect(existsSync(join(out, file)), file).toBe(true);
  const heads = JSON.parse(readFileSync(join(out, 'heads.json'), 'utf8')) as { ratio: number[][] };
  expect(heads.ratio.flat().every((x) => x >= 0 && x <= 1)).toBe(true);
  rmSync(out, { recursive: true, force: true });
});
