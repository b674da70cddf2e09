import * as tf from '@tensorflow/tfjs';
import type { TransformerConfigInput } from '../config.js';
import { createTransformer } from '../model/transformer.js';
import { DataParallel } from '../train/parallel.js';
import { Adam, ParamLayout } from '../train/adam.js';
import { trainableVariables, trainStep, type Batch } from '../train/step.js';
import type { EncodedPair } from '../data/batching.js';

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
  steps: number;
  params: number;
}

/**
 * Time training steps of the encoder–decoder on random data (Adam 0.9/0.98/1e-9, dropout 0.1), on the
 * backend that is active now. The first `warmup` steps are not counted.
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
  const batch: Batch = tf.tidy(() => {
    const tgt = tf.randomUniform([b, t + 1], 3, v, 'int32', 2);
    return {
      src: tf.randomUniform([b, t], 3, v, 'int32', 1) as tf.Tensor2D,
      tgtIn: tf.slice(tgt, [0, 0], [b, t]) as tf.Tensor2D,
      tgtOut: tf.slice(tgt, [0, 1], [b, t]) as tf.Tensor2D,
    };
  });
  const times: number[] = [];
  const parallel = workers > 1 ? await DataParallel.start(model, optimizer, tf.getBackend()) : undefined;
  const items = await itemsOf(batch);
  try {
    for (let i = 0; i < warmup + steps; i++) {
      const start = performance.now();
      if (parallel) {
        await parallel.step(items, { pad: 0, bos: 1, eos: 2 }, { labelSmoothing: 0, clipNorm: 0, dropoutSeed: 1000 + i });
      } else {
        trainStep(model, optimizer, batch);
      }
      if (i >= warmup) times.push(performance.now() - start);
    }
  } finally {
    await parallel?.dispose();
    tf.dispose([batch.src, batch.tgtIn, batch.tgtOut]);
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

/** The batch as id lists (what the data-parallel path splits); tokens 1 (bos) and pad never occur in it. */
async function itemsOf(batch: Batch): Promise<EncodedPair[]> {
  const src = (await batch.src.array()) as number[][];
  const out = (await batch.tgtOut.array()) as number[][];
  return src.map((s, i) => ({ src: s, tgt: out[i]! }));
}
