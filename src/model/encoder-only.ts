import * as tf from '@tensorflow/tfjs';
import { registerLayerClass } from '../layers/registry.js';
import { paddingMask } from '../attention/masks.js';
import { normalizeConfigKeys, resolveConfig, type EncoderConfig, type EncoderConfigInput } from '../config.js';
import { ShapeError } from '../errors.js';
import { glorot, zeros, type Kwargs, type LayerArgs, type LayerVariable } from '../layers/base.js';
import { activate } from '../layers/feed-forward.js';
import { LayerNorm } from '../layers/layer-norm.js';
import { ModelBase, splitLayerArgs, type Projection } from './base.js';
import { notPadding } from './loss.js';
import type { AttentionInputs, AttentionWeights, Batch, ForwardOptions, Objective, Scored } from './model.js';
import { Encoder } from './stack.js';

export type EncoderOnlyArgs = Omit<EncoderConfigInput, 'arch'> & LayerArgs;

/**
 * The encoder-only transformer (BERT): token ids (B, T) → contextual vectors (B, T, d), every
 * position attending to every real token on both sides. Two heads read them: the masked-LM head
 * predicts the original token at corrupted positions (B, T, V), and, when the config has classes,
 * the classifier reads the first position, [CLS], to label the whole sequence (B, C).
 */
export class EncoderOnly extends ModelBase<EncoderConfig> {
  static className = 'EncoderOnly';
  readonly config: EncoderConfig;
  readonly inputNames: readonly string[] = ['token_ids'];
  readonly objectives: readonly Objective[];
  readonly encoder: Encoder;
  /** Masked-LM projection (d, V); absent when tied to the token embedding. */
  outputKernel?: LayerVariable;
  outputBias!: LayerVariable;
  /** BERT's masked-LM transform before the projection: dense (d, d) + activation + layer norm, when the config asks for it. */
  transformKernel?: LayerVariable;
  transformBias?: LayerVariable;
  transformNorm?: LayerNorm;
  /** [CLS] classifier (d, C) and (C), when numClasses > 0. */
  classifierKernel?: LayerVariable;
  classifierBias?: LayerVariable;

  constructor(args: EncoderOnlyArgs) {
    const { layer, config } = splitLayerArgs(normalizeConfigKeys(args as unknown as Kwargs));
    super({ name: layer.name ?? 'bert', trainable: layer.trainable });
    this.config = resolveConfig({ ...config, arch: 'encoder' } as EncoderConfigInput);
    const c = this.config;
    this.objectives = c.numClasses > 0 ? ['masked-lm', 'classify'] : ['masked-lm'];
    this.encoder = this.child(
      'encoder',
      new Encoder({
        name: `${this.name}_encoder`,
        vocabSize: c.vocabSize,
        numLayers: c.numLayers,
        dModel: c.dModel,
        numHeads: c.numHeads,
        dFF: c.dFF,
        dropout: c.dropout,
        activation: c.activation,
        normPlacement: c.normPlacement,
        maxLen: c.maxLen,
        positionalEncoding: c.positionalEncoding,
        layerNormEpsilon: c.layerNormEpsilon,
        scaleEmbeddings: c.scaleEmbeddings,
        embeddingNorm: c.embeddingNorm,
        geluApproximation: c.geluApproximation,
      }),
    );
    if (c.maskedLmTransform === true) {
      this.transformNorm = this.child('mlm_norm', new LayerNorm({ name: `${this.name}_mlm_norm`, epsilon: c.layerNormEpsilon }));
    }
  }

  override build(_inputShape?: tf.Shape | tf.Shape[]): void {
    const c = this.config;
    this.buildChild(this.encoder, [null, null]);
    if (!c.tieEmbeddings) this.outputKernel = this.weight('output_kernel', [c.dModel, c.vocabSize], glorot());
    this.outputBias = this.weight('output_bias', [c.vocabSize], zeros());
    if (this.transformNorm) {
      this.transformKernel = this.weight('mlm_dense_kernel', [c.dModel, c.dModel], glorot());
      this.transformBias = this.weight('mlm_dense_bias', [c.dModel], zeros());
      this.buildChild(this.transformNorm, [null, null, c.dModel]);
    }
    if (c.numClasses > 0) {
      this.classifierKernel = this.weight('classifier_kernel', [c.dModel, c.numClasses], glorot());
      this.classifierBias = this.weight('classifier_bias', [c.numClasses], zeros());
    }
    this.built = true;
  }

  protected outputSize(): number {
    return this.config.vocabSize;
  }

  /** ids (B, T) → contextual vectors (B, T, d), padding masked out; every layer's weights when asked for. */
  encode(ids: tf.Tensor, options: ForwardOptions = {}): { hidden: tf.Tensor; attention?: tf.Tensor[] } {
    this.checkIds(ids, 'token');
    const r = tf.tidy(() => {
      const mask = paddingMask(ids, this.config.padId); // (B, 1, 1, T)
      const out = this.encoder.forward(ids, { attentionMask: mask, training: options.training, returnAttentionScores: options.returnAttention });
      return [out.output, ...(out.weights ?? [])];
    });
    return options.returnAttention === true ? { hidden: r[0]!, attention: r.slice(1) } : { hidden: r[0]! };
  }

  /** Contextual vectors (…, d) → masked-LM logits over the vocabulary (…, V). */
  predictTokens(hidden: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const h = this.transformTokens(hidden); // (…, d)
      const bias = this.outputBias.read();
      if (this.outputKernel) return tf.add(tf.matMul(h, this.outputKernel.read()), bias); // (…, d)·(d, V) + (V)
      return tf.add(this.encoder.embedding.unembed(h), bias);
    });
  }

  /** The masked-LM head's transform (dense, activation, norm) when it has one: (…, d) → (…, d). */
  private transformTokens(hidden: tf.Tensor): tf.Tensor {
    if (!this.transformNorm) return hidden;
    return this.transformNorm.forward(activate(tf.add(tf.matMul(hidden, this.transformKernel!.read()), this.transformBias!.read()), this.config.activation, this.config.geluApproximation)).output;
  }

  /** Masked-LM scores before the output projection (the loss projects a few rows at a time); classification has none. */
  protected override projection(batch: Batch, options: ForwardOptions): Projection | undefined {
    if (batch.kind !== 'masked-lm') return undefined;
    const hidden = this.transformTokens(this.encode(batch.ids, options).hidden); // (B, T, d)
    const kernel = this.outputKernel ? { kernel: this.outputKernel.read() } : { kernel: this.encoder.embedding.table.read(), transposed: true };
    return { hidden, ...kernel, bias: this.outputBias.read(), targets: batch.targets, mask: notPadding(batch.targets, this.config.padId) };
  }

  /** Contextual vectors (B, T, d) → class logits (B, C) from the [CLS] position. */
  classify(hidden: tf.Tensor): tf.Tensor {
    if (this.classifierKernel === undefined) throw new ShapeError('this encoder has no classifier (numClasses is 0)');
    return tf.tidy(() => {
      const [b, , d] = hidden.shape as [number, number, number];
      const cls = tf.reshape(tf.slice(hidden, [0, 0, 0], [b, 1, d]), [b, d]); // (B, d)
      return tf.add(tf.matMul(cls, this.classifierKernel!.read()), this.classifierBias!.read()); // (B, d)·(d, C) + (C)
    });
  }

  score(batch: Batch, options: ForwardOptions = {}): Scored {
    if (batch.kind === 'masked-lm') {
      return tf.tidy(() => ({
        logits: this.predictTokens(this.encode(batch.ids, options).hidden), // (B, T, V)
        targets: batch.targets,
        mask: notPadding(batch.targets, this.config.padId),
      }));
    }
    if (batch.kind === 'classify' && this.classifierKernel !== undefined) {
      return tf.tidy(() => ({
        logits: this.classify(this.encode(batch.ids, options).hidden), // (B, C)
        targets: batch.labels,
        mask: tf.onesLike(batch.labels).asType('float32'),
      }));
    }
    return this.refuse(batch);
  }

  attention(inputs: AttentionInputs): AttentionWeights {
    return tf.tidy(() => ({ encoder: this.encode(inputs.ids, { returnAttention: true }).attention! }));
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const ids = Array.isArray(inputs) ? inputs[0]! : inputs;
    return tf.tidy(() => this.predictTokens(this.encode(ids, { training: kwargs.training as boolean | undefined }).hidden));
  }
}
tf.serialization.registerClass(EncoderOnly);
registerLayerClass(EncoderOnly);
