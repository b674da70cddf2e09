import * as tf from '@tensorflow/tfjs';
import type { SpecialIds } from '../data/batching.js';
import type { Transformer } from '../model/transformer.js';

export interface GreedyOptions {
  /** Longest output, in tokens (eos not counted). */
  maxLen: number;
  /** Sentences decoded together. Default: 128. */
  batchSize?: number;
}

/**
 * Greedy decoding: at every step feed the tokens so far and append the most likely next one, until
 * each sentence has produced eos or `maxLen` tokens. Sources are id arrays (ending with eos);
 * returns the output ids without bos/eos.
 */
export function greedyDecode(model: Transformer, sources: readonly number[][], ids: SpecialIds, options: GreedyOptions): number[][] {
  const batchSize = options.batchSize ?? 128;
  const limit = Math.min(options.maxLen, model.config.maxLen - 1);
  const results: number[][] = [];
  for (let start = 0; start < sources.length; start += batchSize) {
    const chunk = sources.slice(start, start + batchSize);
    results.push(...decodeChunk(model, chunk, ids, limit));
  }
  return results;
}

function decodeChunk(model: Transformer, sources: readonly number[][], ids: SpecialIds, limit: number): number[][] {
  const b = sources.length;
  const ts = Math.max(...sources.map((s) => s.length));
  const srcData = new Int32Array(b * ts).fill(ids.pad);
  sources.forEach((s, i) => srcData.set(s, i * ts));
  const src = tf.tensor2d(srcData, [b, ts], 'int32');
  const { memory, memoryMask } = model.encode(src);
  const outputs: number[][] = sources.map(() => []);
  const done = new Array<boolean>(b).fill(false);
  try {
    for (let step = 0; step < limit && done.includes(false); step++) {
      const next = tf.tidy(() => {
        const prefix = tf.tensor2d(outputs.map((o) => [ids.bos, ...padTo(o, step, ids.pad)]), [b, step + 1], 'int32');
        const { hidden } = model.decode(prefix, memory, memoryMask);
        const last = tf.slice(hidden, [0, step, 0], [b, 1, -1]); // (B, 1, d)
        return tf.argMax(model.project(last), -1).dataSync(); // (B, 1) → B ids
      });
      next.forEach((id, i) => {
        if (done[i]) return;
        if (id === ids.eos) done[i] = true;
        else outputs[i]!.push(id);
      });
    }
  } finally {
    tf.dispose([src, memory, memoryMask]);
  }
  return outputs;
}

/** Finished sentences keep being fed (their outputs are ignored); pad them to the common length. */
function padTo(tokens: number[], length: number, pad: number): number[] {
  return tokens.length >= length ? tokens.slice(0, length) : [...tokens, ...new Array<number>(length - tokens.length).fill(pad)];
}
