import * as tf from '@tensorflow/tfjs';
import type { Activation, NormPlacement } from '../config.js';
import { ConfigError } from '../errors.js';
import { AtencaoLayer, type Kwargs, type LayerArgs } from './base.js';
import { FeedForward } from './feed-forward.js';
import { LayerNorm } from './layer-norm.js';
import { MultiHeadAttention } from './multi-head-attention.js';
import { positiveInt } from './qkv-projection.js';
import { residual } from './residual.js';

/** What an encoder or decoder block needs to know; the matching fields of `TransformerConfig`. */
export interface BlockArgs extends LayerArgs {
  dModel: number;
  numHeads: number;
  dFF: number;
  dropout?: number;
  activation?: Activation;
  normPlacement?: NormPlacement;
}

export interface EncoderLayerCallArgs {
  /** Padding mask of the source, (B, 1, 1, Ts). */
  attentionMask?: tf.Tensor;
  training?: boolean;
  /** Also return the self-attention weights (B, H, Ts, Ts). */
  returnAttentionScores?: boolean;
}

/** One encoder block: self-attention, then the feed-forward network, each in a residual. (B, Ts, d) → (B, Ts, d). */
export class EncoderLayer extends AtencaoLayer {
  static className = 'EncoderLayer';
  readonly args: Required<Omit<BlockArgs, keyof LayerArgs>>;
  readonly selfAttention: MultiHeadAttention;
  readonly feedForward: FeedForward;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;

  constructor(args: BlockArgs) {
    super(args);
    this.args = blockArgs(args);
    const { dModel, numHeads, dFF, dropout, activation } = this.args;
    this.selfAttention = this.child('self_attention', new MultiHeadAttention({ name: `${this.name}_self_attention`, numHeads, keyDim: dModel / numHeads, dropout }));
    this.feedForward = this.child('feed_forward', new FeedForward({ name: `${this.name}_feed_forward`, dFF, activation, dropout }));
    this.norm1 = this.child('norm1', new LayerNorm({ name: `${this.name}_norm1` }));
    this.norm2 = this.child('norm2', new LayerNorm({ name: `${this.name}_norm2` }));
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = inputShape as tf.Shape;
    this.buildChild(this.selfAttention, [shape, shape]);
    this.buildChild(this.feedForward, shape);
    this.buildChild(this.norm1, shape);
    this.buildChild(this.norm2, shape);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return inputShape as tf.Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const { attentionMask, training, returnAttentionScores } = kwargs as EncoderLayerCallArgs;
    const { normPlacement, dropout } = this.args;
    return tf.tidy(() => {
      let weights: tf.Tensor | undefined;
      let h = residual(x, this.norm1, normPlacement, dropout, training, (n) => {
        const r = this.selfAttention.attend(n, n, n, { attentionMask, training, returnAttentionScores });
        weights = r.weights;
        return r.output;
      });
      h = residual(h, this.norm2, normPlacement, dropout, training, (n) => this.feedForward.apply(n, { training }) as tf.Tensor);
      return returnAttentionScores === true ? [h, weights!] : h;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.args };
  }
}
tf.serialization.registerClass(EncoderLayer);

export function blockArgs(args: BlockArgs): Required<Omit<BlockArgs, keyof LayerArgs>> {
  if (args.dModel % args.numHeads !== 0) {
    throw new ConfigError(`dModel (${args.dModel}) must be divisible by numHeads (${args.numHeads})`);
  }
  if (args.normPlacement !== undefined && args.normPlacement !== 'pre' && args.normPlacement !== 'post') {
    throw new ConfigError(`normPlacement ('${String(args.normPlacement)}') must be one of pre, post`);
  }
  return {
    dModel: positiveInt('dModel', args.dModel),
    numHeads: positiveInt('numHeads', args.numHeads),
    dFF: positiveInt('dFF', args.dFF),
    dropout: args.dropout ?? 0,
    activation: args.activation ?? 'relu',
    normPlacement: args.normPlacement ?? 'pre',
  };
}
