import * as tf from '@tensorflow/tfjs';
import type { PositionalEncodingKind } from '../config.js';
import { AtencaoLayer, applyEager, dropout, type Kwargs, type LayerArgs } from '../layers/base.js';
import { DecoderLayer, type LayerCache } from '../layers/decoder-layer.js';
import { blockArgs, EncoderLayer, type BlockArgs } from '../layers/encoder-layer.js';
import { LayerNorm } from '../layers/layer-norm.js';
import { PositionalEncoding } from '../layers/positional-encoding.js';
import { positiveInt } from '../layers/qkv-projection.js';
import { TokenEmbedding } from '../layers/token-embedding.js';

export interface StackArgs extends BlockArgs {
  vocabSize: number;
  numLayers: number;
  maxLen: number;
  positionalEncoding?: PositionalEncodingKind;
}

export interface StackCallArgs {
  training?: boolean;
  /** Also return every layer's attention weights. */
  returnAttentionScores?: boolean;
}

/**
 * What encoder and decoder stacks share: token embedding (×√d), positions, dropout, N blocks, and a
 * final layer norm when norms come before the sublayers (otherwise the last block's output is unnormalised).
 */
abstract class Stack<L extends EncoderLayer | DecoderLayer> extends AtencaoLayer {
  readonly stackArgs: Required<Omit<StackArgs, keyof LayerArgs>>;
  readonly embedding: TokenEmbedding;
  readonly positions: PositionalEncoding;
  readonly blocks: L[];
  readonly finalNorm?: LayerNorm;

  constructor(args: StackArgs, makeBlock: (args: BlockArgs) => L) {
    super(args);
    const block = blockArgs(args);
    this.stackArgs = {
      ...block,
      vocabSize: positiveInt('vocabSize', args.vocabSize),
      numLayers: positiveInt('numLayers', args.numLayers),
      maxLen: positiveInt('maxLen', args.maxLen),
      positionalEncoding: args.positionalEncoding ?? 'sinusoidal',
    };
    const { vocabSize, dModel, maxLen, positionalEncoding, numLayers } = this.stackArgs;
    this.embedding = this.child('embedding', new TokenEmbedding({ name: `${this.name}_embedding`, vocabSize, dModel }));
    this.positions = this.child('positions', new PositionalEncoding({ name: `${this.name}_positions`, maxLen, kind: positionalEncoding }));
    this.blocks = Array.from({ length: numLayers }, (_, i) =>
      this.child(`layer_${i}`, makeBlock({ ...block, name: `${this.name}_layer_${i}` })),
    );
    if (block.normPlacement === 'pre') {
      this.finalNorm = this.child('final_norm', new LayerNorm({ name: `${this.name}_final_norm` }));
    }
  }

  protected buildStack(blockShape: tf.Shape | tf.Shape[]): void {
    const hidden: tf.Shape = [null, null, this.stackArgs.dModel];
    this.buildChild(this.embedding, [null, null]);
    this.buildChild(this.positions, hidden);
    for (const block of this.blocks) this.buildChild(block, blockShape);
    if (this.finalNorm) this.buildChild(this.finalNorm, hidden);
    this.built = true;
  }

  /** ids (B, T) → embedded tokens plus positions, with dropout: (B, T, d). */
  protected embed(ids: tf.Tensor, training: boolean | undefined, offset = 0): tf.Tensor {
    const x = this.positions.apply(this.embedding.apply(ids), { offset }) as tf.Tensor;
    return dropout(x, this.stackArgs.dropout, training);
  }

  protected finish(h: tf.Tensor): tf.Tensor {
    return this.finalNorm ? (this.finalNorm.apply(h) as tf.Tensor) : h;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.stackArgs };
  }
}

export interface EncoderCallArgs extends StackCallArgs {
  /** Source padding mask (B, 1, 1, Ts). */
  attentionMask?: tf.Tensor;
}

/** Source ids (B, Ts) → memory (B, Ts, d); with `returnAttentionScores`, [memory, …self-attention per layer]. */
export class Encoder extends Stack<EncoderLayer> {
  static className = 'Encoder';

  constructor(args: StackArgs) {
    super(args, (a) => new EncoderLayer(a));
  }

  override build(_inputShape: tf.Shape | tf.Shape[]): void {
    this.buildStack([null, null, this.stackArgs.dModel]);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return [...(inputShape as tf.Shape), this.stackArgs.dModel];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const ids = Array.isArray(inputs) ? inputs[0]! : inputs;
    const { training, returnAttentionScores, attentionMask } = kwargs as EncoderCallArgs;
    return tf.tidy(() => {
      let h = this.embed(ids, training);
      const weights: tf.Tensor[] = [];
      for (const block of this.blocks) {
        const [next, w] = applyEager(block, h, { attentionMask, training, returnAttentionScores });
        h = next!;
        if (w) weights.push(w);
      }
      h = this.finish(h);
      return returnAttentionScores === true ? [h, ...weights] : h;
    });
  }
}
tf.serialization.registerClass(Encoder);

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

/**
 * Inputs [target ids (B, Tt), memory (B, Ts, d)] → hidden states (B, Tt, d); with
 * `returnAttentionScores`, [hidden, …self-attention per layer, …cross-attention per layer].
 * Target padding needs no mask: with the causal mask a real token never sees the padding after it,
 * and the loss ignores padded positions.
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
    const x = tf.tidy(() => this.embed(ids, false, position)); // (B, 1, d)
    let h = x;
    const next: LayerCache[] = [];
    const selfWeights: tf.Tensor[] = [];
    const crossWeights: tf.Tensor[] = [];
    this.blocks.forEach((block, i) => {
      const r = block.step(h, caches[i]!, memoryMask, returnAttentionScores);
      if (h !== x) h.dispose();
      h = r.output;
      next.push(r.cache);
      if (r.selfWeights && r.crossWeights) {
        selfWeights.push(r.selfWeights);
        crossWeights.push(r.crossWeights);
      }
    });
    x.dispose();
    const hidden = this.finalNorm ? tf.tidy(() => this.finish(h)) : h;
    if (hidden !== h) h.dispose();
    return { hidden, caches: next, ...(returnAttentionScores ? { selfWeights, crossWeights } : {}) };
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const [ids, memory] = inputs as tf.Tensor[];
    const { training, returnAttentionScores, memoryMask } = kwargs as DecoderCallArgs;
    return tf.tidy(() => {
      let h = this.embed(ids!, training);
      const selfWeights: tf.Tensor[] = [];
      const crossWeights: tf.Tensor[] = [];
      for (const block of this.blocks) {
        const [next, self, cross] = applyEager(block, [h, memory!], { memoryMask, training, returnAttentionScores });
        h = next!;
        if (self && cross) {
          selfWeights.push(self);
          crossWeights.push(cross);
        }
      }
      h = this.finish(h);
      return returnAttentionScores === true ? [h, ...selfWeights, ...crossWeights] : h;
    });
  }
}
tf.serialization.registerClass(Decoder);
