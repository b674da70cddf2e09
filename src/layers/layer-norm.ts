import * as tf from '@tensorflow/tfjs';
import { layerNorm } from '../ops/layer-norm.js';
import { AtencaoLayer, lastDim, ones, zeros, type Kwargs, type LayerArgs, type LayerOutput, type LayerVariable } from './base.js';

export interface LayerNormArgs extends LayerArgs {
  /** Added to the variance before the square root. Default: 1e-5. */
  epsilon?: number;
}

/** Layer normalization over the last axis, with a learned gain and bias. (…, d) → (…, d). */
export class LayerNorm extends AtencaoLayer {
  static className = 'LayerNorm';
  readonly epsilon: number;
  gamma!: LayerVariable;
  beta!: LayerVariable;

  constructor(args: LayerNormArgs = {}) {
    super(args);
    this.epsilon = args.epsilon ?? 1e-5;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const d = lastDim(inputShape as (number | null)[], this.name);
    this.gamma = this.weight('gamma', [d], ones());
    this.beta = this.weight('beta', [d], zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return inputShape as tf.Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return this.forward(Array.isArray(inputs) ? inputs[0]! : inputs).output;
  }

  /** x (…, d) → (…, d), each vector normalised to mean 0 and variance 1, then scaled by γ and shifted by β. */
  forward(x: tf.Tensor): LayerOutput {
    return { output: tf.tidy(() => layerNorm(x, this.gamma.read(), this.beta.read(), this.epsilon)) }; // (…, d)
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}
tf.serialization.registerClass(LayerNorm);
