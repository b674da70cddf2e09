import * as tf from '@tensorflow/tfjs';
import { registerLayerClass } from '../layers/registry.js';
import { normalizeConfigKeys, resolveConfig, type DecoderConfig, type DecoderConfigInput } from '../config.js';
import { glorot, zeros, type Kwargs, type LayerArgs, type LayerVariable } from '../layers/base.js';
import { ModelBase, splitLayerArgs, type Projection } from './base.js';
import { CausalGeneration } from './causal-generation.js';
import { notPadding } from './loss.js';
import type { AttentionInputs, AttentionWeights, Batch, ForwardOptions, Generation, GenerationOptions, Objective, Scored } from './model.js';
import { Encoder } from './stack.js';

export type DecoderOnlyArgs = Omit<DecoderConfigInput, 'arch'> & LayerArgs;

/**
 * The decoder-only transformer (GPT): token ids (B, T) → next-token logits (B, T, V), every
 * position attending only to itself and the positions before it. Its blocks are the encoder's
 * blocks with the causal mask; there is no cross-attention. Trained as a language model (the
 * loss counts only the continuation when the batch marks a prompt), it writes text with
 * `startGeneration`, one position per step from a key/value cache.
 */
export class DecoderOnly extends ModelBase<DecoderConfig> {
  static className = 'DecoderOnly';
  readonly config: DecoderConfig;
  readonly inputNames: readonly string[] = ['token_ids'];
  readonly objectives: readonly Objective[] = ['lm'];
  readonly decoder: Encoder;
  /** Output projection (d, V); absent when tied to the token embedding. */
  outputKernel?: LayerVariable;
  outputBias!: LayerVariable;

  constructor(args: DecoderOnlyArgs) {
    const { layer, config } = splitLayerArgs(normalizeConfigKeys(args as unknown as Kwargs));
    super({ name: layer.name ?? 'gpt', trainable: layer.trainable });
    this.config = resolveConfig({ ...config, arch: 'decoder' } as DecoderConfigInput);
    const c = this.config;
    this.decoder = this.child(
      'decoder',
      new Encoder({
        name: `${this.name}_decoder`,
        causal: true,
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
  }

  override build(_inputShape?: tf.Shape | tf.Shape[]): void {
    this.buildChild(this.decoder, [null, null]);
    if (!this.config.tieEmbeddings) {
      this.outputKernel = this.weight('output_kernel', [this.config.dModel, this.config.vocabSize], glorot());
    }
    this.outputBias = this.weight('output_bias', [this.config.vocabSize], zeros());
    this.built = true;
  }

  protected outputSize(): number {
    return this.config.vocabSize;
  }

  /** Hidden states (…, d) → logits over the vocabulary (…, V). */
  project(hidden: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const bias = this.outputBias.read();
      if (this.outputKernel) return tf.add(tf.matMul(hidden, this.outputKernel.read()), bias); // (…, d)·(d, V) + (V)
      return tf.add(this.decoder.embedding.unembed(hidden), bias);
    });
  }

  /** ids (B, T) → hidden states (B, T, d), and the causal self-attention of every layer when asked for. */
  hidden(ids: tf.Tensor, options: ForwardOptions = {}): { hidden: tf.Tensor; attention?: tf.Tensor[] } {
    this.checkIds(ids, 'token');
    const r = this.decoder.forward(ids, { training: options.training, returnAttentionScores: options.returnAttention });
    return r.weights ? { hidden: r.output, attention: r.weights } : { hidden: r.output };
  }

  /** ids (B, T) → next-token logits (B, T, V). No padding mask is needed: padding only ever comes after the real tokens. */
  forward(ids: tf.Tensor, options: Omit<ForwardOptions, 'returnAttention'> = {}): tf.Tensor {
    return tf.tidy(() => this.project(this.hidden(ids, options).hidden));
  }

  score(batch: Batch, options: ForwardOptions = {}): Scored {
    if (batch.kind !== 'lm') this.refuse(batch);
    return tf.tidy(() => ({
      logits: this.forward(batch.ids, options), // (B, T, V)
      targets: batch.targets,
      mask: notPadding(batch.targets, this.config.padId),
    }));
  }

  /** `score` before the output projection: the loss projects a few rows at a time. */
  protected override projection(batch: Batch, options: ForwardOptions): Projection {
    if (batch.kind !== 'lm') this.refuse(batch);
    const kernel = this.outputKernel ? { kernel: this.outputKernel.read() } : { kernel: this.decoder.embedding.table.read(), transposed: true };
    return { hidden: this.hidden(batch.ids, options).hidden, ...kernel, bias: this.outputBias.read(), targets: batch.targets, mask: notPadding(batch.targets, this.config.padId) };
  }

  attention(inputs: AttentionInputs): AttentionWeights {
    return tf.tidy(() => ({ decoder: this.hidden(inputs.ids, { returnAttention: true }).attention! }));
  }

  /** Continue prompts (each starting with bos; all of one length), one position per step. */
  startGeneration(prompts: readonly number[][], options: GenerationOptions = {}): Generation {
    return new CausalGeneration(this, prompts, options.cache ?? true);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return this.forward(Array.isArray(inputs) ? inputs[0]! : inputs, { training: kwargs.training as boolean | undefined });
  }
}
tf.serialization.registerClass(DecoderOnly);
registerLayerClass(DecoderOnly);
