import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-web';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelDir } from '../src/infer/load.js';
import { exportModel, exportSafetensors, safetensorsName } from '../src/interchange/export.js';
import { readCheckpoint } from '../src/interchange/import.js';
import { exportOnnx, type OnnxPart } from '../src/interchange/onnx-export.js';
import { readSafetensors } from '../src/interchange/safetensors.js';
import { createModel } from '../src/model/create.js';
import type { DecoderOnly } from '../src/model/decoder-only.js';
import type { EncoderOnly } from '../src/model/encoder-only.js';
import type { Model } from '../src/model/model.js';
import type { Transformer } from '../src/model/transformer.js';

/**
 * Exported ONNX graphs run in ONNX Runtime (onnxruntime-web's wasm build, in Node) and must give
 * the logits atencao gives, to 1e-4: the full forward pass of every family, and generation with
 * the key/value cache step by step (16 steps) against atencao's own cached generation.
 */
ort.env.wasm.numThreads = 1;
const FIXTURES = new URL('./fixtures/hf/', import.meta.url).pathname;
const PT_EN = new URL('../models/pt-en/', import.meta.url).pathname;
const temp = mkdtempSync(join(tmpdir(), 'atencao-onnx-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

type Feeds = Record<string, ort.Tensor>;

async function sessions(model: Model): Promise<Record<OnnxPart['role'], ort.InferenceSession>> {
  const parts = await exportOnnx(model);
  const out: Partial<Record<OnnxPart['role'], ort.InferenceSession>> = {};
  for (const p of parts) out[p.role] = await ort.InferenceSession.create(p.bytes);
  return out as Record<OnnxPart['role'], ort.InferenceSession>;
}

const int64 = (rows: number[][]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);

function emptyPasts(layers: number, batch: number, heads: number, dk: number): Feeds {
  const feeds: Feeds = {};
  for (let i = 0; i < layers; i++) for (const kind of ['key', 'value']) feeds[`past_${kind}_${i}`] = new ort.Tensor('float32', new Float32Array(0), [batch, heads, 0, dk]);
  return feeds;
}

function presentsAsPasts(result: ort.InferenceSession.OnnxValueMapType, layers: number): Feeds {
  const feeds: Feeds = {};
  for (let i = 0; i < layers; i++) for (const kind of ['key', 'value']) feeds[`past_${kind}_${i}`] = result[`present_${kind}_${i}`] as ort.Tensor;
  return feeds;
}

/** Largest |a − b| over two equally long lists of numbers. */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Compare ORT logits to atencao's (a tensor, disposed here); returns the error. */
async function against(onnx: ort.Tensor, ours: tf.Tensor): Promise<number> {
  expect(onnx.dims).toEqual(ours.shape);
  const error = maxDiff(onnx.data as Float32Array, (await ours.data()) as Float32Array);
  ours.dispose();
  return error;
}

/** Generation with the cache (prompts fed first for a decoder; sources for an encoder–decoder), 16 greedy steps, atencao's step logits against the decoder-step graph's. */
async function compareSteps(model: Model, prompts: number[][], run: (tokens: number[][], pasts: Feeds) => Promise<ort.InferenceSession.OnnxValueMapType>, layers: number, feedPrompts: boolean): Promise<number> {
  const c = model.config;
  const generation = model.startGeneration!(prompts);
  let pasts = emptyPasts(layers, prompts.length, c.numHeads, c.dModel / c.numHeads);
  // The graph reads the prompts but their last token first (atencao's Generation does the same in its constructor).
  if (feedPrompts && prompts[0]!.length > 1) pasts = presentsAsPasts(await run(prompts.map((p) => p.slice(0, -1)), pasts), layers);
  let tokens = [...generation.first];
  let worst = 0;
  for (let step = 0; step < 16; step++) {
    const { logits } = generation.step(tokens);
    const result = await run(tokens.map((t) => [t]), pasts);
    const onnx = result.logits as ort.Tensor; // (B, 1, V)
    const ours = (await logits.data()) as Float32Array;
    worst = Math.max(worst, maxDiff(onnx.data as Float32Array, ours));
    // Feed the most probable token next (by atencao's numbers).
    const v = onnx.dims[2]!;
    tokens = tokens.map((_, b) => {
      const row = ours.subarray(b * v, (b + 1) * v);
      return row.indexOf(Math.max(...row));
    });
    logits.dispose();
    pasts = presentsAsPasts(result, layers);
  }
  generation.dispose();
  return worst;
}

describe('ONNX export, run in onnxruntime-web', () => {
  it('decoder (the imported GPT-2): forward logits, and 16 cached steps, match atencao to 1e-4', async () => {
    const before = tf.memory().numTensors;
    const { model } = readCheckpoint(join(FIXTURES, 'gpt2'));
    const s = await sessions(model);
    const rows = [
      [1, 40, 61, 7, 90, 12],
      [1, 33, 8, 250, 4, 19],
    ];
    const forward = await s.model.run({ input_ids: int64(rows) });
    const ids = tf.tensor2d(rows, [2, 6], 'int32');
    expect(await against(forward.logits as ort.Tensor, (model as DecoderOnly).forward(ids))).toBeLessThan(1e-4);
    ids.dispose();
    const c = model.config as { numLayers: number };
    const step = (tokens: number[][], pasts: Feeds) => s['decoder-step'].run({ input_ids: int64(tokens), ...pasts });
    expect(await compareSteps(model, rows.map((r) => r.slice(0, 4)), step, c.numLayers, true)).toBeLessThan(1e-4);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('encoder (the imported BERT, and a seeded encoder with a classifier): masked-LM and class logits, padding masked', async () => {
    const before = tf.memory().numTensors;
    const bert = readCheckpoint(join(FIXTURES, 'bert')).model as EncoderOnly;
    const classifier = createModel({ arch: 'encoder', vocabSize: 30, dModel: 16, numHeads: 4, dFF: 32, maxLen: 12, numLayers: 2, numClasses: 3 }, { seed: 4 });
    for (const model of [bert, classifier]) {
      const s = await sessions(model);
      const rows = [
        [1, 9, 4, 12, 7, 2],
        [1, 15, 2, 0, 0, 0], // padded
      ];
      const result = await s.model.run({ input_ids: int64(rows) });
      const ids = tf.tensor2d(rows, [2, 6], 'int32');
      const hidden = model.encode(ids).hidden;
      expect(await against(result.logits as ort.Tensor, model.predictTokens(hidden))).toBeLessThan(1e-4);
      if (model.config.numClasses > 0) expect(await against(result.class_logits as ort.Tensor, model.classify(hidden))).toBeLessThan(1e-4);
      tf.dispose([ids, hidden]);
      model.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('encoder–decoder (the shipped pt-en model): forward logits, and encoder + 16 cached decoder steps, match atencao to 1e-4', async () => {
    const before = tf.memory().numTensors;
    const loaded = await loadModelDir(PT_EN);
    const model = loaded.model as Transformer;
    const s = await sessions(model);
    const sources = [loaded.source.encode('o gato bebe água .', { eos: true }), loaded.source.encode('a menina lê', { eos: true })];
    const width = Math.max(...sources.map((x) => x.length));
    const src = sources.map((x) => [...x, ...Array(width - x.length).fill(0)]);
    const tgt = [
      [1, 5, 9, 14],
      [1, 7, 3, 22],
    ];
    const forward = await s.model.run({ source_ids: int64(src), target_ids: int64(tgt) });
    const [srcT, tgtT] = [tf.tensor2d(src, undefined, 'int32'), tf.tensor2d(tgt, undefined, 'int32')];
    expect(await against(forward.logits as ort.Tensor, model.forward(srcT, tgtT))).toBeLessThan(1e-4);
    const encoded = await s.encoder.run({ source_ids: int64(src) });
    const { memory, memoryMask } = model.encode(srcT);
    expect(await against(encoded.memory as ort.Tensor, memory)).toBeLessThan(1e-4);
    tf.dispose([srcT, tgtT, memoryMask]);
    const step = (tokens: number[][], pasts: Feeds) => s['decoder-step'].run({ source_ids: int64(src), target_ids: int64(tokens), memory: encoded.memory as ort.Tensor, ...pasts });
    expect(await compareSteps(model, sources, step, model.config.numDecoderLayers, false)).toBeLessThan(1e-4);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('safetensors export', () => {
  it('holds every weight under its dotted path, (in, out) as atencao multiplies, with the config', async () => {
    const model = createModel({ arch: 'decoder', vocabSize: 20, dModel: 8, numHeads: 2, dFF: 16, maxLen: 10, numLayers: 1 }, { seed: 3 });
    const file = readSafetensors(await exportSafetensors(model), 'export', { maxValues: 1e6 });
    expect(JSON.parse(file.header.metadata.atencao_config!)).toMatchObject({ arch: 'decoder', vocabSize: 20, dModel: 8 });
    for (const [path, v] of model.namedWeights()) {
      const t = file.float32(safetensorsName(path));
      expect(t.shape).toEqual(v.shape);
      expect(maxDiff(t.values, (await v.read().data()) as Float32Array)).toBe(0);
    }
    expect(file.entry('decoder.layer_0.feed_forward.w1').shape).toEqual([8, 16]);
    expect(file.header.entries.size).toBe(model.namedWeights().length);
    model.dispose();
  });

  it('exportModel writes the files it names, atomically beside each other', async () => {
    const model = createModel({ arch: 'decoder', vocabSize: 20, dModel: 8, numHeads: 2, dFF: 16, maxLen: 10, numLayers: 1 }, { seed: 3 });
    const files = await exportModel(model, 'onnx', join(temp, 'gpt.onnx'));
    expect(files.map((f) => f.path)).toEqual([join(temp, 'gpt.onnx'), join(temp, 'gpt.decoder-step.onnx')]);
    for (const f of files) expect(readFileSync(f.path).length).toBe(f.bytes);
    await expect(exportModel(model, 'tflite' as never, join(temp, 'x'))).rejects.toThrow("--format ('tflite') must be one of safetensors, onnx");
    model.dispose();
  });
});
