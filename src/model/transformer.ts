import * as tf from '@tensorflow/tfjs';
import { paddingMask } from '../attention/masks.js';
import { normalizeConfigKeys, resolveConfig, type TransformerConfig, type TransformerConfigInput } from '../config.js';
import { ShapeError } from '../errors.js';
import { AtencaoLayer, applyEager, glorot, withInitSeed, zeros, type Kwargs, type LayerArgs, type LayerVariable } from '../layers/base.js';
import { linear } from '../ops/linear.js';
import { Decoder, Encoder } from './stack.js';

export interface ForwardOptions {
  /** Apply dropout. Default: false. */
  training?: boolean;
  /** Also return the attention weights of every layer. */
  returnAttention?: boolean;
}

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

export type TransformerArgs = TransformerConfigInput & LayerArgs;

/**
 * The encoder–decoder transformer. `encode` and `decode` are separate so that decoding can run
 * step by step; `apply([srcIds, tgtIds])` gives the logits (B, Tt, tgtVocabSize) in one call.
 */
export class Transformer extends AtencaoLayer {
  static className = 'Transformer';
  readonly config: TransformerConfig;
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  /** Output projection (d, Vt); absent when tied to the target embedding. */
  outputKernel?: LayerVariable;
  outputBias!: LayerVariable;

  constructor(args: TransformerArgs) {
    // Layer bookkeeping (from getConfig, or added by TF.js's deserializer) is not part of the model config.
    const { name, trainable, dtype: _d, batchInputShape: _b, inputShape: _i, batchSize: _s, weights: _w, inputDType: _t, customObjects: _c, ...config } =
      normalizeConfigKeys(args as unknown as Record<string, unknown>) as unknown as TransformerArgs & { customObjects?: unknown };
    super({ name: name ?? 'transformer', trainable });
    this.config = resolveConfig(config);
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

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [, tgt] = inputShape as tf.Shape[];
    return [tgt![0] ?? null, tgt![1] ?? null, this.config.tgtVocabSize];
  }

  /** Source ids (B, Ts) int32 → memory (B, Ts, d) and the source padding mask. */
  encode(srcIds: tf.Tensor, options: ForwardOptions = {}): EncodeResult {
    this.checkIds(srcIds, 'source');
    const [memoryMask, memory, ...attention] = tf.tidy(() => {
      const mask = paddingMask(srcIds, this.config.padId);
      const out = applyEager(this.encoder, srcIds, {
        attentionMask: mask,
        training: options.training,
        returnAttentionScores: options.returnAttention,
      });
      return [mask, ...out];
    });
    return options.returnAttention === true ? { memory: memory!, memoryMask, attention } : { memory: memory!, memoryMask };
  }

  /** Target ids (B, Tt) int32 and the encoder's memory → hidden states (B, Tt, d). */
  decode(tgtIds: tf.Tensor, memory: tf.Tensor, memoryMask: tf.Tensor | undefined, options: ForwardOptions = {}): DecodeResult {
    this.checkIds(tgtIds, 'target');
    const [hidden, ...weights] = tf.tidy(() =>
      applyEager(this.decoder, [tgtIds, memory], {
        memoryMask,
        training: options.training,
        returnAttentionScores: options.returnAttention,
      }),
    );
    if (options.returnAttention !== true) return { hidden: hidden! };
    const n = this.config.numDecoderLayers;
    return { hidden: hidden!, selfAttention: weights.slice(0, n), crossAttention: weights.slice(n) };
  }

  /** Hidden states (…, d) → logits over the target vocabulary (…, Vt). */
  project(hidden: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const bias = this.outputBias.read();
      if (this.outputKernel) return linear(hidden, this.outputKernel.read(), bias);
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

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    if (!Array.isArray(inputs) || inputs.length !== 2) {
      throw new ShapeError(`${this.name}: expects [sourceIds, targetIds]`);
    }
    return this.forward(inputs[0]!, inputs[1]!, { training: kwargs.training as boolean | undefined });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.config };
  }

  private checkIds(ids: tf.Tensor, what: string): void {
    if (ids.rank !== 2 || ids.dtype !== 'int32') {
      throw new ShapeError(`${what} ids must be an int32 tensor of shape (B, T), got ${ids.dtype} (${ids.shape.join(', ')})`);
    }
    if (ids.shape[1]! > this.config.maxLen) {
      throw new ShapeError(`${what} length ${ids.shape[1]} is longer than maxLen (${this.config.maxLen})`);
    }
  }
}
tf.serialization.registerClass(Transformer);

export interface CreateOptions {
  /** Seed for the initial weights: the same seed gives the same model. */
  seed?: number;
  /** Layer name (the prefix of the weight names in model.json). Default: 'transformer'. */
  name?: string;
}

/** Build a transformer from a (partial) config: defaults filled in, validated, weights created. */
export function createTransformer(config: TransformerConfigInput, options: CreateOptions = {}): Transformer {
  const build = () => {
    const model = new Transformer({ ...config, name: options.name });
    model.build();
    return model;
  };
  return options.seed === undefined ? build() : withInitSeed(options.seed, build);
}
