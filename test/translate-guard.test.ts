import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { generatePtEn } from '../src/data/pt-en.js';
import { BOS_ID, EOS_ID, PAD_ID } from '../src/data/tokenizer.js';
import { loadModel } from '../src/infer/load.js';
import type { Translator } from '../src/infer/translator.js';
import { evaluate } from '../src/train/evaluate.js';
import { chrF, sacreBleu } from '../src/train/metrics.js';
import { referenceBeamSearch } from './beam-reference.js';

const MODEL = new URL('../models/pt-en', import.meta.url).pathname;
const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
const ids = { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID };
const pairs = generatePtEn({ seed: 1 }).test.slice(0, 40);
let t: Translator;

beforeAll(async () => {
  t = await loadModel(MODEL);
});

describe('translating with the shipped pt-en model', () => {
  it('beam 4 over a batch of sentences gives what the one-sentence search gives', async () => {
    const before = tf.memory().numTensors;
    const texts = pairs.map((p) => p.source);
    const batched = await t.translate(texts, { beam: 4, batchSize: 7 });
    for (let i = 0; i < texts.length; i++) {
      const src = t.source.encode(texts[i]!, { eos: true });
      const want = await referenceBeamSearch(t.model, src, ids, { beam: 4, maxLen: t.config.maxLen - 1 });
      expect(batched[i]!.output).toBe(t.target.decode(want.ids));
      expect(batched[i]!.score).toBeCloseTo(want.score, 5);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('maxLenRatio cuts outputs to ⌊ratio × source⌋ + 10 tokens; the default changes nothing on the test set', async () => {
    const texts = pairs.map((p) => p.source);
    const free = await t.translate(texts, { maxLenRatio: Infinity });
    expect((await t.translate(texts)).map((r) => r.output)).toEqual(free.map((r) => r.output));
    const cut = await t.translate(texts, { maxLenRatio: 0.01 }); // every source < 100 tokens: limit 10
    expect(free.some((r) => r.tokens.length > 10)).toBe(true);
    cut.forEach((r, i) => {
      const whole = free[i]!.tokens;
      expect(r.tokens).toEqual(whole.slice(0, 10)); // greedy: the cut output is a prefix
    });
  });

  it('evaluation with a detokenizer reports BLEU as sacreBLEU and chrF on the text', async () => {
    const before = tf.memory().numTensors;
    // Half of the references are changed, so the scores are neither 0 nor 1.
    const items = pairs.map((p, i) => ({ src: t.source.encode(p.source, { eos: true }), tgt: t.target.encode(i % 2 === 0 ? p.target : p.target.split(' ').reverse().join(' ')) }));
    const m = await evaluate(t.model, items, { objective: 'seq2seq', ids, bleu: true, detokenize: (x) => t.target.decode(x) });
    const outputs = (await t.translate(pairs.map((p) => p.source), { maxLenRatio: Infinity })).map((r) => r.output);
    const refs = items.map((p) => t.target.decode(p.tgt));
    expect(m.bleu).toBeCloseTo(sacreBleu(outputs, refs).score / 100, 12);
    expect(m.chrf).toBeCloseTo(chrF(outputs, refs) / 100, 12);
    expect(m.bleu!).toBeGreaterThan(0.2);
    expect(m.bleu!).toBeLessThan(0.9);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('atencao translate guard flags', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'translate', '--model', MODEL, '--backend', 'wasm', ...args], { encoding: 'utf8', timeout: 60_000 });

  it('bad values are one-line usage errors', () => {
    for (const [args, message] of [
      [['--no-repeat-ngram', '0'], '--no-repeat-ngram (0) must be a positive integer'],
      [['--no-repeat-ngram', 'two'], '--no-repeat-ngram (NaN) must be a positive integer'],
      [['--max-len-ratio', '-1'], '--max-len-ratio (-1) must be a positive number'],
    ] as const) {
      const r = run(...args, 'um gato');
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
  });

  it('--no-repeat-ngram and --max-len-ratio reach the decoder', () => {
    const text = pairs[0]!.source;
    const plain = run('--beam', '4', text);
    expect(plain.status).toBe(0);
    const cut = run('--beam', '4', '--max-len-ratio', '0.01', '--no-repeat-ngram', '1', text);
    expect(cut.status).toBe(0);
    const words = cut.stdout.trim().split(' ');
    expect(words.length).toBeLessThanOrEqual(10);
    expect(new Set(words).size).toBe(words.length);
  });
});
