import * as tf from '@tensorflow/tfjs';
import { compactConfig } from '../config.js';
import { AtencaoLayer, type Kwargs, type LayerOutput } from './base.js';
import { blockArgs, type BlockArgs } from './encoder-layer.js';
import { FeedForward } from './feed-forward.js';
import { LayerNorm } from './layer-norm.js';
import { MultiHeadAttention, type KeyValueCache } from './multi-head-attention.js';
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
  /** (B, Tn, d) */
  output: tf.Tensor;
  /** The cache with this position's self-attention keys/values appended (the cross part is shared). */
  cache: LayerCache;
  /** (B, H, 1, t) and (B, H, 1, Ts), when asked for. */
  selfWeights?: tf.Tensor;
  crossWeights?: tf.Tensor;
}

/** A decoder block's attention weights: causal self-attention (B, H, Tt, Tt) and cross-attention (B, H, Tt, Ts). */
export interface DecoderWeights {
  self: tf.Tensor;
  cross: tf.Tensor;
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
    const { dModel, numHeads, dFF, dropout, activation, geluApproximation } = this.args;
    const keyDim = dModel / numHeads;
    this.selfAttention = this.child('self_attention', new MultiHeadAttention({ name: `${this.name}_self_attention`, numHeads, keyDim, dropout }));
    this.crossAttention = this.child('cross_attention', new MultiHeadAttention({ name: `${this.name}_cross_attention`, numHeads, keyDim, dropout }));
    this.feedForward = this.child('feed_forward', new FeedForward({ name: `${this.name}_feed_forward`, dFF, activation, geluApproximation, dropout }));
    const epsilon = this.args.layerNormEpsilon;
    this.norm1 = this.child('norm1', new LayerNorm({ name: `${this.name}_norm1`, epsilon }));
    this.norm2 = this.child('norm2', new LayerNorm({ name: `${this.name}_norm2`, epsilon }));
    this.norm3 = this.child('norm3', new LayerNorm({ name: `${this.name}_norm3`, epsilon }));
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
    const options = kwargs as DecoderLayerCallArgs;
    const { output, weights } = this.forward(x!, memory!, options);
    return options.returnAttentionScores === true ? [output, weights!.self, weights!.cross] : output;
  }

  /**
   * x (B, Tt, d) and memory (B, Ts, d) → (B, Tt, d), and when asked for the causal self-attention
   * (B, H, Tt, Tt) and cross-attention (B, H, Tt, Ts) weights.
   */
  forward(x: tf.Tensor, memory: tf.Tensor, options: DecoderLayerCallArgs = {}): LayerOutput<DecoderWeights> {
    const { selfMask, memoryMask, training, returnAttentionScores } = options;
    const { normPlacement, dropout } = this.args;
    const [output, self, cross] = tf.tidy(() => {
      let selfWeights: tf.Tensor | undefined;
      let crossWeights: tf.Tensor | undefined;
      let h = residual(x, this.norm1, normPlacement, dropout, training, (n) => {
        const r = this.selfAttention.forward(n, n, n, { attentionMask: selfMask, useCausalMask: true, training, returnAttentionScores });
        selfWeights = r.weights;
        return r.output;
      });
      h = residual(h, this.norm2, normPlacement, dropout, training, (n) => {
        const r = this.crossAttention.forward(n, memory, memory, { attentionMask: memoryMask, training, returnAttentionScores });
        crossWeights = r.weights;
        return r.output;
      });
      h = residual(h, this.norm3, normPlacement, dropout, training, (n) => this.feedForward.forward(n, { training }).output);
      return selfWeights && crossWeights ? [h, selfWeights, crossWeights] : [h];
    });
    return self && cross ? { output: output!, weights: { self, cross } } : { output: output! };
  }

  /** Project the encoder output once for cross-attention: the fixed part of the cache. */
  startCache(memory: tf.Tensor): LayerCache {
    const { k, v } = this.crossAttention.projection.projectKeyValue(memory, memory);
    return { crossK: k, crossV: v };
  }

  /**
   * Decode new positions x (B, Tn, d), attending to the cached positions before them: the same
   * result as running `forward` on the whole prefix and keeping its last rows, without recomputing
   * the earlier positions. The caller owns the returned cache's new selfK/selfV and the old ones.
   */
  step(x: tf.Tensor, cache: LayerCache, memoryMask: tf.Tensor | undefined, returnAttentionScores = false): StepResult {
    const { normPlacement } = this.args;
    const [output, selfK, selfV, selfWeights, crossWeights] = tf.tidy(() => {
      let kv!: Required<KeyValueCache>;
      let sw: tf.Tensor | undefined;
      let cw: tf.Tensor | undefined;
      let h = residual(x, this.norm1, normPlacement, 0, false, (n) => {
        const r = this.selfAttention.forwardCached(n, { k: cache.selfK, v: cache.selfV }, { returnAttentionScores });
        kv = r.cache;
        sw = r.weights;
        return r.output;
      });
      h = residual(h, this.norm2, normPlacement, 0, false, (n) => {
        const q = this.crossAttention.projection.projectQuery(n);
        const r = this.crossAttention.forwardProjected(q, cache.crossK, cache.crossV, { attentionMask: memoryMask, returnAttentionScores });
        cw = r.weights;
        return r.output;
      });
      h = residual(h, this.norm3, normPlacement, 0, false, (n) => this.feedForward.forward(n).output);
      return [h, kv.k, kv.v, ...(sw && cw ? [sw, cw] : [])];
    });
    return {
      output: output!,
      cache: { ...cache, selfK, selfV },
      ...(selfWeights && crossWeights ? { selfWeights, crossWeights } : {}),
    };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...compactConfig(this.args) };
  }
}
tf.serialization.registerClass(DecoderLayer);
