import * as tf from '@tensorflow/tfjs';
import type { Activation, GeluApproximation } from '../config.js';
import { ConfigError } from '../errors.js';
import { AtencaoLayer, dropout, glorot, lastDim, zeros, type Kwargs, type LayerArgs, type LayerOutput, type LayerVariable } from './base.js';
import { positiveInt } from './qkv-projection.js';
import { linear } from '../ops/linear.js';

export interface FeedForwardArgs extends LayerArgs {
  /** Hidden width (dFF). */
  dFF: number;
  /** 'relu' (the paper) or 'gelu' (tanh approximation, as in GPT-2). Default: 'relu'. */
  activation?: Activation;
  /** GELU's form: 'tanh' (GPT-2) or 'none', exact with erf (BERT). Default: 'tanh'. */
  geluApproximation?: GeluApproximation;
  /** Dropout on the hidden activations during training. Default: 0. */
  dropout?: number;
}

/** Position-wise feed-forward network: W2 · act(W1 · x + b1) + b2, the same for every position. (B, T, d) → (B, T, d). */
export class FeedForward extends AtencaoLayer {
  static className = 'FeedForward';
  readonly dFF: number;
  readonly activation: Activation;
  readonly geluApproximation: GeluApproximation;
  readonly dropoutRate: number;
  w1!: LayerVariable;
  b1!: LayerVariable;
  w2!: LayerVariable;
  b2!: LayerVariable;

  constructor(args: FeedForwardArgs) {
    super(args);
    this.dFF = positiveInt('dFF', args.dFF);
    this.activation = args.activation ?? 'relu';
    if (this.activation !== 'relu' && this.activation !== 'gelu') {
      throw new ConfigError(`activation ('${String(args.activation)}') must be one of relu, gelu`);
    }
    this.geluApproximation = args.geluApproximation ?? 'tanh';
    if (this.geluApproximation !== 'tanh' && this.geluApproximation !== 'none') {
      throw new ConfigError(`geluApproximation ('${String(args.geluApproximation)}') must be one of tanh, none`);
    }
    this.dropoutRate = args.dropout ?? 0;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const d = lastDim(inputShape as (number | null)[], this.name);
    this.w1 = this.weight('w1', [d, this.dFF], glorot());
    this.b1 = this.weight('b1', [this.dFF], zeros());
    this.w2 = this.weight('w2', [this.dFF, d], glorot());
    this.b2 = this.weight('b2', [d], zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return inputShape as tf.Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return this.forward(Array.isArray(inputs) ? inputs[0]! : inputs, { training: kwargs.training as boolean | undefined }).output;
  }

  /** x (B, T, d) → (B, T, d). */
  forward(x: tf.Tensor, options: { training?: boolean } = {}): LayerOutput {
    const output = tf.tidy(() => {
      // act((B, T, d)·(d, dFF) + b1) → (B, T, dFF); ReLU runs in the product's kernel where it can.
      const hidden =
        this.activation === 'relu'
          ? linear(x, this.w1.read(), this.b1.read(), 'relu')
          : activate(linear(x, this.w1.read(), this.b1.read()), this.activation, this.geluApproximation);
      // Dropout (training only): zero a fraction of the hidden units, scale the rest by 1/(1 − rate).
      const dropped = dropout(hidden, this.dropoutRate, options.training);
      // After ReLU (and dropout) most hidden units are exactly 0: the product skips them.
      return linear(dropped, this.w2.read(), this.b2.read(), undefined, { sparseInput: this.activation === 'relu' }); // (B, T, dFF)·(dFF, d) + b2 → (B, T, d)
    });
    return { output };
  }

  override getConfig(): tf.serialization.ConfigDict {
    const exact: tf.serialization.ConfigDict = this.geluApproximation === 'none' ? { geluApproximation: 'none' } : {};
    return { ...super.getConfig(), dFF: this.dFF, activation: this.activation, dropout: this.dropoutRate, ...exact };
  }
}
tf.serialization.registerClass(FeedForward);

const GELU_C = Math.sqrt(2 / Math.PI);

/** The feed-forward non-linearity by name. */
export function activate(x: tf.Tensor, activation: Activation, approximation: GeluApproximation = 'tanh'): tf.Tensor {
  if (activation === 'relu') return tf.relu(x);
  return approximation === 'tanh' ? gelu(x) : geluExact(x);
}

/** GELU as defined, x·Φ(x) = 0.5·x·(1 + erf(x/√2)): BERT's "gelu". */
export function geluExact(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}

/** GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). x·x·x is ~9× faster than pow here. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const cube = tf.mul(tf.mul(x, x), x);
    const inner = tf.mul(tf.add(x, tf.mul(cube, 0.044715)), GELU_C);
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  });
}
