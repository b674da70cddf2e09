import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrumentKernels } from '../src/bench/instrument.js';
import type { DecoderConfigInput, EncoderDecoderConfigInput } from '../src/config.js';
import { generatePtEn } from '../src/data/pt-en.js';
import { beamSearchBatch, createModel, createTransformer, greedyDecode, ShapeError, type DecoderOnly, type Transformer } from '../src/index.js';
import { loadModel } from '../src/infer/load.js';
import type { Translator } from '../src/infer/translator.js';
import { directRefusal } from '../src/model/direct-stack.js';
import type { Generation } from '../src/model/model.js';
import { DirectDecoder, erf, setDirectDecoding, type DirectStack } from '../src/ops/direct/decoder.js';
import { WasmHeap } from '../src/ops/direct/heap.js';
import { randomizeWeights } from './decoder-fixtures.js';
import { addBias, matmul, multiHeadRef, type Matrix } from './reference.js';

/**
 * The direct decoder (a cached step computed on the wasm memory without the engine) against the
 * engine's cached step, the full recompute without a cache, and a plain-loop transformer.
 */

type Mode = 'direct' | 'engine' | 'full';

interface Plan {
  steps: number;
  /** Before step `at`, keep rows `rows` (beam search's reordering). */
  selects?: { at: number; rows: number[] }[];
  returnAttention?: boolean;
}

interface Recorded {
  /** [step][row][token] */
  logits: number[][][];
  /** [step][kind][layer] flat weights with their shapes. */
  weights: { kind: string; shape: number[]; values: number[] }[][];
  /** [step][row]: the tokens fed so far (the prompt included). */
  fed: number[][][];
  /** Engine kernels run by the steps and selects (not by the prompt or the encoder). */
  stepKernels: number;
}

const ENCODER_DECODER: EncoderDecoderConfigInput = { srcVocabSize: 11, tgtVocabSize: 13, dModel: 16, numHeads: 4, numEncoderLayers: 2, numDecoderLayers: 2, dFF: 24, dropout: 0, maxLen: 48 };
const DECODER: DecoderConfigInput = { arch: 'decoder', vocabSize: 13, dModel: 16, numHeads: 4, numLayers: 2, dFF: 24, dropout: 0, maxLen: 48 };
const VARIANTS = [
  { name: 'relu, pre-norm, sinusoids', config: {} },
  { name: 'gelu (tanh), post-norm, tied, learned positions', config: { activation: 'gelu', normPlacement: 'post', tieEmbeddings: true, positionalEncoding: 'learned' } },
  { name: 'gelu (erf), unscaled embeddings, embedding norm, ε 1e-3', config: { activation: 'gelu', geluApproximation: 'none', scaleEmbeddings: false, embeddingNorm: true, layerNormEpsilon: 1e-3 } },
] as const;

/** Feed a fixed token pattern (independent of the logits) and record what every step gives. */
async function record(model: Transformer | DecoderOnly, prompts: number[][], plan: Plan, mode: Mode): Promise<Recorded> {
  const was = setDirectDecoding(mode === 'direct');
  const vocab = model.config.arch === 'decoder' ? model.config.vocabSize : model.config.tgtVocabSize;
  const out: Recorded = { logits: [], weights: [], fed: [], stepKernels: 0 };
  let generation: Generation | undefined;
  let counter: ReturnType<typeof instrumentKernels> | undefined;
  try {
    generation = model.startGeneration(prompts, { cache: mode !== 'full' });
    const g = generation;
    counter = instrumentKernels('wasm');
    const kernels = () => [...counter!.tally.values()].reduce((s, t) => s + t.calls, 0);
    let fed = prompts.map((p) => (model.arch === 'decoder' ? p.slice(0, -1) : []));
    let tokens = [...g.first];
    for (let t = 0; t < plan.steps; t++) {
      const select = plan.selects?.find((s) => s.at === t);
      if (select) {
        g.select(select.rows);
        tokens = select.rows.map((r) => tokens[r]!);
        fed = select.rows.map((r) => [...fed[r]!]);
      }
      fed = fed.map((row, i) => [...row, tokens[i]!]);
      const r = g.step(tokens, plan.returnAttention === true);
      const before = kernels();
      out.logits.push((await r.logits.array()) as number[][]);
      const weights = Object.entries(r.weights ?? {}).flatMap(([kind, list]) => list.map((w) => ({ kind, shape: w.shape, values: Array.from(w.dataSync()) })));
      out.weights.push(weights);
      out.fed.push(fed.map((row) => [...row]));
      tf.dispose([r.logits, ...Object.values(r.weights ?? {}).flat()]);
      // Reading and freeing the results may run kernels of their own: they are not the step's.
      out.stepKernels -= kernels() - before;
      tokens = tokens.map((_, i) => 3 + ((t * 5 + i * 3) % (vocab - 3)));
    }
    out.stepKernels += kernels();
    return out;
  } finally {
    counter?.restore();
    generation?.dispose();
    setDirectDecoding(was);
  }
}

/** Largest |a − b| over all steps, rows and tokens, and the largest |b| (the scale the error is judged against). */
function worstError(a: number[][][], b: number[][][]): { error: number; scale: number } {
  let error = 0;
  let scale = 0;
  a.forEach((step, s) =>
    step.forEach((row, r) =>
      row.forEach((x, j) => {
        const y = b[s]![r]![j]!;
        error = Math.max(error, Math.abs(x - y));
        scale = Math.max(scale, Math.abs(y));
      }),
    ),
  );
  return { error, scale };
}

function expectSameLogits(direct: Recorded, reference: Recorded, tolerance = 1e-5): void {
  expect(direct.logits.length).toBe(reference.logits.length);
  direct.logits.forEach((step, s) => expect(step.map((r) => r.length)).toEqual(reference.logits[s]!.map((r) => r.length)));
  const { error, scale } = worstError(direct.logits, reference.logits);
  expect(scale).toBeGreaterThan(0.1); // the logits are not flat
  expect(error).toBeLessThanOrEqual(tolerance * Math.max(1, scale));
}

/** The direct steps run no engine kernel and give the engine's cached logits and the full recompute's. */
async function expectDirectMatches(model: Transformer | DecoderOnly, prompts: readonly (readonly number[])[], plan: { steps: number; selects: readonly { at: number; rows: readonly number[] }[] }): Promise<void> {
  const copy: Plan = { steps: plan.steps, selects: plan.selects.map((s) => ({ at: s.at, rows: [...s.rows] })) };
  const rows = prompts.map((p) => [...p]);
  const direct = await record(model, rows, copy, 'direct');
  expect(direct.stepKernels).toBe(0);
  const engine = await record(model, rows, copy, 'engine');
  expect(engine.stepKernels).toBeGreaterThan(0);
  expectSameLogits(direct, engine);
  expectSameLogits(direct, await record(model, rows, copy, 'full'));
}

function encoderDecoder(config: object, seed = 5): Transformer {
  const model = createTransformer({ ...ENCODER_DECODER, ...config }, { seed });
  randomizeWeights(model, seed + 100, 0.5);
  return model;
}

function decoderOnly(config: object, seed = 5): DecoderOnly {
  const model = createModel({ ...DECODER, ...config, arch: 'decoder' }, { seed });
  randomizeWeights(model, seed + 100, 0.5);
  return model;
}

/** Sources of three lengths, padded in the batch; eos (2) last. */
const SOURCES = [[3, 4, 5, 6, 7, 2], [5, 2], [8, 9, 3, 4, 2]];

describe('direct decoding of the encoder–decoder', () => {
  for (const variant of VARIANTS) {
    it(`equals the engine's cached step and the full recompute to 1e-5, batch 1 and 3, with selects (${variant.name})`, async () => {
      const model = encoderDecoder(variant.config);
      try {
        for (const [prompts, selects] of [
          [[[3, 4, 5, 2]], [{ at: 6, rows: [0, 0] }]],
          // Repeated and reordered rows, more rows than the batch had, then fewer after the cache grows past 32 positions.
          [SOURCES, [{ at: 9, rows: [2, 0, 0, 1] }, { at: 35, rows: [3, 1] }]],
        ] as const) {
          await expectDirectMatches(model, prompts, { steps: 40, selects });
        }
      } finally {
        model.dispose();
      }
    });
  }

  it('returns the attention weights of the new position, as the engine does (padding weighted 0)', async () => {
    const model = encoderDecoder(VARIANTS[1].config);
    try {
      const plan = { steps: 12, selects: [{ at: 5, rows: [1, 2, 2] }], returnAttention: true };
      const direct = await record(model, SOURCES, plan, 'direct');
      const engine = await record(model, SOURCES, plan, 'engine');
      expect(direct.stepKernels).toBe(0);
      expectSameLogits(direct, engine);
      direct.weights.forEach((step, s) => {
        expect(step.map((w) => `${w.kind} ${w.shape.join('×')}`)).toEqual(engine.weights[s]!.map((w) => `${w.kind} ${w.shape.join('×')}`));
        step.forEach((w, i) => w.values.forEach((x, j) => expect(Math.abs(x - engine.weights[s]![i]!.values[j]!)).toBeLessThan(1e-6)));
      });
      // Step 0, row 1 (source "5 eos", padded to 6): cross weights on its 4 padding positions are 0, the rest sum to 1.
      const cross = direct.weights[0]!.find((w) => w.kind === 'cross')!;
      expect(cross.shape).toEqual([3, 4, 1, 6]);
      for (let h = 0; h < 4; h++) {
        const row = cross.values.slice((1 * 4 + h) * 6, (1 * 4 + h + 1) * 6);
        expect(row.slice(2)).toEqual([0, 0, 0, 0]);
        expect(row[0]! + row[1]!).toBeCloseTo(1, 6);
      }
    } finally {
      model.dispose();
    }
  });

  it('leaves no tensor behind after a whole generation (selects, weights, dispose)', async () => {
    const model = encoderDecoder({});
    try {
      const before = tf.memory().numTensors;
      await record(model, SOURCES, { steps: 40, selects: [{ at: 3, rows: [0, 1, 2, 2, 1, 0, 0] }, { at: 20, rows: [6] }], returnAttention: true }, 'direct');
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      model.dispose();
    }
  });
});

describe('direct decoding of the decoder-only model', () => {
  for (const variant of VARIANTS) {
    it(`equals the engine's cached step and the full recompute to 1e-5, prompts of 1 and 3 tokens, batch 1 and 3 (${variant.name})`, async () => {
      const model = decoderOnly(variant.config);
      try {
        for (const [prompts, selects] of [
          [[[1]], [{ at: 4, rows: [0, 0, 0] }]],
          [[[1, 3, 4], [1, 5, 6], [1, 7, 8]], [{ at: 9, rows: [2, 0, 0, 1] }, { at: 35, rows: [3, 1] }]],
        ] as const) {
          await expectDirectMatches(model, prompts, { steps: 40 - prompts[0]!.length, selects });
        }
      } finally {
        model.dispose();
      }
    });
  }

  it('equals a plain-loop transformer at every step (pre-norm, ReLU)', async () => {
    const model = decoderOnly({}, 9);
    try {
      const direct = await record(model, [[1, 3, 4], [1, 6, 5]], { steps: 22, selects: [{ at: 7, rows: [1, 1, 0] }] }, 'direct');
      const reference = plainReference(model);
      const expected = direct.fed.map((rows) => rows.map((tokens) => reference(tokens)));
      expectSameLogits(direct, { ...direct, logits: expected }, 2e-5);
    } finally {
      model.dispose();
    }
  });

  it('returns the self-attention weights of the new position, as the engine does', async () => {
    const model = decoderOnly(VARIANTS[2].config);
    try {
      const plan = { steps: 10, selects: [{ at: 4, rows: [1, 0] }], returnAttention: true };
      const direct = await record(model, [[1, 3, 4], [1, 5, 6]], plan, 'direct');
      const engine = await record(model, [[1, 3, 4], [1, 5, 6]], plan, 'engine');
      direct.weights.forEach((step, s) => {
        expect(step.map((w) => `${w.kind} ${w.shape.join('×')}`)).toEqual(engine.weights[s]!.map((w) => `${w.kind} ${w.shape.join('×')}`));
        expect(step[0]!.shape).toEqual([2, 4, 1, 3 + s]);
        step.forEach((w, i) => w.values.forEach((x, j) => expect(Math.abs(x - engine.weights[s]![i]!.values[j]!)).toBeLessThan(1e-6)));
      });
    } finally {
      model.dispose();
    }
  });

  it('greedy and beam search write the same ids as through the engine', async () => {
    const model = decoderOnly({ maxLen: 14 }, 3);
    try {
      const prompts = [[1, 3], [1, 4], [1, 5], [1, 6, 7]];
      const ids = { pad: 0, bos: 1, eos: 2 };
      const both = async <T>(run: () => Promise<T>): Promise<[T, T]> => {
        const was = setDirectDecoding(true);
        try {
          const direct = await run();
          setDirectDecoding(false);
          return [direct, await run()];
        } finally {
          setDirectDecoding(was);
        }
      };
      const [greedyDirect, greedyEngine] = await both(() => greedyDecode(model, prompts, ids, { maxLen: 10 }));
      expect(greedyDirect).toEqual(greedyEngine);
      const [beamDirect, beamEngine] = await both(() => beamSearchBatch(model, prompts, ids, { maxLen: 10, beam: 3 }));
      expect(beamDirect.map((b) => b.ids)).toEqual(beamEngine.map((b) => b.ids));
      beamDirect.forEach((b, i) => expect(b.score).toBeCloseTo(beamEngine[i]!.score, 4));
    } finally {
      model.dispose();
    }
  });

  it('leaves no tensor behind after a whole generation (prompt, selects, weights, dispose)', async () => {
    const model = decoderOnly({ tieEmbeddings: true });
    try {
      const before = tf.memory().numTensors;
      await record(model, [[1, 3, 4], [1, 5, 6]], { steps: 36, selects: [{ at: 2, rows: [1, 1, 0, 0, 1] }], returnAttention: true }, 'direct');
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      model.dispose();
    }
  });
});

describe('a trained model (models/pt-en)', () => {
  let translator: Translator;
  const sentences = generatePtEn({ seed: 1 }).test.slice(0, 24).map((p) => p.source);

  beforeAll(async () => {
    translator = await loadModel(new URL('../models/pt-en', import.meta.url).pathname);
  });
  afterAll(() => translator.model.dispose());

  async function translations(direct: boolean, beam: number): Promise<{ output: string; score: number }[]> {
    const was = setDirectDecoding(direct);
    try {
      return (await translator.translate(sentences, { beam })).map((t) => ({ output: t.output, score: t.score }));
    } finally {
      setDirectDecoding(was);
    }
  }

  for (const beam of [1, 4]) {
    it(`translates as through the engine (${beam === 1 ? 'greedy' : `beam ${beam}`}), and leaves no tensor behind`, async () => {
      const before = tf.memory().numTensors;
      const direct = await translations(true, beam);
      expect(tf.memory().numTensors).toBe(before);
      const engine = await translations(false, beam);
      expect(direct.map((t) => t.output)).toEqual(engine.map((t) => t.output));
      direct.forEach((t, i) => expect(t.score).toBeCloseTo(engine[i]!.score, 4));
      expect(direct.filter((t) => t.output.length > 0).length).toBe(sentences.length);
    });
  }
});

describe('when the direct decoder does not apply', () => {
  it('a model whose width is not a multiple of 4 decodes through the engine, correctly', async () => {
    const model = encoderDecoder({ dModel: 6, numHeads: 2 });
    try {
      expect(directRefusal(model.config, model.decoder, [])).toBe('dModel 6 (not a multiple of 4)');
      const plan = { steps: 8, selects: [{ at: 3, rows: [2, 1] }] };
      const direct = await record(model, SOURCES, plan, 'direct');
      expect(direct.stepKernels).toBeGreaterThan(0);
      expectSameLogits(direct, await record(model, SOURCES, plan, 'full'));
    } finally {
      model.dispose();
    }
  });

  it('a config field it does not know sends the model to the engine; the known ones do not', () => {
    const model = decoderOnly({});
    try {
      const attentions = model.decoder.blocks.map((b) => b.selfAttention);
      expect(directRefusal(model.config, model.decoder, attentions)).toBeNull();
      expect(directRefusal({ ...model.config, rotaryPositions: true } as never, model.decoder, attentions)).toBe('config field rotaryPositions');
    } finally {
      model.dispose();
    }
  });

  it('is off with the switch, and the heap is only found on the wasm backend', async () => {
    expect(WasmHeap.active()).not.toBeNull();
    const model = decoderOnly({});
    try {
      expect((await record(model, [[1, 3]], { steps: 3 }, 'engine')).stepKernels).toBeGreaterThan(0);
    } finally {
      model.dispose();
    }
  });
});

describe('the direct decoder refuses bad input with one line', () => {
  it('a token outside the vocabulary, a row that does not exist, a step past maxLen', () => {
    const model = decoderOnly({ maxLen: 4 });
    const g = model.startGeneration([[1, 3]]);
    try {
      expect(() => g.step([13])).toThrow(new ShapeError('token id 13 is outside the vocabulary (0 … 12)'));
      expect(() => g.select([1])).toThrow(new ShapeError('select: row 1 is not one of the 1 rows'));
      for (let t = 0; t < 3; t++) g.step([3]).logits.dispose();
      expect(() => g.step([3])).toThrow(ShapeError);
    } finally {
      g.dispose();
      model.dispose();
    }
  });
});

describe('a decoder described by hand', () => {
  /** One pre-norm ReLU block of width 8, every weight 0 but the output bias. */
  function zeroStack(override: (stack: DirectStack) => void = () => undefined): DirectStack {
    const d = 8;
    const z = (...shape: number[]) => tf.zeros(shape);
    const linear = (inputs: number, outputs: number) => ({ kernel: z(inputs, outputs), bias: z(outputs) });
    const norm = () => ({ gamma: z(d), beta: z(d), epsilon: 1e-5 });
    const stack: DirectStack = {
      dModel: d, numHeads: 2, dFF: 12, maxLen: 6, vocabSize: 5, activation: 'relu', geluApproximation: 'tanh', normPlacement: 'pre',
      embedding: tf.randomNormal([5, d]), scaleEmbeddings: true, positions: tf.randomNormal([6, d]), finalNorm: norm(),
      blocks: [{ self: { norm: norm(), query: linear(d, d), key: linear(d, d), value: linear(d, d), output: linear(d, d) }, feedForward: { norm: norm(), inner: linear(d, 12), outer: linear(12, d) } }],
      output: { kernel: z(d, 5), transposed: false, bias: tf.tensor1d([1, -2, 3, 0.5, 0]) },
    };
    override(stack);
    return stack;
  }

  it('with every weight 0 but the output bias, the logits are that bias at every step and row', async () => {
    const before = tf.memory().numTensors;
    const stack = zeroStack();
    const decoder = new DirectDecoder(WasmHeap.active()!, stack, 2);
    try {
      for (let t = 0; t < 6; t++) {
        const { logits } = decoder.step([t % 5, 4 - (t % 5)]);
        expect(await logits.array()).toEqual([[1, -2, 3, 0.5, 0], [1, -2, 3, 0.5, 0]]);
        logits.dispose();
      }
      expect(() => decoder.step([0, 0])).toThrow(new ShapeError('cannot decode past maxLen (6)'));
    } finally {
      decoder.dispose();
      tf.dispose(collect(stack));
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a description whose shapes do not fit, naming the weight', () => {
    const before = tf.memory().numTensors;
    const stack = zeroStack((s) => {
      tf.dispose(collect(s.blocks[0]!.self.key));
      s.blocks[0]!.self.key = { kernel: tf.zeros([8, 7]) };
    });
    try {
      expect(() => new DirectDecoder(WasmHeap.active()!, stack, 1)).toThrow(new ShapeError('layer 0 self-attention key kernel must be float32 (8, 8), got float32 (8, 7)'));
    } finally {
      tf.dispose(collect(stack));
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

/** Every tensor a description holds. */
function collect(value: unknown): tf.Tensor[] {
  if (value instanceof tf.Tensor) return [value];
  if (value === null || typeof value !== 'object') return [];
  return Object.values(value).flatMap(collect);
}

it('erf is within 2e-7 of hand-checked values', () => {
  // erf(0.5), erf(1), erf(2) to 10 places (Abramowitz and Stegun, table 7.1).
  for (const [x, y] of [[0, 0], [0.5, 0.5204998778], [1, 0.8427007929], [2, 0.995322265], [-1, -0.8427007929]] as const) {
    expect(Math.abs(erf(x) - y)).toBeLessThan(2e-7);
  }
});

/**
 * Next-token logits of a pre-norm, ReLU, untied decoder-only model with sinusoidal positions and
 * scaled embeddings, in plain loops over its weights: the whole sequence, causally, every time.
 */
function plainReference(model: DecoderOnly): (tokens: readonly number[]) => number[] {
  const weights = new Map(model.namedWeights().map(([name, v]) => [name, { values: Array.from(v.read().dataSync()), shape: v.shape as number[] }]));
  const vector = (name: string) => weights.get(name)!.values;
  const matrix = (name: string): Matrix => {
    const { values, shape } = weights.get(name)!;
    return Array.from({ length: shape[0]! }, (_, i) => values.slice(i * shape[1]!, (i + 1) * shape[1]!));
  };
  const { dModel: d, numHeads, numLayers } = model.config;
  const norm = (x: number[], prefix: string) => {
    const mean = x.reduce((a, b) => a + b, 0) / d;
    const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / d;
    const gamma = vector(`${prefix}/gamma`);
    const beta = vector(`${prefix}/beta`);
    return x.map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-5)) * gamma[i]! + beta[i]!);
  };
  const sinusoid = (p: number, i: number) => {
    const angle = p / Math.pow(10000, (i - (i % 2)) / d);
    return i % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
  };
  return (tokens) => {
    const table = matrix('decoder/embedding/table');
    let h: Matrix = tokens.map((id, p) => table[id]!.map((e, i) => e * Math.sqrt(d) + sinusoid(p, i)));
    const causal: Matrix = tokens.map((_, i) => tokens.map((__, j) => (j <= i ? 1 : 0)));
    for (let l = 0; l < numLayers; l++) {
      const at = `decoder/layer_${l}`;
      const a = `${at}/self_attention`;
      const n1 = h.map((row) => norm(row, `${at}/norm1`));
      const mha = { wq: matrix(`${a}/projection/wq`), wk: matrix(`${a}/projection/wk`), wv: matrix(`${a}/projection/wv`), wo: matrix(`${a}/wo`), bq: vector(`${a}/projection/bq`), bk: vector(`${a}/projection/bk`), bv: vector(`${a}/projection/bv`), bo: vector(`${a}/bo`) };
      const attended = multiHeadRef(n1, n1, n1, mha, numHeads, causal).output;
      h = h.map((row, i) => row.map((x, j) => x + attended[i]![j]!));
      const n2 = h.map((row) => norm(row, `${at}/norm2`));
      const hidden = addBias(matmul(n2, matrix(`${at}/feed_forward/w1`)), vector(`${at}/feed_forward/b1`)).map((row) => row.map((x) => Math.max(0, x)));
      const ff = addBias(matmul(hidden, matrix(`${at}/feed_forward/w2`)), vector(`${at}/feed_forward/b2`));
      h = h.map((row, i) => row.map((x, j) => x + ff[i]![j]!));
    }
    const last = norm(h[h.length - 1]!, 'decoder/final_norm');
    return addBias(matmul([last], matrix('output_kernel')), vector('output_bias'))[0]!;
  };
}
