import * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../errors.js';
import type { EncoderLayer } from '../layers/encoder-layer.js';
import type { KeyValueCache } from '../layers/multi-head-attention.js';
import type { DirectBlock, DirectDecoder } from '../ops/direct/decoder.js';
import { directFeedForward, directSelfAttention, projectionOf, startDirect } from './direct-stack.js';
import type { DecoderOnly } from './decoder-only.js';
import type { AttentionWeights, Generation } from './model.js';

/**
 * Step-by-step decoding for the decoder-only model. The prompt, all but its last token, runs
 * through the stack once and fills the key/value cache; then each step feeds one token and
 * appends its keys/values. Without the cache each step re-runs the whole sequence (the reference
 * the cache is tested against). Prompts of one call must have the same length, so every row
 * sits at the same position.
 */
export class CausalGeneration implements Generation {
  readonly first: readonly number[];
  private caches: Required<KeyValueCache>[] = [];
  /** The cached steps without the engine (wasm backend), when the model allows it. */
  private direct?: DirectDecoder;
  private fed: number[][];
  private position: number;
  private count: number;

  constructor(
    private readonly model: DecoderOnly,
    prompts: readonly number[][],
    private readonly cached: boolean,
  ) {
    const length = prompts[0]?.length ?? 0;
    if (length === 0 || prompts.some((p) => p.length !== length)) {
      throw new ShapeError('prompts decoded together must be non-empty and of the same length');
    }
    if (length > model.config.maxLen) throw new ShapeError(`a prompt of ${length} tokens is longer than maxLen (${model.config.maxLen})`);
    this.count = prompts.length;
    this.first = prompts.map((p) => p[length - 1]!);
    this.fed = prompts.map((p) => p.slice(0, -1));
    this.position = length - 1;
    if (cached) {
      const blocks = model.decoder.blocks;
      this.direct = startDirect(model.config, model.decoder, blocks.map((b) => b.selfAttention), blocks.map(causalBlock), projectionOf(model), this.count);
    }
    if (cached && length > 1) {
      // The prompt runs through the engine in one pass; the direct decoder takes over its keys/values.
      const ids = tf.tensor2d(this.fed.flat(), [this.count, length - 1], 'int32');
      const r = model.decoder.step(ids, 0, []);
      ids.dispose();
      r.hidden.dispose();
      this.caches = r.caches;
      if (this.direct) {
        this.direct.load(this.caches);
        this.freeCaches();
      }
    }
  }

  get rows(): number {
    return this.count;
  }

  get capacity(): number {
    return Math.max(0, this.model.config.maxLen - 1 - this.position);
  }

  get length(): number {
    return this.position;
  }

  step(tokens: readonly number[], returnAttention = false): { logits: tf.Tensor2D; weights?: AttentionWeights } {
    if (tokens.length !== this.count) throw new ShapeError(`step needs ${this.count} tokens, got ${tokens.length}`);
    const maxLen = this.model.config.maxLen;
    if (this.position >= maxLen) throw new ShapeError(`cannot decode past maxLen (${maxLen})`);
    return this.cached ? this.cachedStep(tokens, returnAttention) : this.fullStep(tokens, returnAttention);
  }

  private cachedStep(tokens: readonly number[], returnAttention: boolean): { logits: tf.Tensor2D; weights?: AttentionWeights } {
    if (this.direct) {
      const r = this.direct.step(tokens, returnAttention);
      this.position++;
      return returnAttention ? { logits: r.logits, weights: { decoder: r.self! } } : { logits: r.logits };
    }
    const ids = tf.tensor2d(Int32Array.from(tokens), [this.count, 1], 'int32');
    const r = this.model.decoder.step(ids, this.position, this.caches, returnAttention);
    ids.dispose();
    this.freeCaches();
    this.caches = r.caches;
    this.position++;
    const logits = tf.tidy(() => tf.reshape(this.model.project(r.hidden), [this.count, -1]) as tf.Tensor2D);
    r.hidden.dispose();
    return returnAttention ? { logits, weights: { decoder: r.weights! } } : { logits };
  }

  private fullStep(tokens: readonly number[], returnAttention: boolean): { logits: tf.Tensor2D; weights?: AttentionWeights } {
    this.fed.forEach((row, i) => row.push(tokens[i]!));
    this.position++;
    const t = this.position;
    return tf.tidy(() => {
      const ids = tf.tensor2d(this.fed.flat(), [this.count, t], 'int32');
      const r = this.model.hidden(ids, { returnAttention });
      const lastRow = tf.slice(r.hidden, [0, t - 1, 0], [this.count, 1, -1]); // (B, 1, d)
      const logits = tf.reshape(this.model.project(lastRow), [this.count, -1]) as tf.Tensor2D;
      if (!returnAttention) return { logits };
      return { logits, weights: { decoder: r.attention!.map((w) => tf.slice(w, [0, 0, t - 1, 0], [-1, -1, 1, -1])) } };
    });
  }

  select(rows: readonly number[]): void {
    if (this.direct) {
      this.direct.select(rows);
      this.fed = rows.map((r) => [...this.fed[r]!]);
      this.count = rows.length;
      return;
    }
    const index = tf.tensor1d(Int32Array.from(rows), 'int32');
    const caches = this.caches.map((c) => ({ k: tf.gather(c.k, index), v: tf.gather(c.v, index) }));
    index.dispose();
    this.freeCaches();
    this.caches = caches;
    this.fed = rows.map((r) => [...this.fed[r]!]);
    this.count = rows.length;
  }

  dispose(): void {
    this.freeCaches();
    this.direct?.dispose();
  }

  private freeCaches(): void {
    tf.dispose(this.caches.flatMap((c) => [c.k, c.v]));
    this.caches = [];
  }
}

/** A GPT block: causal self-attention, then the feed-forward network. */
function causalBlock(block: EncoderLayer): DirectBlock {
  return { self: directSelfAttention(block.selfAttention, block.norm1), feedForward: directFeedForward(block.feedForward, block.norm2) };
}
