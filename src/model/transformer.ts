import * as tf from '@tensorflow/tfjs';
import { registerLayerClass } from '../layers/registry.js';
import { paddingMask } from '../attention/masks.js';
import { normalizeConfigKeys, resolveConfig, type EncoderDecoderConfig, type EncoderDecoderConfigInput } from '../config.js';
import { ShapeError } from '../errors.js';
import { glorot, withInitSeed, zeros, type Kwargs, type LayerArgs, type LayerVariable } from '../layers/base.js';
import { ModelBase, splitLayerArgs, type Projection } from './base.js';
import { notPadding } from './loss.js';
import type { AttentionInputs, AttentionWeights, Batch, ForwardOptions, Generation, GenerationOptions, Objective, Scored } from './model.js';
import { Seq2SeqGeneration } from './seq2seq-generation.js';
import { Decoder, Encoder } from './stack.js';

export interface EncodeResult {
  /** Encoder output (B, Ts, d). */
  memory: tf.Tensor;
  /** Source padding mask (B, 1, 1, Ts): 1 = real token. */
  memoryMask: tf.Tensor;
  /** Per encoder layer, self-attention weights (B, H, Ts, Ts). */
  attention?: tf.Tensor[];
}

export interface DecodeResult {
  /** Decoder output before the vocabulary projection (B, Tt, d). */
  hidden: tf.Tensor;
  /** Per decoder layer, causal self-attention weights (B, H, Tt, Tt). */
  selfAttention?: tf.Tensor[];
  /** Per decoder layer, cross-attention weights (B, H, Tt, Ts). */
  crossAttention?: tf.Tensor[];
}

export type TransformerArgs = EncoderDecoderConfigInput & LayerArgs;

/**
 * The encoder–decoder transformer. `encode` and `decode` are separate so that decoding can run
 * step by step; `forward(src, tgtIn)` gives the logits (B, Tt, tgtVocabSize) in one call.
 */
export class Transformer extends ModelBase<EncoderDecoderConfig> {
  static className = 'Transformer';
  readonly config: EncoderDecoderConfig;
  readonly inputNames: readonly string[] = ['source_ids', 'target_ids'];
  readonly objectives: readonly Objective[] = ['seq2seq'];
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  /** Output projection (d, Vt); absent when tied to the target embedding. */
  outputKernel?: LayerVariable;
  outputBias!: LayerVariable;

  constructor(args: TransformerArgs) {
    const { layer, config } = splitLayerArgs(normalizeConfigKeys(args as unknown as Kwargs));
    super({ name: layer.name ?? 'transformer', trainable: layer.trainable });
    this.config = resolveConfig({ ...config, arch: 'encoder-decoder' } as EncoderDecoderConfigInput);
    const c = this.config;
    const shared = {
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
    };
    this.encoder = this.child('encoder', new Encoder({ ...shared, name: `${this.name}_encoder`, vocabSize: c.srcVocabSize, numLayers: c.numEncoderLayers }));
    this.decoder = this.child('decoder', new Decoder({ ...shared, name: `${this.name}_decoder`, vocabSize: c.tgtVocabSize, numLayers: c.numDecoderLayers }));
  }

  override build(_inputShape?: tf.Shape | tf.Shape[]): void {
    const ids: tf.Shape = [null, null];
    this.buildChild(this.encoder, ids);
    this.buildChild(this.decoder, [ids, [null, null, this.config.dModel]]);
    if (!this.config.tieEmbeddings) {
      this.outputKernel = this.weight('output_kernel', [this.config.dModel, this.config.tgtVocabSize], glorot());
    }
    this.outputBias = this.weight('output_bias', [this.config.tgtVocabSize], zeros());
    this.built = true;
  }

  protected outputSize(): number {
    return this.config.tgtVocabSize;
  }

  /** Source ids (B, Ts) int32 → memory (B, Ts, d) and the source padding mask. */
  encode(srcIds: tf.Tensor, options: ForwardOptions = {}): EncodeResult {
    this.checkIds(srcIds, 'source');
    const [memoryMask, memory, ...attention] = tf.tidy(() => {
      const mask = paddingMask(srcIds, this.config.padId);
      const r = this.encoder.forward(srcIds, { attentionMask: mask, training: options.training, returnAttentionScores: options.returnAttention });
      return [mask, r.output, ...(r.weights ?? [])];
    });
    return options.returnAttention === true ? { memory: memory!, memoryMask: memoryMask!, attention } : { memory: memory!, memoryMask: memoryMask! };
  }

  /** Target ids (B, Tt) int32 and the encoder's memory → hidden states (B, Tt, d). */
  decode(tgtIds: tf.Tensor, memory: tf.Tensor, memoryMask: tf.Tensor | undefined, options: ForwardOptions = {}): DecodeResult {
    this.checkIds(tgtIds, 'target');
    const r = this.decoder.forward(tgtIds, memory, { memoryMask, training: options.training, returnAttentionScores: options.returnAttention });
    if (r.weights === undefined) return { hidden: r.output };
    return { hidden: r.output, selfAttention: r.weights.self, crossAttention: r.weights.cross };
  }

  /** Hidden states (…, d) → logits over the target vocabulary (…, Vt). */
  project(hidden: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const bias = this.outputBias.read();
      if (this.outputKernel) return tf.add(tf.matMul(hidden, this.outputKernel.read()), bias); // (…, d)·(d, V) + (V)
      return tf.add(this.decoder.embedding.unembed(hidden), bias);
    });
  }

  /** Source (B, Ts) and target input (B, Tt) ids → logits (B, Tt, Vt) (teacher forcing). */
  forward(srcIds: tf.Tensor, tgtIds: tf.Tensor, options: Omit<ForwardOptions, 'returnAttention'> = {}): tf.Tensor {
    return tf.tidy(() => {
      const { memory, memoryMask } = this.encode(srcIds, options);
      const { hidden } = this.decode(tgtIds, memory, memoryMask, options);
      return this.project(hidden);
    });
  }

  score(batch: Batch, options: ForwardOptions = {}): Scored {
    if (batch.kind !== 'seq2seq') this.refuse(batch);
    return tf.tidy(() => ({
      logits: this.forward(batch.src, batch.tgtIn, options), // (B, Tt, Vt)
      targets: batch.tgtOut,
      mask: notPadding(batch.tgtOut, this.config.padId),
    }));
  }

  /** `score` before the output projection: the loss projects a few rows at a time. */
  protected override projection(batch: Batch, options: ForwardOptions): Projection {
    if (batch.kind !== 'seq2seq') this.refuse(batch);
    const { memory, memoryMask } = this.encode(batch.src, options);
    const { hidden } = this.decode(batch.tgtIn, memory, memoryMask, options); // (B, Tt, d)
    const kernel = this.outputKernel ? { kernel: this.outputKernel.read() } : { kernel: this.decoder.embedding.table.read(), transposed: true };
    return { hidden, ...kernel, bias: this.outputBias.read(), targets: batch.tgtOut, mask: notPadding(batch.tgtOut, this.config.padId) };
  }

  attention(inputs: AttentionInputs): AttentionWeights {
    if (inputs.targetIds === undefined) throw new ShapeError('an encoder–decoder needs the target ids to show its decoder attention');
    return tf.tidy(() => {
      const enc = this.encode(inputs.ids, { returnAttention: true });
      const dec = this.decode(inputs.targetIds!, enc.memory, enc.memoryMask, { returnAttention: true });
      return { encoder: enc.attention!, decoder: dec.selfAttention!, cross: dec.crossAttention! };
    });
  }

  /** Encode the sources (ending with eos) and decode from bos, one position per step. */
  startGeneration(prompts: readonly number[][], options: GenerationOptions = {}): Generation {
    return new Seq2SeqGeneration(this, prompts, options.cache ?? true);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    if (!Array.isArray(inputs) || inputs.length !== 2) {
      throw new ShapeError(`${this.name}: expects [sourceIds, targetIds]`);
    }
    return this.forward(inputs[0]!, inputs[1]!, { training: kwargs.training as boolean | undefined });
  }
}
tf.serialization.registerClass(Transformer);
registerLayerClass(Transformer);

export interface CreateOptions {
  /** Seed for the initial weights: the same seed gives the same model. */
  seed?: number;
  /** Layer name (the prefix of the weight names in model.json). Default: the family's name. */
  name?: string;
}

/** Build an encoder–decoder from a (partial) config: defaults filled in, validated, weights created. */
export function createTransformer(config: Omit<EncoderDecoderConfigInput, 'arch'> & { arch?: 'encoder-decoder' }, options: CreateOptions = {}): Transformer {
  const build = () => {
    const model = new Transformer({ ...config, name: options.name });
    model.build();
    return model;
  };
  return options.seed === undefined ? build() : withInitSeed(options.seed, build);
}
