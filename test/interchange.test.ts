import * as tf from '@tensorflow/tfjs';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HfTokenizer } from '../src/data/hf-tokenizer.js';
import { generateText } from '../src/infer/generate.js';
import { fillMask } from '../src/infer/classify.js';
import { loadModelDir } from '../src/infer/load.js';
import { importCheckpoint, readCheckpoint } from '../src/interchange/import.js';
import { encodeSafetensors, halfToFloat, readSafetensors } from '../src/interchange/safetensors.js';
import type { DecoderOnly } from '../src/model/decoder-only.js';
import type { EncoderOnly } from '../src/model/encoder-only.js';
import type { Model } from '../src/model/model.js';

/**
 * The tiny GPT-2 and BERT under test/fixtures/hf were saved by Hugging Face `transformers`
 * (scripts/make-hf-fixtures.py, versions in each expected.json) with the logits and attention
 * weights it computes for fixed inputs: the reference these tests compare atencao against.
 */
const FIXTURES = new URL('./fixtures/hf/', import.meta.url).pathname;
const temp = mkdtempSync(join(tmpdir(), 'atencao-interchange-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

interface Case {
  text: string;
  ids: number[];
  logits: number[][];
  attentions: number[][][][];
}
const expected = (family: string): { cases: Case[]; versions: Record<string, string> } => JSON.parse(readFileSync(join(FIXTURES, family, 'expected.json'), 'utf8'));

/** atencao's id of each checkpoint id (GPT-2's <|endoftext|> is both bos and eos: eos is the one it predicts). */
function atencaoIds(tokenizer: HfTokenizer): Map<number, number> {
  const map = new Map<number, number>();
  const duplicated = tokenizer.hfIds[1] === tokenizer.hfIds[2];
  tokenizer.hfIds.forEach((h, a) => {
    if (h >= 0 && !(a === 1 && duplicated)) map.set(h, a);
  });
  return map;
}

/** Logits (T, V) for one sequence of atencao ids, by family. */
function logitsOf(model: Model, ids: tf.Tensor): tf.Tensor {
  if (model.arch === 'decoder') return (model as DecoderOnly).forward(ids);
  return tf.tidy(() => (model as EncoderOnly).predictTokens((model as EncoderOnly).encode(ids).hidden));
}

/** Largest |atencao − transformers| over the logits (columns matched by id) and the attention weights of every layer and head. */
async function compare(model: Model, tokenizer: HfTokenizer, c: Case): Promise<{ logits: number; attention: number }> {
  const toOurs = atencaoIds(tokenizer);
  const ids = tf.tensor2d([c.ids.map((h) => toOurs.get(h)!)], [1, c.ids.length], 'int32');
  const logits = logitsOf(model, ids);
  const maps = model.attention({ ids });
  const layers = (maps.decoder ?? maps.encoder)!;
  const got = ((await logits.array()) as number[][][])[0]!;
  let logitError = 0;
  c.logits.forEach((row, t) => row.forEach((want, h) => (logitError = Math.max(logitError, Math.abs(got[t]![toOurs.get(h)!]! - want)))));
  let attentionError = 0;
  expect(layers).toHaveLength(c.attentions.length);
  for (const [l, layer] of layers.entries()) {
    const a = ((await layer.array()) as number[][][][])[0]!;
    c.attentions[l]!.forEach((head, h) => head.forEach((row, i) => row.forEach((want, j) => (attentionError = Math.max(attentionError, Math.abs(a[h]![i]![j]! - want))))));
  }
  tf.dispose([ids, logits, ...layers]);
  return { logits: logitError, attention: attentionError };
}

describe('import of Hugging Face checkpoints', () => {
  for (const family of ['gpt2', 'bert'] as const) {
    it(`${family}: logits and attention weights match transformers to 1e-4, with no tensor left behind`, async () => {
      const before = tf.memory().numTensors;
      const { model, tokenizer, unused, hf } = readCheckpoint(join(FIXTURES, family));
      expect(unused).toEqual([]);
      expect(model.arch).toBe(family === 'gpt2' ? 'decoder' : 'encoder');
      expect(hf.config).toMatchObject(family === 'gpt2' ? { normPlacement: 'pre', layerNormEpsilon: 1e-5, scaleEmbeddings: false } : { normPlacement: 'post', geluApproximation: 'none', layerNormEpsilon: 1e-12, embeddingNorm: true, maskedLmTransform: true });
      for (const c of expected(family).cases) {
        const error = await compare(model, tokenizer, c);
        expect(error.logits).toBeLessThan(1e-4);
        expect(error.attention).toBeLessThan(1e-4);
      }
      model.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('the tokenizer gives the ids the checkpoint tokenizer gave, moved to atencao ids, and decodes them back', () => {
    const { model, tokenizer } = readCheckpoint(join(FIXTURES, 'gpt2'));
    model.dispose();
    const toOurs = atencaoIds(tokenizer);
    for (const c of expected('gpt2').cases) {
      expect(tokenizer.encode(c.text)).toEqual(c.ids.map((h) => toOurs.get(h)));
      expect(tokenizer.decode([1, ...tokenizer.encode(c.text), 2, 5])).toBe(c.text);
    }
    // atencao's ids 0–3 are pad, bos, eos, unk; GPT-2's <|endoftext|> is both bos and eos.
    expect(tokenizer.vocab.slice(0, 4)).toEqual(['<pad>', '<bos>', '<eos>', '<unk>']);
    expect(tokenizer.hfIds.slice(0, 4)).toEqual([-1, 299, 299, -1]);
    expect(tokenizer.id('<|endoftext|>')).toBe(2);
    const bert = readCheckpoint(join(FIXTURES, 'bert'));
    bert.model.dispose();
    const [masked, plain] = expected('bert').cases as [Case, Case];
    const bertIds = atencaoIds(bert.tokenizer);
    expect(bert.tokenizer.encode(plain.text, { bos: true, eos: true })).toEqual(plain.ids.map((h) => bertIds.get(h)));
    // [CLS] is bos, [SEP] eos and [MASK] the reserved <mask>, as atencao's encoders expect.
    expect(bert.tokenizer.special('<mask>')).toBe(4);
    expect(bert.tokenizer.id('[MASK]')).toBe(4);
    expect(masked.ids.map((h) => bertIds.get(h))[0]).toBe(1);
  });

  it('an imported folder loads like a trained one: generate and fill-mask give what the checkpoint gives', async () => {
    const before = tf.memory().numTensors;
    const gpt = join(temp, 'gpt2');
    const r = await importCheckpoint(join(FIXTURES, 'gpt2'), gpt);
    expect(r.parameters).toBe(11199);
    const loaded = await loadModelDir(gpt);
    const c = expected('gpt2').cases[0]!;
    const out = await generateText(loaded, c.text, { maxTokens: 1 });
    // Greedy: the token with the largest logit after the prompt, by transformers' numbers.
    const last = c.logits[c.logits.length - 1]!;
    const best = last.indexOf(Math.max(...last));
    expect(out.ids).toEqual([atencaoIds(loaded.source as HfTokenizer).get(best)]);
    loaded.model.dispose();

    const bert = join(temp, 'bert');
    await importCheckpoint(join(FIXTURES, 'bert'), bert);
    const encoder = await loadModelDir(bert);
    const m = expected('bert').cases[0]!;
    const filled = await fillMask(encoder, m.text, { topK: 1 });
    const at = m.ids.indexOf(4); // [MASK] in the checkpoint's vocabulary
    const row = m.logits[at]!;
    // The best ordinary token (atencao leaves the reserved ones out of the candidates).
    const ranked = row.map((v, h) => [v, h] as const).filter(([, h]) => h > 4).sort((a, b) => b[0] - a[0]);
    expect(filled.masks[0]!.candidates[0]!.id).toBe(atencaoIds(encoder.source as HfTokenizer).get(ranked[0]![1]));
    encoder.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses an existing non-empty --out folder', async () => {
    await expect(importCheckpoint(join(FIXTURES, 'gpt2'), FIXTURES)).rejects.toThrow(/already exists and is not an empty folder/);
  });
});

/** A copy of a fixture folder to damage. */
function copyOf(family: string, name: string): string {
  const dir = join(temp, name);
  cpSync(join(FIXTURES, family), dir, { recursive: true });
  return dir;
}

/** `fn` throws `message` (one line) and leaves no tensor and no byte of tensor memory behind. */
function refuses(fn: () => unknown, message: RegExp): void {
  const before = tf.memory();
  let error: Error | undefined;
  try {
    fn();
  } catch (e) {
    error = e as Error;
  }
  expect(error?.name).toBe('ModelFormatError');
  expect(error?.message).toMatch(message);
  expect(error?.message).not.toContain('\n');
  expect(tf.memory().numTensors).toBe(before.numTensors);
  expect(tf.memory().numBytes).toBe(before.numBytes);
}

describe('bad checkpoints: one line, nothing allocated', () => {
  it('another architecture', () => {
    const dir = copyOf('gpt2', 'llama');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: 16 }));
    refuses(() => readCheckpoint(dir), /describes a 'llama' checkpoint; atencao imports gpt2 \(GPT-2, imported as a decoder\) and bert \(BERT, imported as an encoder\)$/);
  });

  it('a truncated safetensors file', () => {
    const dir = copyOf('gpt2', 'truncated');
    const bytes = readFileSync(join(dir, 'model.safetensors'));
    writeFileSync(join(dir, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
    refuses(() => readCheckpoint(dir), /model\.safetensors is truncated: tensor '.*' ends at byte \d+ of data but the file has \d+$/);
    writeFileSync(join(dir, 'model.safetensors'), bytes.subarray(0, 5));
    refuses(() => readCheckpoint(dir), /is not a safetensors file/);
  });

  it('a header claiming 10^12 values', () => {
    const dir = copyOf('gpt2', 'huge');
    const header = { 'transformer.wte.weight': { dtype: 'F32', shape: [1_000_000, 1_000_000], data_offsets: [0, 4e12] } };
    writeFileSync(join(dir, 'model.safetensors'), headerFile(header, 16));
    refuses(() => readCheckpoint(dir), /tensor 'transformer\.wte\.weight' claims 1\.00e\+12 values, more than the 268435456 a model may have$/);
  });

  it('a tokenizer that disagrees with the vocabulary size', () => {
    const dir = copyOf('bert', 'vocab');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, vocab_size: 150 }));
    refuses(() => readCheckpoint(dir), /tokenizer\.json has 144 tokens but config\.json's vocab_size is 150; they must agree$/);
  });

  it('a tensor whose shape is not what config.json implies, or missing', () => {
    const dir = copyOf('gpt2', 'shape');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, n_layer: 3 }));
    refuses(() => readCheckpoint(dir), /model\.safetensors has no tensor 'transformer\.h\.2\.ln_1\.weight' \(is it a gpt2 checkpoint of this config\?\)$/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, n_inner: 64 }));
    refuses(() => readCheckpoint(dir), /tensor 'transformer\.h\.0\.mlp\.c_fc\.weight' has shape \[16, 48\] but config\.json implies \[16, 64\]$/);
  });
});

/** A safetensors file: the header as given, then `dataBytes` zero bytes. */
function headerFile(header: object, dataBytes: number): Uint8Array {
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + dataBytes);
  out.writeUInt32LE(json.length, 0);
  json.copy(out, 8);
  return out;
}

describe('safetensors', () => {
  const limits = { maxValues: 1000 };

  it('reads back what it writes, aligned, with metadata', () => {
    const a = new Float32Array([1, -2.5, 3e-8, 4]);
    const b = new Float32Array([0.5]);
    const bytes = encodeSafetensors([{ name: 'a', shape: [2, 2], values: a }, { name: 'b', shape: [1], values: b }], { note: 'x' });
    const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + length) % 8).toBe(0);
    const f = readSafetensors(bytes, 'mem', limits);
    expect(f.header.metadata).toEqual({ note: 'x' });
    expect(f.float32('a')).toEqual({ shape: [2, 2], values: a });
    expect([...f.float32('b').values]).toEqual([0.5]);
  });

  it('converts F16 and BF16 by the IEEE rules', () => {
    // Half: 0x3C00 = 1, 0xC000 = −2, 0x3555 ≈ 0.33325, 0x0001 = 2^−24 (the smallest subnormal).
    expect([0x3c00, 0xc000, 0x0001].map(halfToFloat)).toEqual([1, -2, 2 ** -24]);
    expect(halfToFloat(0x3555)).toBeCloseTo(0.333251953125, 12);
    const data = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x80, 0x3f, 0x00, 0xc0]); // F16 [1, −2], BF16 [1, −2]
    const json = Buffer.from(JSON.stringify({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'BF16', shape: [2], data_offsets: [4, 8] } }));
    const bytes = Buffer.concat([Buffer.from([json.length, 0, 0, 0, 0, 0, 0, 0]), json, data]);
    const f = readSafetensors(bytes, 'mem', limits);
    expect([...f.float32('h').values]).toEqual([1, -2]);
    expect([...f.float32('b').values]).toEqual([1, -2]);
  });

  it('refuses headers that lie: wrong byte count, overlap, holes, bad dtype, NaN', () => {
    const cases: [object, number, RegExp][] = [
      [{ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8, /hold 8 bytes but shape \[3\] of F32 needs 12$/],
      [{ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8, /starts at byte 4 of data, expected 8 \(overlap or hole\)$/],
      [{ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 8, /cover 4 bytes of data but the file has 8$/],
      [{ a: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, 1, /unknown dtype "Q4"$/],
      [{ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4, /needs a shape of at most 8 non-negative integers$/],
    ];
    for (const [header, data, message] of cases) expect(() => readSafetensors(headerFile(header, data), 'mem', limits)).toThrow(message);
    const nan = headerFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 4);
    nan.set([0, 0, 0xc0, 0x7f], nan.length - 4);
    expect(() => readSafetensors(nan, 'mem', limits).float32('a')).toThrow(/holds NaN or infinite values$/);
  });
});
