import * as tf from '@tensorflow/tfjs';
import { BOS_ID } from '../data/tokenizer.js';
import { ShapeError } from '../errors.js';
import type { DecoderLayer, LayerCache } from '../layers/decoder-layer.js';
import type { DirectBlock, DirectDecoder } from '../ops/direct/decoder.js';
import { directFeedForward, directLinear, directNorm, directSelfAttention, projectionOf, startDirect } from './direct-stack.js';
import { idTensor } from './ids.js';
import type { AttentionWeights, Generation } from './model.js';
import type { Transformer } from './transformer.js';

/**
 * Step-by-step decoding for the encoder–decoder. With the key/value cache, the cross-attention
 * keys/values of the encoder output are computed once and each step appends one position's
 * self-attention keys/values, so a step costs the same at position 100 as at position 1. Without
 * it, each step re-runs the decoder on the whole prefix (the reference the cache is tested
 * against). Owns its tensors until `dispose`.
 */
export class Seq2SeqGeneration implements Generation {
  readonly first: readonly number[];
  private caches: LayerCache[] = [];
  /** The cached steps without the engine (wasm backend), when the model allows it; it then owns the cross keys/values. */
  private direct?: DirectDecoder;
  private memory: tf.Tensor;
  private memoryMask: tf.Tensor;
  /** Without a cache: the tokens fed so far, per row. */
  private fed: number[][];
  private position = 0;
  private count: number;

  /** `sources`: id lists ending with eos. */
  constructor(
    private readonly model: Transformer,
    sources: readonly number[][],
    private readonly cached: boolean,
  ) {
    this.count = sources.length;
    this.first = sources.map(() => BOS_ID);
    const src = idTensor(sources, model.config.padId);
    const length = src.shape[1];
    try {
      ({ memory: this.memory, memoryMask: this.memoryMask } = model.encode(src));
    } finally {
      src.dispose();
    }
    if (cached) {
      this.caches = model.decoder.startCache(this.memory);
      // The source mask as the layers compute it (ids ≠ padId), rows padded on the right.
      const mask = new Uint8Array(this.count * length);
      sources.forEach((row, i) => row.forEach((id, s) => (mask[i * length + s] = id === model.config.padId ? 0 : 1)));
      const layers = model.decoder.blocks;
      const attentions = layers.flatMap((b) => [b.selfAttention, b.crossAttention]);
      const blocks = layers.map((block, i) => crossBlock(block, this.caches[i]!));
      this.direct = startDirect(model.config, model.decoder, attentions, blocks, projectionOf(model), this.count, {
        memoryMask: { values: mask, length },
        owned: this.caches.flatMap((c) => [c.crossK, c.crossV]),
      });
      if (this.direct) this.caches = [];
    }
    this.fed = sources.map(() => []);
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
      return returnAttention ? { logits: r.logits, weights: { decoder: r.self!, cross: r.cross! } } : { logits: r.logits };
    }
    const ids = tf.tensor2d(Int32Array.from(tokens), [this.count, 1], 'int32');
    const r = this.model.decoder.step(ids, this.position, this.caches, this.memoryMask, returnAttention);
    ids.dispose();
    this.freeSelf(this.caches);
    this.caches = r.caches;
    this.position++;
    const logits = tf.tidy(() => tf.reshape(this.model.project(r.hidden), [this.count, -1]) as tf.Tensor2D);
    r.hidden.dispose();
    return returnAttention ? { logits, weights: { decoder: r.selfWeights!, cross: r.crossWeights! } } : { logits };
  }

  /** The whole prefix again; keeps the last position's logits and weights. */
  private fullStep(tokens: readonly number[], returnAttention: boolean): { logits: tf.Tensor2D; weights?: AttentionWeights } {
    this.fed.forEach((row, i) => row.push(tokens[i]!));
    this.position++;
    const t = this.position;
    return tf.tidy(() => {
      const prefix = tf.tensor2d(this.fed.flat(), [this.count, t], 'int32');
      const r = this.model.decode(prefix, this.memory, this.memoryMask, { returnAttention });
      const lastRow = tf.slice(r.hidden, [0, t - 1, 0], [this.count, 1, -1]); // (B, 1, d)
      const logits = tf.reshape(this.model.project(lastRow), [this.count, -1]) as tf.Tensor2D;
      if (!returnAttention) return { logits };
      const last = (w: tf.Tensor) => tf.slice(w, [0, 0, t - 1, 0], [-1, -1, 1, -1]); // (B, H, 1, Tk)
      return { logits, weights: { decoder: r.selfAttention!.map(last), cross: r.crossAttention!.map(last) } };
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
    const pick = (t: tf.Tensor | undefined) => (t === undefined ? undefined : tf.gather(t, index));
    const caches = this.caches.map((c) => ({ selfK: pick(c.selfK), selfV: pick(c.selfV), crossK: pick(c.crossK)!, crossV: pick(c.crossV)! }));
    const memory = tf.gather(this.memory, index);
    const mask = tf.gather(this.memoryMask, index);
    index.dispose();
    this.dispose();
    this.caches = caches;
    this.memory = memory;
    this.memoryMask = mask;
    this.fed = rows.map((r) => [...this.fed[r]!]);
    this.count = rows.length;
  }

  dispose(): void {
    this.direct?.dispose();
    this.freeSelf(this.caches);
    tf.dispose(this.caches.flatMap((c) => [c.crossK, c.crossV]));
    tf.dispose([this.memory, this.memoryMask]);
    this.caches = [];
  }

  private freeSelf(caches: readonly LayerCache[]): void {
    for (const c of caches) tf.dispose([c.selfK, c.selfV].filter((t): t is tf.Tensor => t !== undefined));
  }
}

/** A decoder block for the direct decoder: self-attention, cross-attention on the cached encoder keys/values, feed-forward. */
function crossBlock(block: DecoderLayer, cache: LayerCache): DirectBlock {
  const cross = block.crossAttention;
  return {
    self: directSelfAttention(block.selfAttention, block.norm1),
    cross: { norm: directNorm(block.norm2), query: directLinear(cross.projection.wq, cross.projection.bq), output: directLinear(cross.wo, cross.bo), keys: cache.crossK, values: cache.crossV },
    feedForward: directFeedForward(block.feedForward, block.norm3),
  };
}
