import * as tf from '@tensorflow/tfjs';
import { compactConfig, type Activation, type GeluApproximation, type NormPlacement } from '../config.js';
import { ConfigError } from '../errors.js';
import { AtencaoLayer, type Kwargs, type LayerArgs, type LayerOutput } from './base.js';
import { FeedForward } from './feed-forward.js';
import { LayerNorm } from './layer-norm.js';
import { MultiHeadAttention, type KeyValueCache } from './multi-head-attention.js';
import { positiveInt } from './qkv-projection.js';
import { residual } from './residual.js';

/** What an encoder or decoder block needs to know; the matching fields of the model config. */
export interface BlockArgs extends LayerArgs {
  dModel: number;
  numHeads: number;
  dFF: number;
  dropout?: number;
  activation?: Activation;
  normPlacement?: NormPlacement;
  /** Epsilon of the block's layer norms. Default: 1e-5. */
  layerNormEpsilon?: number;
  /** GELU's form when activation is 'gelu'. Default: 'tanh'. */
  geluApproximation?: GeluApproximation;
}

export interface EncoderLayerArgs extends BlockArgs {
  /** Each position attends only to itself and earlier ones (the GPT block). Default: false (BERT, the paper's encoder). */
  causal?: boolean;
}

export interface EncoderLayerCallArgs {
  /** Padding mask, (B, 1, 1, T). */
  attentionMask?: tf.Tensor;
  training?: boolean;
  /** Also return the self-attention weights (B, H, T, T). */
  returnAttentionScores?: boolean;
}

export interface EncoderLayerStep {
  /** (B, Tn, d) */
  output: tf.Tensor;
  /** The cache with the new positions' keys/values appended. */
  cache: Required<KeyValueCache>;
  /** (B, H, Tn, t + Tn), when asked for. */
  weights?: tf.Tensor;
}

/**
 * One self-attention block: self-attention, then the feed-forward network, each in a residual.
 * (B, T, d) → (B, T, d). Bidirectional, it is the paper's encoder block and BERT's; with
 * `causal: true`, it is GPT's decoder block.
 */
export class EncoderLayer extends AtencaoLayer {
  static className = 'EncoderLayer';
  readonly args: Required<Omit<EncoderLayerArgs, keyof LayerArgs>>;
  readonly selfAttention: MultiHeadAttention;
  readonly feedForward: FeedForward;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;

  constructor(args: EncoderLayerArgs) {
    super(args);
    this.args = { ...blockArgs(args), causal: args.causal ?? false };
    const { dModel, numHeads, dFF, dropout, activation, geluApproximation } = this.args;
    this.selfAttention = this.child('self_attention', new MultiHeadAttention({ name: `${this.name}_self_attention`, numHeads, keyDim: dModel / numHeads, dropout }));
    this.feedForward = this.child('feed_forward', new FeedForward({ name: `${this.name}_feed_forward`, dFF, activation, geluApproximation, dropout }));
    const epsilon = this.args.layerNormEpsilon;
    this.norm1 = this.child('norm1', new LayerNorm({ name: `${this.name}_norm1`, epsilon }));
    this.norm2 = this.child('norm2', new LayerNorm({ name: `${this.name}_norm2`, epsilon }));
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
    const options = kwargs as EncoderLayerCallArgs;
    const { output, weights } = this.forward(Array.isArray(inputs) ? inputs[0]! : inputs, options);
    return options.returnAttentionScores === true ? [output, weights!] : output;
  }

  /** x (B, T, d) → (B, T, d), and the self-attention weights (B, H, T, T) when asked for. */
  forward(x: tf.Tensor, options: EncoderLayerCallArgs = {}): LayerOutput<tf.Tensor> {
    const { attentionMask, training, returnAttentionScores } = options;
    const { normPlacement, dropout, causal } = this.args;
    const [output, weights] = tf.tidy(() => {
      let w: tf.Tensor | undefined;
      let h = residual(x, this.norm1, normPlacement, dropout, training, (n) => {
        const r = this.selfAttention.forward(n, n, n, { attentionMask, useCausalMask: causal, training, returnAttentionScores });
        w = r.weights;
        return r.output;
      });
      h = residual(h, this.norm2, normPlacement, dropout, training, (n) => this.feedForward.forward(n, { training }).output);
      return w ? [h, w] : [h];
    });
    return weights ? { output: output!, weights } : { output: output! };
  }

  /**
   * A causal block on new positions x (B, Tn, d), attending to the cached earlier positions: the
   * last Tn rows of `forward` on the whole sequence, without recomputing the others.
   */
  step(x: tf.Tensor, cache: KeyValueCache, returnAttentionScores = false): EncoderLayerStep {
    const { normPlacement } = this.args;
    let next!: Required<KeyValueCache>;
    let weights: tf.Tensor | undefined;
    const output = tf.tidy(() => {
      const h = residual(x, this.norm1, normPlacement, 0, false, (n) => {
        const r = this.selfAttention.forwardCached(n, cache, { returnAttentionScores });
        next = r.cache;
        weights = r.weights;
        tf.keep(next.k);
        tf.keep(next.v);
        if (weights) tf.keep(weights);
        return r.output;
      });
      return residual(h, this.norm2, normPlacement, 0, false, (n) => this.feedForward.forward(n).output);
    });
    return { output, cache: next, ...(weights ? { weights } : {}) };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...compactConfig(this.args) };
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
    layerNormEpsilon: args.layerNormEpsilon ?? 1e-5,
    geluApproximation: args.geluApproximation ?? 'tanh',
  };
}
