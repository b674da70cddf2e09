import * as tf from '@tensorflow/tfjs';
import { resolveConfig, type EncoderDecoderConfig } from '../config.js';
import { BOS_ID } from '../data/tokenizer.js';
import { ShapeError } from '../errors.js';
import { AtencaoLayer, glorot, withInitSeed, zeros, type Kwargs, type LayerVariable } from '../layers/base.js';
import { positiveInt } from '../layers/qkv-projection.js';
import { TokenEmbedding } from '../layers/token-embedding.js';
import { idTensor } from '../model/ids.js';
import { maskedCrossEntropy, notPadding } from '../model/loss.js';
import type { AttentionInputs, AttentionWeights, Batch, ForwardOptions, Generation, LossOptions, Model, Objective, Scored } from '../model/model.js';
import { LstmCell, type LstmState } from './lstm.js';

export interface LstmSeq2SeqConfig {
  srcVocabSize: number;
  tgtVocabSize: number;
  /** Width of the embeddings and of the LSTM states. */
  units: number;
  /** Longest source or target, in tokens. */
  maxLen: number;
  /** Additive attention over the encoder's states at every decoder step (Bahdanau et al. 2015); without it the decoder sees only the encoder's last state. */
  attention: boolean;
  /** Default: 0. */
  padId?: number;
}

/** What the encoder leaves for the decoder: every state, their projection for attention, the mask and the last state. */
interface Encoded {
  /** (B, Ts, u) */
  states: tf.Tensor;
  /** states · Ua, computed once: (B, Ts, u). */
  keys?: tf.Tensor;
  /** (B, Ts): 1 = a real token. */
  mask: tf.Tensor;
  final: LstmState;
}

/**
 * A recurrent encoder–decoder, the architecture attention first joined and transformers replaced:
 * an LSTM reads the source one token at a time, another writes the translation one token at a
 * time from the first one's last state (Sutskever et al. 2014). With `attention`, every decoder
 * step also takes a weighted average of all the encoder's states, weighted by additive attention
 * v·tanh(Wa·s + Ua·h_j) (Bahdanau et al. 2015). It implements the `Model` interface, so the same
 * trainer, steppers, evaluation and greedy decoding run it.
 */
export class LstmSeq2Seq extends AtencaoLayer implements Model {
  static className = 'LstmSeq2Seq';
  readonly arch = 'encoder-decoder' as const;
  /** The sizes in the encoder–decoder config's terms (dModel = units; one layer, one "head"). */
  readonly config: EncoderDecoderConfig;
  readonly rnn: Required<LstmSeq2SeqConfig>;
  readonly inputNames: readonly string[] = ['source_ids', 'target_ids'];
  readonly objectives: readonly Objective[] = ['seq2seq'];
  readonly sourceEmbedding: TokenEmbedding;
  readonly targetEmbedding: TokenEmbedding;
  readonly encoder: LstmCell;
  readonly decoder: LstmCell;
  /** Additive attention: Wa (u, u) on the decoder state, Ua (u, u) on the encoder states, v (u). */
  wa?: LayerVariable;
  ua?: LayerVariable;
  va?: LayerVariable;
  /** [h_t, context] (or h_t) → logits. */
  outputKernel!: LayerVariable;
  outputBias!: LayerVariable;

  constructor(config: LstmSeq2SeqConfig & { name?: string }) {
    super({ name: config.name ?? (config.attention ? 'lstm_attention' : 'lstm') });
    const units = positiveInt('units', config.units);
    this.rnn = { ...config, units, padId: config.padId ?? 0 };
    this.config = resolveConfig({
      arch: 'encoder-decoder',
      srcVocabSize: config.srcVocabSize,
      tgtVocabSize: config.tgtVocabSize,
      dModel: units,
      numHeads: 1,
      numEncoderLayers: 1,
      numDecoderLayers: 1,
      dFF: units,
      dropout: 0,
      maxLen: config.maxLen,
      padId: this.rnn.padId,
      positionalEncoding: 'learned', // no positions at all: an RNN reads them from the order of its steps
    });
    this.sourceEmbedding = this.child('source_embedding', new TokenEmbedding({ name: `${this.name}_source_embedding`, vocabSize: config.srcVocabSize, dModel: units }));
    this.targetEmbedding = this.child('target_embedding', new TokenEmbedding({ name: `${this.name}_target_embedding`, vocabSize: config.tgtVocabSize, dModel: units }));
    this.encoder = this.child('encoder', new LstmCell({ name: `${this.name}_encoder`, inputSize: units, units }));
    this.decoder = this.child('decoder', new LstmCell({ name: `${this.name}_decoder`, inputSize: config.attention ? 2 * units : units, units }));
  }

  override build(): void {
    const u = this.rnn.units;
    this.buildChild(this.sourceEmbedding, [null, null]);
    this.buildChild(this.targetEmbedding, [null, null]);
    this.buildChild(this.encoder, [null, u]);
    this.buildChild(this.decoder, [null, u]);
    if (this.rnn.attention) {
      this.wa = this.weight('attention_wa', [u, u], glorot());
      this.ua = this.weight('attention_ua', [u, u], glorot());
      this.va = this.weight('attention_v', [u, 1], glorot());
    }
    this.outputKernel = this.weight('output_kernel', [this.rnn.attention ? 2 * u : u, this.rnn.tgtVocabSize], glorot());
    this.outputBias = this.weight('output_bias', [this.rnn.tgtVocabSize], zeros());
    this.built = true;
  }

  /** Source ids (B, Ts) → the encoder's states, one token at a time; padding leaves the state as it was. */
  encode(src: tf.Tensor): Encoded {
    this.checkIds(src);
    const [b, ts] = src.shape as [number, number];
    const r = tf.tidy(() => {
      const mask = notPadding(src, this.rnn.padId); // (B, Ts)
      const x = this.sourceEmbedding.forward(src).output; // (B, Ts, u)
      let state = this.encoder.initialState(b);
      const states: tf.Tensor[] = [];
      for (let t = 0; t < ts; t++) {
        const xt = tf.squeeze(tf.slice(x, [0, t, 0], [b, 1, -1]), [1]); // (B, u)
        const m = tf.slice(mask, [0, t], [b, 1]); // (B, 1)
        const next = this.encoder.step(xt, state);
        state = { h: keepWhere(m, next.h, state.h), c: keepWhere(m, next.c, state.c) };
        states.push(tf.mul(next.h, m));
      }
      const all = tf.stack(states, 1); // (B, Ts, u)
      const keys = this.ua ? tf.matMul(all, this.ua.read()) : undefined; // (B, Ts, u)·(u, u)
      return { states: all, mask, h: state.h, c: state.c, ...(keys ? { keys } : {}) };
    });
    return { states: r.states, mask: r.mask, final: { h: r.h, c: r.c }, ...(r.keys ? { keys: r.keys } : {}) };
  }

  /**
   * One decoder step for every row: previous tokens (B) and state → logits (B, V) and the next
   * state; with attention also the weights over the source (B, Ts).
   */
  decodeStep(tokens: tf.Tensor, state: LstmState, encoded: Encoded): { logits: tf.Tensor; state: LstmState; weights?: tf.Tensor } {
    const r = tf.tidy(() => {
      const y = tf.squeeze(this.targetEmbedding.forward(tf.expandDims(tokens, 1)).output, [1]); // (B, u)
      if (!this.rnn.attention) {
        const next = this.decoder.step(y, state);
        return { logits: this.project(next.h), h: next.h, c: next.c };
      }
      const { context, weights } = this.attend(state.h, encoded);
      const next = this.decoder.step(tf.concat([y, context], 1), state);
      return { logits: this.project(tf.concat([next.h, context], 1)), h: next.h, c: next.c, weights };
    });
    return { logits: r.logits, state: { h: r.h, c: r.c }, ...(r.weights ? { weights: r.weights } : {}) };
  }

  /** Additive attention of a decoder state s (B, u) over the encoder states: the context (B, u) and the weights (B, Ts). */
  private attend(s: tf.Tensor, encoded: Encoded): { context: tf.Tensor; weights: tf.Tensor } {
    const query = tf.expandDims(tf.matMul(s, this.wa!.read()), 1); // (B, 1, u)
    const [b, ts, u] = encoded.states.shape as [number, number, number];
    const e = tf.reshape(tf.matMul(tf.reshape(tf.tanh(tf.add(encoded.keys!, query)), [b * ts, u]), this.va!.read()), [b, ts]); // v·tanh(Ua·h_j + Wa·s): (B, Ts)
    const weights = tf.mul(tf.softmax(tf.add(e, tf.mul(tf.sub(1, encoded.mask), -1e9))), encoded.mask); // padding gets 0
    const context = tf.squeeze(tf.matMul(tf.expandDims(weights, 1), encoded.states), [1]); // (B, 1, Ts)·(B, Ts, u) → (B, u)
    return { context, weights };
  }

  private project(h: tf.Tensor): tf.Tensor {
    return tf.add(tf.matMul(h, this.outputKernel.read()), this.outputBias.read()); // (B, ·)·(·, V) + (V)
  }

  /** Teacher forcing: source (B, Ts) and decoder input (B, Tt) → logits (B, Tt, V), and the attention (B, Tt, Ts) when it has one. */
  forward(src: tf.Tensor, tgtIn: tf.Tensor): { logits: tf.Tensor; weights?: tf.Tensor } {
    this.checkIds(tgtIn);
    const r = tf.tidy(() => {
      const encoded = this.encode(src);
      let state = encoded.final;
      const [b, tt] = tgtIn.shape as [number, number];
      const logits: tf.Tensor[] = [];
      const weights: tf.Tensor[] = [];
      for (let t = 0; t < tt; t++) {
        const step = this.decodeStep(tf.reshape(tf.slice(tgtIn, [0, t], [b, 1]), [b]), state, encoded);
        logits.push(step.logits);
        if (step.weights) weights.push(step.weights);
        state = step.state;
      }
      return { logits: tf.stack(logits, 1), ...(weights.length > 0 ? { weights: tf.stack(weights, 1) } : {}) };
    });
    return r;
  }

  score(batch: Batch, _options: ForwardOptions = {}): Scored {
    if (batch.kind !== 'seq2seq') throw new ShapeError(`an LSTM encoder–decoder trains on seq2seq batches, not '${batch.kind}'`);
    return tf.tidy(() => ({ logits: this.forward(batch.src, batch.tgtIn).logits, targets: batch.tgtOut, mask: notPadding(batch.tgtOut, this.rnn.padId) }));
  }

  loss(batch: Batch, options: LossOptions = {}): tf.Scalar {
    return tf.tidy(() => {
      const { logits, targets, mask } = this.score(batch);
      return maskedCrossEntropy(logits, targets, mask, options.labelSmoothing ?? 0);
    });
  }

  /** With attention: the decoder's weights over the source as one layer with one head, (B, 1, Tt, Ts). */
  attention(inputs: AttentionInputs): AttentionWeights {
    if (inputs.targetIds === undefined) throw new ShapeError('an encoder–decoder needs the target ids to show its attention');
    if (!this.rnn.attention) return {};
    return tf.tidy(() => {
      const r = this.forward(inputs.ids, inputs.targetIds!);
      return { cross: [tf.expandDims(r.weights!, 1)] };
    });
  }

  startGeneration(prompts: readonly number[][]): Generation {
    return new LstmGeneration(this, prompts);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    const [src, tgt] = inputs as tf.Tensor[];
    return tf.tidy(() => this.forward(src!, tgt!).logits);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.rnn };
  }

  private checkIds(ids: tf.Tensor): void {
    if (ids.rank !== 2 || ids.dtype !== 'int32') throw new ShapeError(`ids must be an int32 tensor of shape (B, T), got ${ids.dtype} (${ids.shape.join(', ')})`);
    if (ids.shape[1]! > this.rnn.maxLen) throw new ShapeError(`length ${ids.shape[1]} is longer than maxLen (${this.rnn.maxLen})`);
  }
}
tf.serialization.registerClass(LstmSeq2Seq);

/** m (B, 1) ∈ {0, 1}: the new value where m is 1, the old one where it is 0. */
function keepWhere(m: tf.Tensor, next: tf.Tensor, old: tf.Tensor): tf.Tensor {
  return tf.add(tf.mul(next, m), tf.mul(old, tf.sub(1, m)));
}

/** Step-by-step decoding from the encoder's states; every step costs the same (the state is the cache). */
class LstmGeneration implements Generation {
  readonly first: readonly number[];
  private encoded: Encoded;
  private state: LstmState;
  private position = 0;
  private count: number;

  constructor(
    private readonly model: LstmSeq2Seq,
    sources: readonly number[][],
  ) {
    this.count = sources.length;
    this.first = sources.map(() => BOS_ID);
    const src = idTensor(sources, model.rnn.padId);
    try {
      this.encoded = model.encode(src);
    } finally {
      src.dispose();
    }
    this.state = { h: tf.clone(this.encoded.final.h), c: tf.clone(this.encoded.final.c) };
  }

  get rows(): number {
    return this.count;
  }

  get length(): number {
    return this.position;
  }

  get capacity(): number {
    return Math.max(0, this.model.rnn.maxLen - 1 - this.position);
  }

  step(tokens: readonly number[], returnAttention = false): { logits: tf.Tensor2D; weights?: AttentionWeights } {
    if (tokens.length !== this.count) throw new ShapeError(`step needs ${this.count} tokens, got ${tokens.length}`);
    const ids = tf.tensor1d(Int32Array.from(tokens), 'int32');
    const r = this.model.decodeStep(ids, this.state, this.encoded);
    ids.dispose();
    tf.dispose([this.state.h, this.state.c]);
    this.state = r.state;
    this.position++;
    const logits = r.logits as tf.Tensor2D;
    if (returnAttention && r.weights) {
      const w = tf.reshape(r.weights, [this.count, 1, 1, -1]); // (B, 1 head, 1, Ts)
      r.weights.dispose();
      return { logits, weights: { cross: [w] } };
    }
    r.weights?.dispose();
    return { logits };
  }

  select(rows: readonly number[]): void {
    const index = tf.tensor1d(Int32Array.from(rows), 'int32');
    const pick = (t: tf.Tensor) => tf.gather(t, index);
    const e = this.encoded;
    const next: Encoded = { states: pick(e.states), mask: pick(e.mask), final: { h: pick(e.final.h), c: pick(e.final.c) }, ...(e.keys ? { keys: pick(e.keys) } : {}) };
    const state = { h: pick(this.state.h), c: pick(this.state.c) };
    index.dispose();
    this.dispose();
    this.encoded = next;
    this.state = state;
    this.count = rows.length;
  }

  dispose(): void {
    const e = this.encoded;
    tf.dispose([e.states, e.mask, e.final.h, e.final.c, ...(e.keys ? [e.keys] : []), this.state.h, this.state.c]);
  }
}

/** Build an LSTM encoder–decoder with its weights; the same seed gives the same weights. */
export function createLstmSeq2Seq(config: LstmSeq2SeqConfig, options: { seed?: number; name?: string } = {}): LstmSeq2Seq {
  const build = () => {
    const model = new LstmSeq2Seq({ ...config, name: options.name });
    model.build();
    return model;
  };
  return options.seed === undefined ? build() : withInitSeed(options.seed, build);
}
