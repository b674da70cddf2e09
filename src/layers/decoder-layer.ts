import * as tf from '@tensorflow/tfjs';
import { AtencaoLayer, type Kwargs } from './base.js';
import { blockArgs, type BlockArgs } from './encoder-layer.js';
import { FeedForward } from './feed-forward.js';
import { LayerNorm } from './layer-norm.js';
import { MultiHeadAttention } from './multi-head-attention.js';
import { residual } from './residual.js';

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

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.args };
  }
}
tf.serialization.registerClass(DecoderLayer);
