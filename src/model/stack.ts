import * as tf from '@tensorflow/tfjs';
import { registerLayerClass } from '../layers/registry.js';
import { compactConfig, type PositionalEncodingKind } from '../config.js';
import { AtencaoLayer, dropout, type Kwargs, type LayerArgs, type LayerOutput } from '../layers/base.js';
import { DecoderLayer, type LayerCache } from '../layers/decoder-layer.js';
import { blockArgs, EncoderLayer, type BlockArgs } from '../layers/encoder-layer.js';
import { LayerNorm } from '../layers/layer-norm.js';
import type { KeyValueCache } from '../layers/multi-head-attention.js';
import { PositionalEncoding } from '../layers/positional-encoding.js';
import { positiveInt } from '../layers/qkv-projection.js';
import { TokenEmbedding } from '../layers/token-embedding.js';

export interface StackArgs extends BlockArgs {
  vocabSize: number;
  numLayers: number;
  maxLen: number;
  positionalEncoding?: PositionalEncodingKind;
  /** Multiply token embeddings by √dModel. Default: true. */
  scaleEmbeddings?: boolean;
  /** Layer norm on embeddings + positions before the first block (BERT). Default: false. */
  embeddingNorm?: boolean;
}

export interface StackCallArgs {
  training?: boolean;
  /** Also return every layer's attention weights. */
  returnAttentionScores?: boolean;
}

/**
 * What the stacks share: token embedding (×√d), positions, dropout, N blocks, and a final layer
 * norm when norms come before the sublayers (otherwise the last block's output is unnormalised).
 */
abstract class Stack<L extends EncoderLayer | DecoderLayer> extends AtencaoLayer {
  readonly stackArgs: Required<Omit<StackArgs, keyof LayerArgs>>;
  readonly embedding: TokenEmbedding;
  readonly positions: PositionalEncoding;
  readonly blocks: L[];
  readonly finalNorm?: LayerNorm;
  readonly embeddingNorm?: LayerNorm;

  constructor(args: StackArgs, makeBlock: (args: BlockArgs) => L) {
    super(args);
    const block = blockArgs(args);
    this.stackArgs = {
      ...block,
      vocabSize: positiveInt('vocabSize', args.vocabSize),
      numLayers: positiveInt('numLayers', args.numLayers),
      maxLen: positiveInt('maxLen', args.maxLen),
      positionalEncoding: args.positionalEncoding ?? 'sinusoidal',
      scaleEmbeddings: args.scaleEmbeddings ?? true,
      embeddingNorm: args.embeddingNorm ?? false,
    };
    const { vocabSize, dModel, maxLen, positionalEncoding, numLayers, scaleEmbeddings, layerNormEpsilon: epsilon } = this.stackArgs;
    this.embedding = this.child('embedding', new TokenEmbedding({ name: `${this.name}_embedding`, vocabSize, dModel, scale: scaleEmbeddings }));
    this.positions = this.child('positions', new PositionalEncoding({ name: `${this.name}_positions`, maxLen, kind: positionalEncoding }));
    this.blocks = Array.from({ length: numLayers }, (_, i) =>
      this.child(`layer_${i}`, makeBlock({ ...block, name: `${this.name}_layer_${i}` })),
    );
    if (block.normPlacement === 'pre') {
      this.finalNorm = this.child('final_norm', new LayerNorm({ name: `${this.name}_final_norm`, epsilon }));
    }
    if (this.stackArgs.embeddingNorm) {
      this.embeddingNorm = this.child('embedding_norm', new LayerNorm({ name: `${this.name}_embedding_norm`, epsilon }));
    }
  }

  protected buildStack(blockShape: tf.Shape | tf.Shape[]): void {
    const hidden: tf.Shape = [null, null, this.stackArgs.dModel];
    this.buildChild(this.embedding, [null, null]);
    this.buildChild(this.positions, hidden);
    for (const block of this.blocks) this.buildChild(block, blockShape);
    if (this.finalNorm) this.buildChild(this.finalNorm, hidden);
    if (this.embeddingNorm) this.buildChild(this.embeddingNorm, hidden);
    this.built = true;
  }

  /** ids (B, T) → embedded tokens plus the positions offset … offset + T − 1, with dropout: (B, T, d). */
  embed(ids: tf.Tensor, training: boolean | undefined, offset = 0): tf.Tensor {
    return tf.tidy(() => {
      const x = this.positions.forward(this.embedding.forward(ids).output, { offset }).output;
      const normed = this.embeddingNorm ? this.embeddingNorm.forward(x).output : x;
      return dropout(normed, this.stackArgs.dropout, training);
    });
  }

  /** The final layer norm (pre-norm stacks), applied to the last block's output. */
  finish(h: tf.Tensor): tf.Tensor {
    return this.finalNorm ? this.finalNorm.forward(h).output : h;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...compactConfig(this.stackArgs) };
  }
}

export interface EncoderArgs extends StackArgs {
  /** Causal self-attention in every block: the GPT stack. Default: false (bidirectional). */
  causal?: boolean;
}

export interface EncoderCallArgs extends StackCallArgs {
  /** Padding mask (B, 1, 1, T). */
  attentionMask?: tf.Tensor;
}

export interface EncoderStep {
  /** (B, Tn, d) */
  hidden: tf.Tensor;
  caches: Required<KeyValueCache>[];
  /** Per layer, (B, H, Tn, t + Tn), when asked for. */
  weights?: tf.Tensor[];
}

/**
 * A stack of self-attention blocks over token ids: ids (B, T) → hidden states (B, T, d), with
 * every layer's self-attention weights when asked for. Bidirectional it is the paper's encoder and
 * BERT; with `causal: true` it is GPT's decoder stack, which can also run step by step (`step`).
 */
export class Encoder extends Stack<EncoderLayer> {
  static className = 'Encoder';
  readonly causal: boolean;

  constructor(args: EncoderArgs) {
    super(args, (a) => new EncoderLayer({ ...a, causal: args.causal ?? false }));
    this.causal = args.causal ?? false;
  }

  override build(_inputShape: tf.Shape | tf.Shape[]): void {
    this.buildStack([null, null, this.stackArgs.dModel]);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return [...(inputShape as tf.Shape), this.stackArgs.dModel];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const options = kwargs as EncoderCallArgs;
    const { output, weights } = this.forward(Array.isArray(inputs) ? inputs[0]! : inputs, options);
    return options.returnAttentionScores === true ? [output, ...weights!] : output;
  }

  /** ids (B, T) → (B, T, d); with `returnAttentionScores`, the weights (B, H, T, T) of every layer. */
  forward(ids: tf.Tensor, options: EncoderCallArgs = {}): LayerOutput<tf.Tensor[]> {
    const { training, returnAttentionScores, attentionMask } = options;
    const [output, ...weights] = tf.tidy(() => {
      let h = this.embed(ids, training);
      const all: tf.Tensor[] = [];
      for (const block of this.blocks) {
        const r = block.forward(h, { attentionMask, training, returnAttentionScores });
        h = r.output;
        if (r.weights) all.push(r.weights);
      }
      return [this.finish(h), ...all];
    });
    return returnAttentionScores === true ? { output: output!, weights } : { output: output! };
  }

  /**
   * Causal stacks only: run new positions ids (B, Tn) that start at `position`, attending to the
   * cached earlier ones. Returns the hidden states (B, Tn, d) and the caches advanced by Tn
   * positions; the caller frees the old caches.
   */
  step(ids: tf.Tensor, position: number, caches: readonly KeyValueCache[], returnAttentionScores = false): EncoderStep {
    if (!this.causal) throw new Error(`${this.name}: step() needs a causal stack`);
    let h = this.embed(ids, false, position); // (B, Tn, d)
    const next: Required<KeyValueCache>[] = [];
    const weights: tf.Tensor[] = [];
    this.blocks.forEach((block, i) => {
      const r = block.step(h, caches[i] ?? {}, returnAttentionScores);
      h.dispose();
      h = r.output;
      next.push(r.cache);
      if (r.weights) weights.push(r.weights);
    });
    const hidden = this.finalNorm ? tf.tidy(() => this.finish(h)) : h;
    if (hidden !== h) h.dispose();
    return { hidden, caches: next, ...(returnAttentionScores ? { weights } : {}) };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), causal: this.causal };
  }
}
tf.serialization.registerClass(Encoder);
registerLayerClass(Encoder);

export interface DecoderStep {
  /** (B, 1, d) */
  hidden: tf.Tensor;
  caches: LayerCache[];
  /** Per layer, (B, H, 1, t) and (B, H, 1, Ts), when asked for. */
  selfWeights?: tf.Tensor[];
  crossWeights?: tf.Tensor[];
}

export interface DecoderCallArgs extends StackCallArgs {
  /** Source padding mask (B, 1, 1, Ts) for cross-attention. */
  memoryMask?: tf.Tensor;
}

/** Per decoder layer: causal self-attention (B, H, Tt, Tt) and cross-attention (B, H, Tt, Ts). */
export interface DecoderStackWeights {
  self: tf.Tensor[];
  cross: tf.Tensor[];
}

/**
 * The encoder–decoder's decoder: target ids (B, Tt) and memory (B, Ts, d) → hidden states
 * (B, Tt, d). Target padding needs no mask: with the causal mask a real token never sees the
 * padding after it, and the loss ignores padded positions.
 */
export class Decoder extends Stack<DecoderLayer> {
  static className = 'Decoder';

  constructor(args: StackArgs) {
    super(args, (a) => new DecoderLayer(a));
  }

  override build(_inputShape: tf.Shape | tf.Shape[]): void {
    const hidden: tf.Shape = [null, null, this.stackArgs.dModel];
    this.buildStack([hidden, hidden]);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return [...(inputShape as tf.Shape[])[0]!, this.stackArgs.dModel];
  }

  /** The per-layer caches for step-by-step decoding against `memory` (B, Ts, d). */
  startCache(memory: tf.Tensor): LayerCache[] {
    return this.blocks.map((block) => block.startCache(memory));
  }

  /**
   * Decode position `position` for every sentence: ids (B, 1) → hidden (B, 1, d), with the caches
   * advanced by one position. Old self-attention keys/values are left to the caller to free.
   */
  step(ids: tf.Tensor, position: number, caches: readonly LayerCache[], memoryMask: tf.Tensor | undefined, returnAttentionScores = false): DecoderStep {
    let h = this.embed(ids, false, position); // (B, 1, d)
    const next: LayerCache[] = [];
    const selfWeights: tf.Tensor[] = [];
    const crossWeights: tf.Tensor[] = [];
    this.blocks.forEach((block, i) => {
      const r = block.step(h, caches[i]!, memoryMask, returnAttentionScores);
      h.dispose();
      h = r.output;
      next.push(r.cache);
      if (r.selfWeights && r.crossWeights) {
        selfWeights.push(r.selfWeights);
        crossWeights.push(r.crossWeights);
      }
    });
    const hidden = this.finalNorm ? tf.tidy(() => this.finish(h)) : h;
    if (hidden !== h) h.dispose();
    return { hidden, caches: next, ...(returnAttentionScores ? { selfWeights, crossWeights } : {}) };
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const [ids, memory] = inputs as tf.Tensor[];
    const options = kwargs as DecoderCallArgs;
    const { output, weights } = this.forward(ids!, memory!, options);
    return options.returnAttentionScores === true ? [output, ...weights!.self, ...weights!.cross] : output;
  }

  /** ids (B, Tt) and memory (B, Ts, d) → (B, Tt, d), with every layer's weights when asked for. */
  forward(ids: tf.Tensor, memory: tf.Tensor, options: DecoderCallArgs = {}): LayerOutput<DecoderStackWeights> {
    const { training, returnAttentionScores, memoryMask } = options;
    const n = this.blocks.length;
    const [output, ...weights] = tf.tidy(() => {
      let h = this.embed(ids, training);
      const self: tf.Tensor[] = [];
      const cross: tf.Tensor[] = [];
      for (const block of this.blocks) {
        const r = block.forward(h, memory, { memoryMask, training, returnAttentionScores });
        h = r.output;
        if (r.weights) {
          self.push(r.weights.self);
          cross.push(r.weights.cross);
        }
      }
      return [this.finish(h), ...self, ...cross];
    });
    if (returnAttentionScores !== true) return { output: output! };
    return { output: output!, weights: { self: weights.slice(0, n), cross: weights.slice(n) } };
  }
}
tf.serialization.registerClass(Decoder);
registerLayerClass(Decoder);
