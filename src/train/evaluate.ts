import * as tf from '@tensorflow/tfjs';
import { BATCHERS, disposeBatch, splitByTokens, type Example, type SpecialIds } from '../data/batching.js';
import { greedyDecode } from '../infer/greedy.js';
import type { Model, Objective } from '../model/model.js';
import { maskedCrossEntropy } from '../model/loss.js';
import type { EvalMetrics } from '../io/run-record.js';
import { maxOf } from '../util/objects.js';
import { chrF, corpusBleu, exactMatch, sacreBleu } from './metrics.js';
import { DEFAULT_MAX_TOKENS } from './step.js';

export type { EvalMetrics };

export interface EvalOptions {
  /** How the examples are batched and scored. Default: seq2seq. */
  objective: Objective;
  ids: SpecialIds;
  /** Compute BLEU over target tokens (translation). */
  bleu?: boolean;
  /** Turns target ids into tokens, for BLEU. */
  tokensOf?: (ids: readonly number[]) => string[];
  /**
   * Turns target ids into text. When given, BLEU is computed as sacreBLEU does on that text
   * (13a tokenization) and chrF is added; otherwise BLEU is over `tokensOf` tokens.
   */
  detokenize?: (ids: readonly number[]) => string;
  /** Examples scored (and decoded) at once. Default 128. */
  batchSize?: number;
  /**
   * Padded tokens scored at once: a batch of more is cut into pieces (splitByTokens), which
   * changes no metric. Default 768, as a training step.
   */
  maxTokens?: number;
}

/** Loss, token accuracy, and where they mean something exact match (greedy decoding) and BLEU. */
export async function evaluate(model: Model, items: readonly Example[], options: EvalOptions): Promise<EvalMetrics> {
  const batchSize = options.batchSize ?? 128;
  const batcher = BATCHERS[options.objective];
  let lossSum = 0;
  let tokens = 0;
  let correct = 0;
  const pieces: Example[][] = [];
  for (let start = 0; start < items.length; start += batchSize) {
    pieces.push(...splitByTokens(items.slice(start, start + batchSize), options.maxTokens ?? DEFAULT_MAX_TOKENS, batcher.length));
  }
  for (const piece of pieces) {
    const batch = batcher.make(piece, options.ids);
    const sums = tf.tidy(() => {
      const { logits, targets, mask } = model.score(batch); // once for loss and accuracy
      const n = tf.sum(mask);
      const l = maskedCrossEntropy(logits, targets, mask);
      const hits = tf.sum(tf.mul(tf.cast(tf.equal(tf.argMax(logits, -1), tf.cast(targets, 'int32')), 'float32'), mask));
      return tf.stack([l, n, hits]);
    });
    disposeBatch(batch);
    const [loss, count, right] = await sums.data(); // one asynchronous read per batch
    sums.dispose();
    lossSum += loss * count;
    tokens += count;
    correct += right;
  }
  const metrics: EvalMetrics = {
    loss: tokens > 0 ? lossSum / tokens : 0,
    tokenAccuracy: tokens > 0 ? correct / tokens : 0,
    n: items.length,
  };
  if (options.objective === 'classify') metrics.exactMatch = metrics.tokenAccuracy;
  const outputs = await decodeTargets(model, items, options);
  if (outputs === undefined) return metrics;
  const references = items.map((p) => p.tgt);
  metrics.exactMatch = exactMatch(outputs, references);
  if (options.bleu === true && options.detokenize !== undefined) {
    const [hypotheses, texts] = [outputs.map(options.detokenize), references.map(options.detokenize)];
    metrics.bleu = sacreBleu(hypotheses, texts).score / 100;
    metrics.chrf = chrF(hypotheses, texts) / 100;
  } else if (options.bleu === true) {
    const toTokens = options.tokensOf ?? ((ids: readonly number[]) => ids.map(String));
    metrics.bleu = corpusBleu(outputs.map(toTokens), references.map(toTokens)).bleu;
  }
  return metrics;
}

/**
 * Greedy outputs for examples that have a target to write from a prompt: translations (prompt =
 * source) and continuations (prompt = bos + input); undefined for the other objectives.
 */
async function decodeTargets(model: Model, items: readonly Example[], options: EvalOptions): Promise<number[][] | undefined> {
  if (model.startGeneration === undefined) return undefined;
  const generator = { startGeneration: model.startGeneration.bind(model) };
  const maxLen = maxOf(items.map((p) => p.tgt.length)) + 5;
  const batchSize = options.batchSize ?? 128;
  if (options.objective === 'seq2seq') {
    return greedyDecode(generator, items.map((p) => p.src), options.ids, { maxLen, batchSize });
  }
  if (options.objective === 'lm' && items.length > 0 && items.every((p) => p.src.length > 0)) {
    return greedyDecode(generator, items.map((p) => [options.ids.bos, ...p.src]), options.ids, { maxLen, batchSize });
  }
  return undefined;
}
