import * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../errors.js';
import { AtencaoLayer, normal, type Kwargs, type LayerArgs, type LayerOutput, type LayerVariable } from './base.js';
import { positiveInt } from './qkv-projection.js';

export interface TokenEmbeddingArgs extends LayerArgs {
  vocabSize: number;
  dModel: number;
  /** Multiply by √dModel (the paper). GPT-2 and BERT do not. Default: true. */
  scale?: boolean;
}

/**
 * Token ids → vectors, scaled by √dModel so they are not drowned by the position vectors:
 * (B, T) int32 → (B, T, d). `unembed` reuses the same matrix as an output projection (tied weights).
 */
export class TokenEmbedding extends AtencaoLayer {
  static className = 'TokenEmbedding';
  readonly vocabSize: number;
  readonly dModel: number;
  readonly scale: boolean;
  table!: LayerVariable;

  constructor(args: TokenEmbeddingArgs) {
    super(args);
    this.vocabSize = positiveInt('vocabSize', args.vocabSize);
    this.dModel = positiveInt('dModel', args.dModel);
    this.scale = args.scale ?? true;
  }

  override build(_inputShape: tf.Shape | tf.Shape[]): void {
    // N(0, 1/d): after the √d scale the embedded vectors have unit variance, like the positions.
    const stddev = 1 / Math.sqrt(this.dModel);
    this.table = this.weight('table', [this.vocabSize, this.dModel], normal(stddev));
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return [...(inputShape as tf.Shape), this.dModel];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return this.forward(Array.isArray(inputs) ? inputs[0]! : inputs).output;
  }

  /** ids (B, T) int32 → (B, T, d). */
  forward(ids: tf.Tensor): LayerOutput {
    if (ids.dtype !== 'int32') throw new ShapeError(`${this.name}: token ids must be int32, got ${ids.dtype}`);
    return { output: tf.tidy(() => {
      const vectors = tf.gather(this.table.read(), ids); // (B, T, d)
      return this.scale ? tf.mul(vectors, Math.sqrt(this.dModel)) : vectors;
    }) };
  }

  /** h (…, d) · tableᵀ → (…, vocabSize): scores for every token, with this layer's matrix. */
  unembed(h: tf.Tensor): tf.Tensor {
    return tf.matMul(h, this.table.read(), false, true); // (…, d)·(V, d)ᵀ → (…, V)
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), vocabSize: this.vocabSize, dModel: this.dModel, ...(this.scale ? {} : { scale: false }) };
  }
}
tf.serialization.registerClass(TokenEmbedding);
