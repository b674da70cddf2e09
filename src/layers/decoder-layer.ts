import * as tf from '@tensorflow/tfjs';
import { AtencaoLayer, type Kwargs } from './base.js';
import { blockArgs, type BlockArgs } from './encoder-layer.js';
import { FeedForward } from './feed-forward.js';
import { LayerNorm } from './layer-norm.js';
import { MultiHeadAttention } from './multi-head-attention.js';
import { residual } from './residual.js';

/** Keys and values one decoder layer keeps while decoding step by step. */
export interface LayerCache {
  /** Self-attention keys/values of the positions decoded so far, (B, H, t, dk|dv); absent before the first step. */
  selfK?: tf.Tensor;
  selfV?: tf.Tensor;
  /** Cross-attention keys/values of the encoder output, computed once, (B, H, Ts, dk|dv). */
  crossK: tf.Tensor;
  crossV: tf.Tensor;
}

export interface StepResult {
  /** (B, 1, d) */
  output: tf.Tensor;
  /** The cache with this position's self-attention keys/values appended (the cross part is shared). */
  cache: LayerCache;
  /** (B, H, 1, t) and (B, H, 1, Ts), when asked for. */
  selfWeights?: tf.Tensor;
  crossWeights?: tf.Tensor;
}

export interface DecoderLayerCallArgs {
  /** Padding mask of the target, (B, 1, 1, Tt); the causal mask is always added. */
  selfMask?: tf.Tensor;
  /** Padding mask of the source, (B, 1, 1, Ts). */
  memoryMask?: tf.Tensor;
  training?: boolean;
  /** Also return the self- and cross-attention weights, (B, H, Tt, Tt) and (B, H, Tt, Ts). */
  returnAttentionScores?: boolean;
}

/**
 * One decoder block: causal self-attention, cross-attention over the encoder output (memory), then
 * the feed-forward network, each in a residual. Inputs [x (B, Tt, d), memory (B, Ts, d)] → (B, Tt, d).
 */
export class DecoderLayer extends AtencaoLayer {
  static className = 'DecoderLayer';
  readonly args: ReturnType<typeof blockArgs>;
  readonly selfAttention: MultiHeadAttention;
  readonly crossAttention: MultiHeadAttention;
  readonly feedForward: FeedForward;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly norm3: LayerNorm;

  constructor(args: BlockArgs) {
    super(args);
    this.args = blockArgs(args);
    const { dModel, numHeads, dFF, dropout, activation } = this.args;
    const keyDim = dModel / numHeads;
    this.selfAttention = this.child('self_attention', new MultiHeadAttention({ name: `${this.name}_self_attention`, numHeads, keyDim, dropout }));
    this.crossAttention = this.child('cross_attention', new MultiHeadAttention({ name: `${this.name}_cross_attention`, numHeads, keyDim, dropout }));
    this.feedForward = this.child('feed_forward', new FeedForward({ name: `${this.name}_feed_forward`, dFF, activation, dropout }));
    this.norm1 = this.child('norm1', new LayerNorm({ name: `${this.name}_norm1` }));
    this.norm2 = this.child('norm2', new LayerNorm({ name: `${this.name}_norm2` }));
    this.norm3 = this.child('norm3', new LayerNorm({ name: `${this.name}_norm3` }));
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const [x, memory] = inputShape as tf.Shape[];
    this.buildChild(this.selfAttention, [x!, x!]);
    this.buildChild(this.crossAttention, [x!, memory!]);
    this.buildChild(this.feedForward, x!);
    for (const norm of [this.norm1, this.norm2, this.norm3]) this.buildChild(norm, x!);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return (inputShape as tf.Shape[])[0]!;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const [x, memory] = inputs as tf.Tensor[];
    const { selfMask, memoryMask, training, returnAttentionScores } = kwargs as DecoderLayerCallArgs;
    const { normPlacement, dropout } = this.args;
    return tf.tidy(() => {
      let selfWeights: tf.Tensor | undefined;
      let crossWeights: tf.Tensor | undefined;
      let h = residual(x!, this.norm1, normPlacement, dropout, training, (n) => {
        const r = this.selfAttention.attend(n, n, n, { attentionMask: selfMask, useCausalMask: true, training, returnAttentionScores });
        selfWeights = r.weights;
        return r.output;
      });
      h = residual(h, this.norm2, normPlacement, dropout, training, (n) => {
        const r = this.crossAttention.attend(n, memory!, memory!, { attentionMask: memoryMask, training, returnAttentionScores });
        crossWeights = r.weights;
        return r.output;
      });
      h = residual(h, this.norm3, normPlacement, dropout, training, (n) => this.feedForward.apply(n, { training }) as tf.Tensor);
      return returnAttentionScores === true ? [h, selfWeights!, crossWeights!] : h;
    });
  }

  /** Project the encoder output once for cross-attention: the fixed part of the cache. */
  startCache(memory: tf.Tensor): LayerCache {
    const { k, v } = this.crossAttention.projection.projectKeyValue(memory, memory);
    return { crossK: k, crossV: v };
  }

  /**
   * Decode one new position, x (B, 1, d), attending to the cached positions before it: the same
   * result as running `call` on the whole prefix and keeping its last row, without recomputing the
   * earlier positions. The caller owns the returned cache's new selfK/selfV and the old ones.
   */
  step(x: tf.Tensor, cache: LayerCache, memoryMask: tf.Tensor | undefined, returnAttentionScores = false): StepResult {
    const { normPlacement } = this.args;
    const [output, selfK, selfV, selfWeights, crossWeights] = tf.tidy(() => {
      let k!: tf.Tensor;
      let v!: tf.Tensor;
      let sw: tf.Tensor | undefined;
      let cw: tf.Tensor | undefined;
      let h = residual(x, this.norm1, normPlacement, 0, false, (n) => {
        const projection = this.selfAttention.projection;
        const q = projection.projectQuery(n); // (B, H, 1, dk)
        const fresh = projection.projectKeyValue(n, n);
        k = cache.selfK ? tf.concat([cache.selfK, fresh.k], 2) : fresh.k; // (B, H, t, dk)
        v = cache.selfV ? tf.concat([cache.selfV, fresh.v], 2) : fresh.v;
        const r = this.selfAttention.attendProjected(q, k, v, { returnAttentionScores });
        sw = r.weights;
        return r.output;
      });
      h = residual(h, this.norm2, normPlacement, 0, false, (n) => {
        const q = this.crossAttention.projection.projectQuery(n);
        const r = this.crossAttention.attendProjected(q, cache.crossK, cache.crossV, { attentionMask: memoryMask, returnAttentionScores });
        cw = r.weights;
        return r.output;
      });
      h = residual(h, this.norm3, normPlacement, 0, false, (n) => this.feedForward.apply(n) as tf.Tensor);
      return [h, k, v, ...(sw && cw ? [sw, cw] : [])];
    });
    return {
      output: output!,
      cache: { ...cache, selfK, selfV },
      ...(selfWeights && crossWeights ? { selfWeights, crossWeights } : {}),
    };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.args };
  }
}
tf.serialization.registerClass(DecoderLayer);
