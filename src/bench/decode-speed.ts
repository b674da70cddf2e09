import * as tf from '@tensorflow/tfjs';
import { greedyDecode } from '../infer/greedy.js';
import { createTransformer, type Transformer } from '../model/transformer.js';
import { setDirectDecoding } from '../ops/direct/decoder.js';
import { Random } from '../util/random.js';
import type { BenchShape } from './train-speed.js';

export interface DecodeSpeed {
  kind: 'decode';
  backend: string;
  batch: number;
  /** Output tokens decoded. */
  length: number;
  /** Milliseconds per decoding step with the key/value cache (the direct decoder where it applies: wasm). */
  cachedMsPerToken: number;
  /** The same through the engine, one kernel per operation (equal to the above where the direct decoder does not apply). */
  engineMsPerToken: number;
  /** Milliseconds per step re-running the decoder on the whole prefix. */
  fullMsPerToken: number;
  speedup: number;
}

export interface TranslateSpeed {
  kind: 'translate';
  backend: string;
  batch: number;
  sentences: number;
  /** Greedy translations per second (with the cache), source and output length 16. */
  sentencesPerSecond: number;
  /** The same with every cached step through the engine. */
  engineSentencesPerSecond: number;
}

const IDS = { pad: 0, bos: 1, eos: 2 };

function benchModel(shape: BenchShape, maxLen: number): Transformer {
  return createTransformer(
    { srcVocabSize: shape.vocab, tgtVocabSize: shape.vocab, dModel: shape.dModel, numHeads: shape.numHeads, numEncoderLayers: shape.layers, numDecoderLayers: shape.layers, dFF: shape.dFF, dropout: 0, maxLen },
    { seed: 1 },
  );
}

/** Per-token decoding latency at one output length and batch size, with and without the cache. */
export async function measureDecodeSpeed(shape: BenchShape, length: number, batch: number): Promise<DecodeSpeed> {
  const model = benchModel(shape, length + 1);
  const random = new Random(7);
  const sources = Array.from({ length: batch }, () => [...Array.from({ length: 15 }, () => random.int(3, shape.vocab - 1)), IDS.eos]);
  const tokens = Array.from({ length }, () => Array.from({ length: batch }, () => random.int(3, shape.vocab - 1)));
  // The encoder runs once per call in both ways, as in real decoding; the steps dominate.
  const decode = (cache: boolean) => async () => {
    const generation = model.startGeneration(sources, { cache });
    for (let t = 0; t < length; t++) {
      const { logits } = generation.step(t === 0 ? generation.first : tokens[t - 1]!);
      await logits.data(); // as a decoder reads each step's logits
      logits.dispose();
    }
    generation.dispose();
  };
  const cached = decode(true);
  const full = decode(false);
  try {
    // Direct and engine runs interleaved, so that a noisy machine slows both alike.
    const [cachedMs, engineMs] = (await timeBoth(cached, 5, cached)).map((ms) => ms / length) as [number, number];
    const fullMs = (await time(full, length >= 64 ? 1 : 2)) / length;
    return { kind: 'decode', backend: tf.getBackend(), batch, length, cachedMsPerToken: round(cachedMs), engineMsPerToken: round(engineMs), fullMsPerToken: round(fullMs), speedup: round(fullMs / cachedMs) };
  } finally {
    model.dispose();
  }
}

/** Batched greedy translation throughput on random sources of length 16 (outputs forced to 16 tokens). */
export async function measureTranslateSpeed(shape: BenchShape, batch: number, sentences = 256): Promise<TranslateSpeed> {
  const model = benchModel(shape, 17);
  const random = new Random(8);
  const sources = Array.from({ length: sentences }, () => [...Array.from({ length: 15 }, () => random.int(3, shape.vocab - 1)), IDS.eos]);
  // An eos id no model produces keeps every output at full length, so the timing does not depend on the weights.
  const ids = { ...IDS, eos: -1 };
  try {
    const warmUp = () => greedyDecode(model, sources.slice(0, batch), ids, { maxLen: 16, batchSize: batch });
    const [ms, engineMs] = await timeBoth(() => greedyDecode(model, sources, ids, { maxLen: 16, batchSize: batch }), 1, warmUp);
    return { kind: 'translate', backend: tf.getBackend(), batch, sentences, sentencesPerSecond: round((1000 * sentences) / ms), engineSentencesPerSecond: round((1000 * sentences) / engineMs) };
  } finally {
    model.dispose();
  }
}

async function time(run: () => Promise<unknown>, repeats: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return Math.min(...times);
}

/** The best of `repeats` runs with the direct decoder on and as many with it off, interleaved (after `warmUp` in each way): [direct, engine] ms. */
async function timeBoth(run: () => Promise<unknown>, repeats: number, warmUp?: () => Promise<unknown>): Promise<[number, number]> {
  const direct: number[] = [];
  const engine: number[] = [];
  const was = setDirectDecoding(true);
  try {
    for (const on of warmUp ? [true, false] : []) {
      setDirectDecoding(on);
      await warmUp!();
    }
    for (let i = 0; i < repeats; i++) {
      for (const on of [true, false]) {
        setDirectDecoding(on);
        (on ? direct : engine).push(await time(run, 1));
      }
    }
  } finally {
    setDirectDecoding(was);
  }
  return [Math.min(...direct), Math.min(...engine)];
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
