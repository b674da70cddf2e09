import * as tf from '@tensorflow/tfjs';
import type { TransformerConfigInput } from '../config.js';
import { createTransformer } from '../model/transformer.js';
import { DataParallel } from '../train/parallel.js';
import { Adam } from '../train/adam.js';
import { ParamLayout } from '../train/params.js';
import { trainableVariables, trainStep } from '../train/step.js';
import { disposeBatch, makeBatch, type EncodedPair } from '../data/batching.js';
import { seedDropout } from '../ops/dropout.js';
import { Random } from '../util/random.js';

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

export interface TrainSpeed {
  config: string;
  backend: string;
  /** Threads computing each step (data-parallel). */
  workers: number;
  /** Median milliseconds per training step after warm-up. */
  msPerStep: number;
  /** Target tokens trained per second: batch × length / seconds per step. */
  tokensPerSecond: number;
  /** Matrix-product work of a step (forward + backward ≈ 3 × forward) over its time. */
  gflops: number;
  steps: number;
  params: number;
}

/**
 * Floating-point operations of the matrix products in one training step: the forward pass of the
 * encoder–decoder (projections, attention scores and sums, feed-forward, output layer) counted as
 * 2·m·k·n per product, times 3 for forward and backward. Elementwise work is left out.
 */
export function trainingFlops(shape: BenchShape): number {
  const { batch: b, length: t, dModel: d, dFF: ff, layers, vocab } = shape;
  const n = b * t; // tokens on each side
  const projections = 4 * 2 * n * d * d; // Q, K, V and output
  const attention = 2 * 2 * b * t * t * d; // scores and weighted sum, all heads
  const feedForward = 2 * 2 * n * d * ff;
  const encoder = layers * (projections + attention + feedForward);
  const decoder = layers * (2 * (projections + attention) + feedForward);
  const output = 2 * n * d * vocab;
  return 3 * (encoder + decoder + output);
}

/** GFLOP/s of a plain (512, 512)·(512, 512) matMul on the active backend, one thread: the machine's practical peak there. */
export function measureMatMulPeak(repeats = 20): number {
  const a = tf.randomNormal([512, 512], 0, 1, 'float32', 1);
  const b = tf.randomNormal([512, 512], 0, 1, 'float32', 2);
  try {
    for (let i = 0; i < 3; i++) tf.matMul(a, b).dataSync();
    const times: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const start = performance.now();
      const c = tf.matMul(a, b);
      c.dataSync();
      times.push(performance.now() - start);
      c.dispose();
    }
    return round((2 * 512 ** 3) / (median(times) / 1000) / 1e9, 1);
  } finally {
    tf.dispose([a, b]);
  }
}

/**
 * Time training steps of the encoder–decoder on random data (Adam 0.9/0.98/1e-9, dropout 0.1), on the
 * backend that is active now: each step trains `batch` sequences of `length` source and `length`
 * target tokens, split across `workers` threads. The first `warmup` steps are not counted.
 */
export async function measureTrainSpeed(name: string, shape: BenchShape, steps: number, warmup: number, workers = 1): Promise<TrainSpeed> {
  const config: TransformerConfigInput = {
    srcVocabSize: shape.vocab,
    tgtVocabSize: shape.vocab,
    dModel: shape.dModel,
    numHeads: shape.numHeads,
    numEncoderLayers: shape.layers,
    numDecoderLayers: shape.layers,
    dFF: shape.dFF,
    dropout: 0.1,
    maxLen: Math.max(64, shape.length + 1),
  };
  const model = createTransformer(config, { seed: 1 });
  const params = model.countTrainableParams();
  const optimizer = new Adam(ParamLayout.of(trainableVariables(model)), { learningRate: 1e-3, beta1: 0.9, beta2: 0.98, epsilon: 1e-9 }, workers);
  const { batch: b, length: t, vocab: v } = shape;
  // Random ids from 3 (after pad, bos, eos); targets one shorter, as bos/eos make them `length` long.
  const random = new Random(7);
  const items: EncodedPair[] = Array.from({ length: b }, () => ({
    src: Array.from({ length: t }, () => random.int(3, v - 1)),
    tgt: Array.from({ length: t - 1 }, () => random.int(3, v - 1)),
  }));
  const ids = { pad: 0, bos: 1, eos: 2 };
  const times: number[] = [];
  const parallel = workers > 1 ? await DataParallel.start(model, optimizer, tf.getBackend()) : undefined;
  try {
    for (let i = 0; i < warmup + steps; i++) {
      const start = performance.now();
      if (parallel) {
        await parallel.step('seq2seq', items, ids, { labelSmoothing: 0, clipNorm: 0, dropoutSeed: 1000 + i });
      } else {
        const batch = makeBatch(items, ids);
        seedDropout(1000 + i);
        trainStep(model, optimizer, batch);
        seedDropout(undefined);
        disposeBatch(batch);
      }
      if (i >= warmup) times.push(performance.now() - start);
    }
  } finally {
    await parallel?.dispose();
    optimizer.dispose();
    model.dispose();
  }
  const msPerStep = median(times);
  return {
    config: name,
    backend: tf.getBackend(),
    workers,
    msPerStep: round(msPerStep, 1),
    tokensPerSecond: round((b * t) / (msPerStep / 1000), 0),
    gflops: round(trainingFlops(shape) / (msPerStep / 1000) / 1e9, 1),
    steps,
    params,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
