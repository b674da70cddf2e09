import * as tf from '@tensorflow/tfjs';
import type { LayerCache } from '../layers/decoder-layer.js';
import type { Transformer } from '../model/transformer.js';
import { ShapeError } from '../errors.js';

export interface StepOutput {
  /** (B, Vt) logits of the next token. */
  logits: tf.Tensor2D;
  /** Per decoder layer, (B, H, 1, t) self- and (B, H, 1, Ts) cross-attention weights, when asked for. */
  selfWeights?: tf.Tensor[];
  crossWeights?: tf.Tensor[];
}

/**
 * Step-by-step decoding with a key/value cache: the cross-attention keys/values of the encoder
 * output are computed once, and each step appends one position's self-attention keys/values, so a
 * step costs the same at position 100 as at position 1 (re-running the decoder on the whole prefix
 * costs in proportion to its length). Owns its tensors until `dispose`.
 */
export class IncrementalDecoder {
  private caches: LayerCache[];
  private memoryMask: tf.Tensor;
  private position = 0;
  private rows: number;

  /** memory (B, Ts, d) and memoryMask (B, 1, 1, Ts), as returned by `model.encode` (not taken over). */
  constructor(
    private readonly model: Transformer,
    memory: tf.Tensor,
    memoryMask: tf.Tensor,
  ) {
    this.rows = memory.shape[0]!;
    this.caches = model.decoder.startCache(memory);
    this.memoryMask = tf.clone(memoryMask);
  }

  /** Positions decoded so far. */
  get length(): number {
    return this.position;
  }

  /** Feed the token at the current position for each row (bos first) and get the next-token logits. */
  step(tokens: readonly number[], returnAttention = false): StepOutput {
    if (tokens.length !== this.rows) throw new ShapeError(`step needs ${this.rows} tokens, got ${tokens.length}`);
    if (this.position >= this.model.config.maxLen) {
      throw new ShapeError(`cannot decode past maxLen (${this.model.config.maxLen})`);
    }
    const ids = tf.tensor2d(Int32Array.from(tokens), [this.rows, 1], 'int32');
    const r = this.model.decoder.step(ids, this.position, this.caches, this.memoryMask, returnAttention);
    ids.dispose();
    this.freeSelf(this.caches);
    this.caches = r.caches;
    this.position++;
    const logits = tf.tidy(() => tf.reshape(this.model.project(r.hidden), [this.rows, -1]) as tf.Tensor2D);
    r.hidden.dispose();
    return { logits, selfWeights: r.selfWeights, crossWeights: r.crossWeights };
  }

  /** Keep rows `rows` of every cached tensor, in that order (beam search reorders and prunes hypotheses). */
  select(rows: readonly number[]): void {
    const index = tf.tensor1d(Int32Array.from(rows), 'int32');
    const pick = (t: tf.Tensor | undefined) => (t === undefined ? undefined : tf.gather(t, index));
    const next = this.caches.map((c) => ({ selfK: pick(c.selfK), selfV: pick(c.selfV), crossK: pick(c.crossK)!, crossV: pick(c.crossV)! }));
    const mask = tf.gather(this.memoryMask, index);
    index.dispose();
    this.dispose();
    this.caches = next;
    this.memoryMask = mask;
    this.rows = rows.length;
  }

  dispose(): void {
    this.freeSelf(this.caches);
    tf.dispose(this.caches.flatMap((c) => [c.crossK, c.crossV]));
    this.memoryMask.dispose();
    this.caches = [];
  }

  private freeSelf(caches: readonly LayerCache[]): void {
    for (const c of caches) tf.dispose([c.selfK, c.selfV].filter((t): t is tf.Tensor => t !== undefined));
  }
}
