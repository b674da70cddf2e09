import * as tf from '@tensorflow/tfjs';
import type { Example } from '../data/batching.js';
import { createModel } from '../model/create.js';
import type { Model, Objective } from '../model/model.js';
import { isDeviceBackend } from '../backend.js';
import { createStepper, lossValue, type StepOutcome, type Stepper } from '../train/stepper.js';
import { Random } from '../util/random.js';
import { instrumentKernels } from './instrument.js';
import { median, round } from '../util/numbers.js';

export interface BenchShape {
  dModel: number;
  numHeads: number;
  layers: number;
  dFF: number;
  vocab: number;
  length: number;
  batch: number;
}

/** The two standard configurations every backend is measured on. */
export const BENCH_CONFIGS: Record<string, BenchShape> = {
  small: { dModel: 64, numHeads: 4, layers: 2, dFF: 256, vocab: 32, length: 16, batch: 64 },
  big: { dModel: 128, numHeads: 8, layers: 2, dFF: 512, vocab: 32, length: 32, batch: 32 },
};

/** The families the training bench compares with a reference: the encoder–decoder and the decoder-only model. */
export const BENCH_ARCHS = ['encoder-decoder', 'decoder'] as const;
export type BenchArch = (typeof BENCH_ARCHS)[number];

export interface TrainSpeed {
  config: string;
  arch: BenchArch;
  backend: string;
  /** Threads computing each step (data-parallel). */
  workers: number;
  /** Median milliseconds per training step after warm-up. */
  msPerStep: number;
  /** Predicted tokens trained per second: the targets of a batch / seconds per step. */
  tokensPerSecond: number;
  /** Matrix-product work of a step (forward + backward ≈ 3 × forward) over its time. */
  gflops: number;
  steps: number;
  params: number;
  /** Kernel calls in one step on this thread (its share of the batch when the step is split). */
  kernelCalls: number;
}

/**
 * The decoder-only model a shape stands for: the encoder–decoder's block count in one causal stack
 * (2 × layers blocks) over source and target as one sequence (length 2 × T), as in
 * `torch_ref.py --arch decoder`.
 */
export function decoderShape(shape: BenchShape): { numLayers: number; length: number } {
  return { numLayers: 2 * shape.layers, length: 2 * shape.length };
}

/**
 * Floating-point operations of the matrix products in one training step, counted as 2·m·k·n per
 * product, times 3 for forward and backward; elementwise work is left out. The encoder–decoder:
 * projections, attention scores and sums and feed-forward of every encoder and decoder layer
 * (decoder layers attend twice), then the output layer over the target tokens. The decoder-only
 * model: 2 × layers blocks of self-attention and feed-forward over 2T tokens, and the output layer.
 */
export function trainingFlops(shape: BenchShape, arch: BenchArch = 'encoder-decoder'): number {
  const { batch: b, dModel: d, dFF: ff, vocab } = shape;
  const block = (t: number) => {
    const n = b * t;
    return {
      projections: 4 * 2 * n * d * d, // Q, K, V and output
      attention: 2 * 2 * b * t * t * d, // scores and weighted sum, all heads
      feedForward: 2 * 2 * n * d * ff,
      output: 2 * n * d * vocab,
    };
  };
  if (arch === 'decoder') {
    const { numLayers, length } = decoderShape(shape);
    const f = block(length);
    return 3 * (numLayers * (f.projections + f.attention + f.feedForward) + f.output);
  }
  const f = block(shape.length);
  const encoder = shape.layers * (f.projections + f.attention + f.feedForward);
  const decoder = shape.layers * (2 * (f.projections + f.attention) + f.feedForward);
  return 3 * (encoder + decoder + f.output);
}

/** GFLOP/s of a plain (512, 512)·(512, 512) matMul on the active backend, one thread: the machine's practical peak there. */
export async function measureMatMulPeak(repeats = 20): Promise<number> {
  const a = tf.randomNormal([512, 512], 0, 1, 'float32', 1);
  const b = tf.randomNormal([512, 512], 0, 1, 'float32', 2);
  const once = async () => {
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
  };
  try {
    for (let i = 0; i < 3; i++) await once();
    const times: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const start = performance.now();
      await once();
      times.push(performance.now() - start);
    }
    return round((2 * 512 ** 3) / (median(times) / 1000) / 1e9, 1);
  } finally {
    tf.dispose([a, b]);
  }
}

export const BENCH_IDS = { pad: 0, bos: 1, eos: 2 };

/** The model of one family for a bench shape, with dropout 0.1 as in training. */
export function benchModel(shape: BenchShape, arch: BenchArch): Model {
  const block = { dModel: shape.dModel, numHeads: shape.numHeads, dFF: shape.dFF, dropout: 0.1 };
  if (arch === 'decoder') {
    const { numLayers, length } = decoderShape(shape);
    return createModel({ ...block, arch, vocabSize: shape.vocab, numLayers, maxLen: Math.max(64, length + 1) }, { seed: 1 });
  }
  return createModel({ ...block, srcVocabSize: shape.vocab, tgtVocabSize: shape.vocab, numEncoderLayers: shape.layers, numDecoderLayers: shape.layers, maxLen: Math.max(64, shape.length + 1) }, { seed: 1 });
}

/**
 * One batch of random ids from 3 up (after pad, bos, eos) and the objective it trains. The
 * encoder–decoder: sources of T tokens and targets of T − 1, which bos/eos make T long. The
 * decoder-only model: sequences [bos, 2T − 1 tokens, eos] with no prompt, so all 2T positions are
 * predicted, as in the PyTorch reference.
 */
export function benchBatch(shape: BenchShape, arch: BenchArch): { objective: Objective; items: Example[]; tokens: number } {
  const { batch: b, length: t, vocab: v } = shape;
  const random = new Random(7);
  const ids = (n: number) => Array.from({ length: n }, () => random.int(3, v - 1));
  if (arch === 'decoder') {
    const { length } = decoderShape(shape);
    return { objective: 'lm', items: Array.from({ length: b }, () => ({ src: [], tgt: ids(length - 1) })), tokens: b * length };
  }
  return { objective: 'seq2seq', items: Array.from({ length: b }, () => ({ src: ids(t), tgt: ids(t - 1) })), tokens: b * t };
}

/**
 * Time training steps of one family on random data (Adam 0.9/0.98/1e-9, dropout 0.1, no label
 * smoothing or clipping, as in the PyTorch reference), on the backend that is active now, with the
 * stepper training uses (`createStepper`: flat Adam on this thread, or the batch split across
 * `workers` threads). The first `warmup` steps are not counted.
 */
export async function measureTrainSpeed(name: string, shape: BenchShape, steps: number, warmup: number, workers = 1, arch: BenchArch = 'encoder-decoder', afterStep?: () => void): Promise<TrainSpeed> {
  const model = benchModel(shape, arch);
  const params = model.countTrainableParams();
  const { objective, items, tokens } = benchBatch(shape, arch);
  const times: number[] = [];
  let stepper: Stepper | undefined;
  let kernelCalls = 0;
  try {
    stepper = await createStepper(model, { lr: 1e-3, backend: tf.getBackend(), threads: workers });
    const step = (i: number) => stepper!.step({ objective, items, ids: BENCH_IDS, lr: 1e-3, labelSmoothing: 0, clipNorm: 0, dropoutSeed: 1000 + i });
    if (isDeviceBackend(tf.getBackend())) {
      // A device queues steps without waiting for them: time them together, up to the last loss read.
      for (let i = 0; i < warmup; i++) await lossValue(await step(i));
      const start = performance.now();
      const losses: StepOutcome[] = [];
      for (let i = warmup; i < warmup + steps; i++) losses.push(await step(i));
      await lossValue(losses.pop()!);
      times.push((performance.now() - start) / steps);
      for (const o of losses) if (typeof o.loss !== 'number') o.loss.dispose();
    } else {
      for (let i = 0; i < warmup + steps; i++) {
        const start = performance.now();
        await step(i);
        if (i >= warmup) times.push(performance.now() - start);
        afterStep?.();
      }
    }
    // One more step, its kernel calls counted.
    const { tally, restore } = instrumentKernels(tf.getBackend());
    try {
      await lossValue(await step(warmup + steps));
    } finally {
      restore();
    }
    kernelCalls = [...tally.values()].reduce((s, t) => s + t.calls, 0);
  } finally {
    await stepper?.dispose();
    model.dispose();
  }
  const msPerStep = median(times);
  return {
    config: name,
    arch,
    backend: tf.getBackend(),
    workers,
    msPerStep: round(msPerStep, 1),
    tokensPerSecond: round(tokens / (msPerStep / 1000), 0),
    gflops: round(trainingFlops(shape, arch) / (msPerStep / 1000) / 1e9, 1),
    steps,
    params,
    kernelCalls,
  };
}
