import * as tf from '@tensorflow/tfjs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, DataError, loadModelDir, UsageError, type LoadedModel, type Model, type ModelConfigInput } from '../src/index.js';
import { beamSearch } from '../src/infer/beam.js';
import { greedyDecode } from '../src/infer/greedy.js';
import { ablateHeads, parseHeads } from '../src/inspect/ablate.js';
import { attentionRollout, valueNorms } from '../src/inspect/aggregate.js';
import { logitLens } from '../src/inspect/lens.js';
import { neuronView } from '../src/inspect/neurons.js';
import { patchActivations } from '../src/inspect/patch.js';
import { prepareProbe, probeInput, disposeInput } from '../src/inspect/probe.js';
import { decodeSteps } from '../src/inspect/steps.js';
import { disposeTrace, replaceHead, replacePosition, trace, type TraceInput } from '../src/inspect/trace.js';
import type { Transformer } from '../src/model/transformer.js';
import type { EncoderOnly } from '../src/model/encoder-only.js';
import { expectClose, randomIds, rng } from './helpers.js';
import { tinyFolder } from './tiny-families.js';

const SHIPPED = new URL('../models/pt-en', import.meta.url).pathname;
const CHEIO = 'Ela derramou água da jarra para o copo até que ficasse cheio.';

const small = { dModel: 8, numHeads: 2, dFF: 12, maxLen: 8, dropout: 0 };
const FAMILIES: [string, ModelConfigInput][] = [
  ['encoder-decoder', { ...small, srcVocabSize: 9, tgtVocabSize: 10, numEncoderLayers: 2, numDecoderLayers: 2 }],
  ['decoder', { ...small, arch: 'decoder', vocabSize: 9, numLayers: 2 }],
  ['encoder', { ...small, arch: 'encoder', vocabSize: 9, numLayers: 2, numClasses: 3 }],
];

function inputOf(model: Model, seed: number): TraceInput {
  const random = rng(seed);
  return model.arch === 'encoder-decoder' ? { ids: randomIds([2, 6], 9, random), targetIds: randomIds([2, 5], 10, random) } : { ids: randomIds([2, 6], 9, random) };
}

/** The model's own logits (its score path, not the trace). */
function ownLogits(model: Model, input: TraceInput): tf.Tensor {
  return tf.tidy(() => {
    if (model.arch === 'encoder-decoder') return (model as Transformer).forward(input.ids, input.targetIds!);
    const ids = input.ids;
    return model.score(model.arch === 'decoder' ? { kind: 'lm', ids, targets: ids } : { kind: 'masked-lm', ids, targets: ids }).logits;
  });
}

describe('trace: the forward pass written out, with hooks', () => {
  for (const [family, config] of FAMILIES) {
    it(`${family}: no hooks gives the model's own logits; patching every position of a layer's residual stream from another run gives that run's logits exactly`, () => {
      const model = createModel(config, { seed: 3 });
      const clean = inputOf(model, 1);
      // An encoder–decoder's corrupted run decodes the same target (as patchActivations does).
      const other = inputOf(model, 2);
      const corrupted = { ...other, ...(clean.targetIds ? { targetIds: clean.targetIds } : {}) };
      if (other.targetIds) other.targetIds.dispose();
      ownLogits(model, clean).dispose(); // warm-up: first-use constants
      const before = tf.memory().numTensors;
      const t = trace(model, clean);
      const reference = ownLogits(model, clean);
      expectClose(t.logits, Array.from(reference.dataSync()), 1e-5);
      // Every stream the model has: patching all positions of layer l makes the rest of that stack
      // (and, for a stack that feeds the output, the output) identical to the clean run. An
      // encoder–decoder's decoder also reads the (corrupted) memory, so only its last layer is exact.
      for (const [stack, streams] of Object.entries(t.residual)) {
        streams.forEach((clean, l) => {
          if (model.arch === 'encoder-decoder' && stack === 'decoder' && l < streams.length - 1) return;
          const patched = trace(model, corrupted, { residual: (s, layer, h) => (s === stack && layer === l ? replacePosition(h, undefined, clean) : undefined) });
          expectClose(patched.logits, Array.from(reference.dataSync()), 1e-5);
          disposeTrace(patched);
        });
      }
      // A hook that returns the head outputs unchanged changes nothing.
      const same = trace(model, clean, { heads: (_k, _l, z) => z });
      expectClose(same.logits, Array.from(reference.dataSync()), 0);
      disposeTrace(same);
      disposeTrace(t);
      reference.dispose();
      expect(tf.memory().numTensors).toBe(before);
      disposeInput(clean);
      corrupted.ids.dispose();
      model.dispose();
    });
  }

  it('zero-ablating a head equals zeroing its rows of Wo (an independent path: the model with edited weights)', () => {
    const model = createModel(FAMILIES[2]![1], { seed: 5 }) as EncoderOnly;
    const input = inputOf(model, 4);
    const { dModel, numHeads } = model.config;
    const dv = dModel / numHeads;
    const layer = 1;
    const head = 1;
    const ablated = tf.tidy(() => trace(model, input, { heads: (kind, l, z) => (kind === 'encoder' && l === layer ? replaceHead(z, head, tf.zerosLike(z)) : undefined) }).logits);
    const wo = model.encoder.blocks[layer]!.selfAttention.wo;
    const original = wo.read().clone();
    const rows = (original.arraySync() as number[][]).map((row, i) => (i >= head * dv && i < (head + 1) * dv ? row.map(() => 0) : row));
    wo.write(tf.tensor2d(rows));
    const edited = ownLogits(model, input);
    wo.write(original);
    expectClose(ablated, Array.from(edited.dataSync()), 1e-5);
    tf.dispose([ablated, edited, original]);
    disposeInput(input);
    model.dispose();
  });
});

describe('attention rollout', () => {
  it('of identity attention is the identity, at every layer', () => {
    const eye = [0, 1, 2].map((i) => [0, 1, 2].map((j) => (i === j ? 1 : 0)));
    for (const layer of attentionRollout([[eye, eye], [eye, eye]])) expect(layer).toEqual(eye);
  });

  it('matches a hand computation and its rows sum to 1', () => {
    // One head, two layers, r = 0.5: A = 0.5·I + 0.5·W, rows renormalised (they already sum to 1).
    const w1 = [[1, 0], [0.5, 0.5]];
    const w2 = [[0.2, 0.8], [0, 1]];
    const a1 = [[1, 0], [0.25, 0.75]];
    const a2 = [[0.6, 0.4], [0, 1]];
    const expected = [[0.6 * 1 + 0.4 * 0.25, 0.4 * 0.75], [0.25, 0.75]];
    const [r1, r2] = attentionRollout([[w1], [w2]]);
    expectClose(r1!.flat(), a1.flat(), 1e-12);
    expectClose(r2!.flat(), expected.flat(), 1e-12);
    expectClose(a2.flat(), [0.6, 0.4, 0, 1], 0);
    const random = rng(9);
    const rows = (t: number) => Array.from({ length: t }, () => {
      const r = Array.from({ length: t }, () => random());
      const s = r.reduce((a, b) => a + b, 0);
      return r.map((x) => x / s);
    });
    for (const layer of attentionRollout([[rows(4), rows(4)], [rows(4), rows(4)], [rows(4), rows(4)]], 0.3)) {
      for (const row of layer) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    }
  });
});

describe('tools on the shipped pt-en model', () => {
  let loaded: LoadedModel;
  beforeAll(async () => {
    loaded = await loadModelDir(SHIPPED);
    await ablateHeads(loaded, CHEIO, { heads: [{ kind: 'cross', layer: 1, head: 1 }] }); // warm-up
  });

  async function noLeak<T>(fn: () => Promise<T>): Promise<T> {
    const before = tf.memory().numTensors;
    const out = await fn();
    expect(tf.memory().numTensors).toBe(before);
    return out;
  }

  it('ablate: the decision is glass over jug; each head alone, and a list of heads together; no leaks', async () => {
    const r = await noLeak(() => ablateHeads(loaded, CHEIO));
    expect(r.decision.rightLabel).toBe('glass');
    expect(r.decision.wrongLabel).toBe('jug');
    expect(r.clean).toBeGreaterThan(0);
    expect(r.grids.map((g) => g.kind)).toEqual(['encoder', 'decoder', 'cross']);
    for (const g of r.grids) {
      expect(g.change).toHaveLength(2);
      g.change.forEach((row, l) => row.forEach((x, h) => expect(x).toBeCloseTo(g.ablated[l]![h]! - r.clean, 10)));
    }
    const one = await noLeak(() => ablateHeads(loaded, CHEIO, { heads: [{ kind: 'cross', layer: 2, head: 3 }] }));
    expect(one.together!.ablated).toBeCloseTo(r.grids[2]!.ablated[1]![2]!, 5);
  });

  it('patch: the clean and corrupted decisions have opposite signs, patching restores shares, the cross-attention layers restore all of it', async () => {
    const r = await noLeak(() => patchActivations(loaded, CHEIO));
    expect(r.corrupted.text).toBe('Ela derramou água da jarra para o copo até que ficasse vazia.');
    expect(r.cleanValue).toBeGreaterThan(0);
    expect(r.corruptedValue).toBeLessThan(0);
    const encoder = r.residual.find((g) => g.stack === 'encoder')!;
    const cheio = encoder.tokens.indexOf('cheio');
    // The only source difference is the adjective: patching it in the embeddings restores everything, anything else nothing.
    expect(encoder.restored[0]![cheio]).toBeCloseTo(1, 5);
    encoder.restored[0]!.forEach((x, p) => p !== cheio && expect(Math.abs(x)).toBeLessThan(1e-5));
  });

  it('lens: the last layer is the model’s own output distribution; the final answer ranks first there', async () => {
    const r = await noLeak(() => logitLens(loaded, CHEIO, { topK: 2 }));
    const probe = r.probe;
    const input = probeInput(probe);
    const own = tf.tidy(() => tf.softmax((loaded.model as Transformer).forward(input.ids, input.targetIds!)).arraySync() as number[][][]);
    disposeInput(input);
    const last = r.top.length - 1;
    own[0]!.forEach((p, pos) => {
      const best = p.indexOf(Math.max(...p));
      expect(r.answers[pos]).toBe(loaded.target.vocab[best]);
      expect(r.probability[last]![pos]).toBeCloseTo(p[best]!, 5);
      expect(r.rank[last]![pos]).toBe(1);
      expect(r.top[last]![pos]![0]!.probability).toBeCloseTo(p[best]!, 5);
    });
    expect(r.top).toHaveLength(3); // embeddings + 2 decoder layers
  });

  it('value-norm: ‖α_ij·v_j·W_o‖ equals a plain-loop recomputation (encoder layer 1)', async () => {
    const r = await noLeak(() => valueNorms(loaded, CHEIO));
    const model = loaded.model as Transformer;
    const probe = await prepareProbe(loaded, CHEIO);
    const ids = tf.tensor2d([probe.ids], [1, probe.ids.length], 'int32');
    const x = tf.tidy(() => model.encoder.blocks[0]!.norm1.forward(model.encoder.embed(ids, false)).output.arraySync() as number[][][])[0]!;
    const weights = model.attention({ ids, targetIds: tf.tensor2d([probe.targetIds!], undefined, 'int32') });
    const alpha = (weights.encoder![0]!.arraySync() as number[][][][])[0]!;
    tf.dispose([ids, ...Object.values(weights).flat()]);
    const mha = model.encoder.blocks[0]!.selfAttention;
    const wv = mha.projection.wv.read().arraySync() as number[][];
    const bv = mha.projection.bv!.read().arraySync() as number[];
    const wo = mha.wo.read().arraySync() as number[][];
    const { dModel, numHeads } = model.config;
    const dv = dModel / numHeads;
    for (let h = 0; h < numHeads; h++) {
      for (let j = 0; j < x.length; j++) {
        // v_j of head h, then carried through head h's rows of Wo.
        const v = Array.from({ length: dv }, (_, e) => bv[h * dv + e]! + x[j]!.reduce((s, xi, i) => s + xi * wv[i]![h * dv + e]!, 0));
        const f = Array.from({ length: dModel }, (_, o) => v.reduce((s, ve, e) => s + ve * wo[h * dv + e]![o]!, 0));
        const size = Math.sqrt(f.reduce((s, y) => s + y * y, 0));
        for (let i = 0; i < x.length; i++) expect(r.norms.encoder![0]![h]![i]![j]).toBeCloseTo(alpha[h]![i]![j]! * size, 4);
      }
    }
  });

  it('neurons: the q⊙k terms sum (÷√dk, softmax) to the model’s own weights, and q is x·Wq + bq', async () => {
    const v = await noLeak(() => neuronView(loaded, CHEIO, { kind: 'encoder', layer: 1, head: 2, query: 'cheio' }));
    expect(v.queryToken).toBe('cheio');
    const probe = v.probe;
    const model = loaded.model as Transformer;
    const ids = tf.tensor2d([probe.ids], [1, probe.ids.length], 'int32');
    const tgt = tf.tensor2d([probe.targetIds!], undefined, 'int32');
    const weights = model.attention({ ids, targetIds: tgt });
    const row = (weights.encoder![0]!.arraySync() as number[][][][])[0]![1]![v.position]!;
    const x = tf.tidy(() => model.encoder.blocks[0]!.norm1.forward(model.encoder.embed(ids, false)).output.arraySync() as number[][][])[0]!;
    tf.dispose([ids, tgt, ...Object.values(weights).flat()]);
    const dk = v.q.length;
    const scores = v.terms.map((t) => t.reduce((a, b) => a + b, 0) / Math.sqrt(dk));
    const max = Math.max(...scores);
    const exp = scores.map((s) => Math.exp(s - max));
    const sum = exp.reduce((a, b) => a + b, 0);
    expectClose(exp.map((e) => e / sum), row, 1e-5);
    expectClose(v.weights, row, 1e-5);
    const wq = model.encoder.blocks[0]!.selfAttention.projection.wq.read().arraySync() as number[][];
    const bq = model.encoder.blocks[0]!.selfAttention.projection.bq!.read().arraySync() as number[];
    const q = Array.from({ length: dk }, (_, e) => bq[dk + e]! + x[v.position]!.reduce((s, xi, i) => s + xi * wq[i]![dk + e]!, 0));
    expectClose(v.q, q, 1e-4);
  });

  it('steps: beam 1 is greedy decoding and beam 3 is beamSearch; the pruned candidates are marked', async () => {
    const greedy = await noLeak(() => decodeSteps(loaded, CHEIO, { beam: 1 }));
    const probe = await prepareProbe(loaded, CHEIO);
    const ids = { pad: 0, bos: 1, eos: 2 };
    const [reference] = await greedyDecode(loaded.model as Transformer, [probe.ids], ids, { maxLen: loaded.model.config.maxLen - 1 });
    expect(greedy.tokens).toEqual(loaded.target.tokensOf(reference!));
    expect(greedy.steps[0]!.hypotheses).toHaveLength(1);
    expect(greedy.steps[0]!.hypotheses[0]!.attention).toHaveLength(2); // layers, each [head][Ts]
    const beam = await noLeak(() => decodeSteps(loaded, CHEIO, { beam: 3 }));
    const best = await beamSearch(loaded.model as Transformer, probe.ids, ids, { beam: 3, maxLen: loaded.model.config.maxLen - 1 });
    expect(beam.tokens).toEqual(loaded.target.tokensOf(best.ids));
    expect(beam.score).toBeCloseTo(best.score, 4);
    expect(beam.steps[1]!.hypotheses.flatMap((h) => h.candidates).some((c) => c.fate === 'pruned')).toBe(true);
  });

  it('bad arguments are one-line errors', async () => {
    expect(() => parseHeads(loaded, '3.1')).toThrow(new UsageError('unknown head encoder:3.1: layer must be between 1 and 2'));
    expect(() => parseHeads(loaded, 'cross:1.5')).toThrow(new UsageError('unknown head cross:1.5: head must be between 1 and 4'));
    expect(() => parseHeads(loaded, 'x')).toThrow(UsageError);
    await expect(ablateHeads(loaded, 'Ela derramou água da jarra para o copo.')).rejects.toThrow(
      new DataError("'Ela derramou água da jarra para o copo.' does not end with an adjective that agrees with one container (e.g. cheio, vazia)"),
    );
    await expect(patchActivations(loaded, CHEIO, { corrupted: 'Ela derramou água da jarra para o copo grande até que ficasse vazia.' })).rejects.toThrow(/must have the same length in tokens \(14 and 15\)/);
    await expect(neuronView(loaded, CHEIO, { kind: 'encoder', layer: 1, head: 1, query: 'jarro' })).rejects.toThrow(UsageError);
  });
});

describe('tools on the other families (tiny models trained a few steps)', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'atencao-inspect-'));
  });

  it('decoder: the decision is the adjective against its other gender; the twin swaps the containers; lens, neurons and steps run', async () => {
    const loaded = await loadModelDir(await tinyFolder(root, 'decoder'));
    const before = tf.memory().numTensors;
    const r = await ablateHeads(loaded, CHEIO);
    expect([r.decision.rightLabel, r.decision.wrongLabel]).toEqual(['cheio', 'cheia']);
    expect(r.probe.inputTokens.at(-1)).toBe('ficasse');
    const p = await patchActivations(loaded, CHEIO);
    expect(p.corrupted.text).toBe('Ela derramou água do copo para a jarra até que ficasse cheio.');
    expect(p.residual.map((g) => g.stack)).toEqual(['decoder']);
    // The last position's stream after the last block decides alone: patching it restores everything.
    expect(p.residual[0]!.restored.at(-1)!.at(-1)).toBeCloseTo(1, 4);
    const lens = await logitLens(loaded, CHEIO);
    expect(lens.rank.at(-1)!.every((x) => x === 1)).toBe(true);
    await neuronView(loaded, CHEIO, { kind: 'decoder', layer: 2, head: 1 });
    const steps = await decodeSteps(loaded, 'O menino derramou', { beam: 2, topK: 3 });
    expect(steps.kind).toBe('decoder');
    expect(tf.memory().numTensors).toBe(before);
    loaded.model.dispose();
  }, 60_000);

  it('encoder classifier: the decision is the class margin (into vs from); the twin flips the adjective', async () => {
    const loaded = await loadModelDir(await tinyFolder(root, 'encoder', { kind: 'referent', size: 200 }));
    const before = tf.memory().numTensors;
    const r = await ablateHeads(loaded, CHEIO, { mode: 'mean' });
    expect(r.decision.classes).toBe(true);
    expect([r.decision.rightLabel, r.decision.wrongLabel]).toEqual(['into', 'from']);
    const p = await patchActivations(loaded, CHEIO);
    expect(p.corrupted.text).toBe('Ela derramou água da jarra para o copo até que ficasse vazia.');
    // The classifier reads [CLS] after the last block: patching it there restores everything.
    expect(p.residual[0]!.restored.at(-1)![0]).toBeCloseTo(1, 4);
    await expect(decodeSteps(loaded, CHEIO)).rejects.toThrow(UsageError);
    expect(tf.memory().numTensors).toBe(before);
    loaded.model.dispose();
  }, 60_000);
});

describe('views', () => {
  it('escape every token and label in the SVG figures and the steps page', async () => {
    const { gridsSvg, linePlotSvg } = await import('../src/inspect/render.js');
    const bad = '<img src=x onerror=alert(1)>';
    const svg = gridsSvg([{ title: bad, rows: [bad], cols: [bad], values: [[0.5]] }], bad);
    expect(svg).not.toContain('<img');
    expect(svg).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(linePlotSvg([{ name: bad, points: [[1, 0.5], [2, 1]] }], bad, { x: bad, y: bad })).not.toContain('<img');
  });
});
