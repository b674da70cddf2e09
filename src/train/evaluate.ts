import * as tf from '@tensorflow/tfjs';
import { makeBatch, type EncodedPair, type SpecialIds } from '../data/batching.js';
import { greedyDecode } from '../infer/greedy.js';
import type { Transformer } from '../model/transformer.js';
import { maxOf } from '../util/objects.js';
import { sequenceLoss } from './loss.js';
import { corpusBleu, exactMatch } from './metrics.js';

export interface EvalMetrics {
  /** Mean token cross-entropy under teacher forcing (no label smoothing). */
  loss: number;
  /** Fraction of target tokens (eos included) predicted right under teacher forcing. */
  tokenAccuracy: number;
  /** Fraction of sentences whose greedy output equals the target exactly. */
  exactMatch: number;
  /** Corpus BLEU-4 of the greedy outputs, for translation. */
  bleu?: number;
  /** Number of pairs evaluated. */
  n: number;
}

export interface EvalOptions {
  ids: SpecialIds;
  /** Compute BLEU over target tokens (translation). */
  bleu?: boolean;
  /** Turns target ids into tokens, for BLEU. */
  tokensOf?: (ids: readonly number[]) => string[];
  batchSize?: number;
}

/** Loss, token accuracy, exact match (greedy) and optionally BLEU on encoded pairs. */
export function evaluate(model: Transformer, items: readonly EncodedPair[], options: EvalOptions): EvalMetrics {
  const batchSize = options.batchSize ?? 128;
  let lossSum = 0;
  let tokens = 0;
  let correct = 0;
  for (let start = 0; start < items.length; start += batchSize) {
    const chunk = items.slice(start, start + batchSize);
    const batch = makeBatch(chunk, options.ids);
    const [loss, count, right] = tf.tidy(() => {
      const mask = tf.notEqual(batch.tgtOut, options.ids.pad);
      const n = tf.sum(tf.cast(mask, 'float32')).dataSync()[0]!;
      const logits = model.forward(batch.src, batch.tgtIn); // (B, Tt, Vt), once for loss and accuracy
      const l = sequenceLoss(logits, batch.tgtOut, { padId: options.ids.pad }).dataSync()[0]!;
      const predicted = tf.argMax(logits, -1);
      const hits = tf.sum(tf.cast(tf.logicalAnd(tf.equal(predicted, batch.tgtOut), mask), 'float32')).dataSync()[0]!;
      return [l, n, hits];
    });
    tf.dispose([batch.src, batch.tgtIn, batch.tgtOut]);
    lossSum += loss * count;
    tokens += count;
    correct += right;
  }
  const maxLen = maxOf(items.map((p) => p.tgt.length)) + 5;
  const outputs = greedyDecode(model, items.map((p) => p.src), options.ids, { maxLen, batchSize });
  const references = items.map((p) => p.tgt);
  const metrics: EvalMetrics = {
    loss: tokens > 0 ? lossSum / tokens : 0,
    tokenAccuracy: tokens > 0 ? correct / tokens : 0,
    exactMatch: exactMatch(outputs, references),
    n: items.length,
  };
  if (options.bleu === true) {
    const toTokens = options.tokensOf ?? ((ids: readonly number[]) => ids.map(String));
    metrics.bleu = corpusBleu(outputs.map(toTokens), references.map(toTokens)).bleu;
  }
  return metrics;
}
