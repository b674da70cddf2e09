import * as tf from '@tensorflow/tfjs';
import { compactConfig, type Arch, type ModelConfig } from '../config.js';
import { ShapeError } from '../errors.js';
import { AtencaoLayer, type Kwargs } from '../layers/base.js';
import { projectedCrossEntropy } from '../ops/projected-cross-entropy.js';
import { maskedCrossEntropy } from './loss.js';
import type { AttentionInputs, AttentionWeights, Batch, ForwardOptions, LossOptions, Model, Objective, Scored } from './model.js';

/** Scores still before their projection onto the vocabulary: logits = hidden·kernel + bias. */
export interface Projection {
  /** Hidden states (…, d). */
  hidden: tf.Tensor;
  /** The output projection (d, V), or a tied embedding table (V, d) with `transposed`. */
  kernel: tf.Tensor;
  transposed?: boolean;
  /** (V) */
  bias: tf.Tensor;
  /** Target ids (…) and where they count (…), as in `Scored`. */
  targets: tf.Tensor;
  mask: tf.Tensor;
}

/** What the three families share: the loss from `score`, id checks, the TF.js layer plumbing. */
export abstract class ModelBase<C extends ModelConfig> extends AtencaoLayer implements Model {
  abstract readonly config: C;
  abstract readonly objectives: readonly Objective[];
  abstract readonly inputNames: readonly string[];

  get arch(): Arch {
    return this.config.arch;
  }

  abstract score(batch: Batch, options?: ForwardOptions): Scored;
  abstract attention(inputs: AttentionInputs): AttentionWeights;

  /**
   * The mean cross-entropy of `score`'s logits. Where the family gives the scores before their
   * vocabulary projection (`projection`), the logits are made a few rows at a time and never
   * held whole: the same loss and gradients, in a fraction of the memory.
   */
  loss(batch: Batch, options: LossOptions = {}): tf.Scalar {
    return tf.tidy(() => {
      const labelSmoothing = options.labelSmoothing ?? 0;
      const p = this.projection(batch, { training: options.training });
      // A loss in training is differentiated next: its gradients come from the same pass.
      if (p !== undefined) return projectedCrossEntropy(p.hidden, p.kernel, p.bias, p.targets, p.mask, { labelSmoothing, transposed: p.transposed, eagerGradients: options.training === true });
      const { logits, targets, mask } = this.score(batch, { training: options.training });
      return maskedCrossEntropy(logits, targets, mask, labelSmoothing);
    });
  }

  /**
   * `score` stopped before the vocabulary projection, for families whose logits are one
   * (hidden·kernel + bias); undefined (the default) where they are not, and the loss is then
   * computed from `score`.
   */
  protected projection(_batch: Batch, _options: ForwardOptions): Projection | undefined {
    return undefined;
  }

  override getConfig(): tf.serialization.ConfigDict {
    // Interchange fields at their defaults are left out: trained models save as they always have.
    return { ...super.getConfig(), ...compactConfig(this.config) };
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const ids = (Array.isArray(inputShape[0]) ? (inputShape as tf.Shape[]).at(-1)! : inputShape) as tf.Shape;
    return [ids[0] ?? null, ids[1] ?? null, this.outputSize()];
  }

  /** Width of the logits `call` returns (the vocabulary). */
  protected abstract outputSize(): number;

  /** Refuse a batch of another family's objective with one line that says what this model trains on. */
  protected refuse(batch: Batch): never {
    const article = this.arch === 'decoder' ? 'a' : 'an';
    throw new ShapeError(`${article} ${this.arch} model trains on ${this.objectives.join(' or ')} batches, not '${batch.kind}'`);
  }

  protected checkIds(ids: tf.Tensor, what: string): void {
    if (ids.rank !== 2 || ids.dtype !== 'int32') {
      throw new ShapeError(`${what} ids must be an int32 tensor of shape (B, T), got ${ids.dtype} (${ids.shape.join(', ')})`);
    }
    if (ids.shape[1]! > this.config.maxLen) {
      throw new ShapeError(`${what} length ${ids.shape[1]} is longer than maxLen (${this.config.maxLen})`);
    }
  }
}

/** Layer bookkeeping (from getConfig, or added by TF.js's deserializer) that is not part of the model config. */
export function splitLayerArgs(args: Kwargs): { layer: { name?: string; trainable?: boolean }; config: Record<string, unknown> } {
  const { name, trainable, dtype: _d, batchInputShape: _b, inputShape: _i, batchSize: _s, weights: _w, inputDType: _t, customObjects: _c, ...config } = args;
  return { layer: { name: name as string | undefined, trainable: trainable as boolean | undefined }, config };
}
