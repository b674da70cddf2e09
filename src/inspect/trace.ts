import * as tf from '@tensorflow/tfjs';
import { causalMask, combineMasks, paddingMask } from '../attention/masks.js';
import { scaledDotProductAttention } from '../attention/scaled-dot-product.js';
import { UsageError } from '../errors.js';
import type { DecoderLayer } from '../layers/decoder-layer.js';
import type { EncoderLayer } from '../layers/encoder-layer.js';
import type { MultiHeadAttention } from '../layers/multi-head-attention.js';
import { mergeHeads, project } from '../layers/qkv-projection.js';
import { residual } from '../layers/residual.js';
import type { DecoderOnly } from '../model/decoder-only.js';
import type { EncoderOnly } from '../model/encoder-only.js';
import type { AttentionKind, Model } from '../model/model.js';
import { Decoder, Encoder } from '../model/stack.js';
import type { Transformer } from '../model/transformer.js';

/*
 * The forward pass of every family again, written out from the layers' own pieces (norms,
 * projections, scaled dot-product attention, feed-forward) so that every activation can be read
 * and replaced on the way: the attention weights, each head's output before Wo, and the residual
 * stream after every block. Without hooks it gives the model's own logits (the tests check it).
 */

/** The stacks a family has: the encoder–decoder both, GPT a causal 'decoder', BERT an 'encoder'. */
export type StackName = 'encoder' | 'decoder';

/** Functions that may replace an activation (return it, or undefined to leave it). Layers are 0-based. */
export interface TraceHooks {
  /** The attention weights (B, H, Tq, Tk) of a layer, before they weigh the values. */
  weights?(kind: AttentionKind, layer: number, w: tf.Tensor): tf.Tensor | undefined;
  /** Every head's output (B, H, Tq, dv), before the heads are concatenated and projected by Wo. */
  heads?(kind: AttentionKind, layer: number, z: tf.Tensor): tf.Tensor | undefined;
  /** The residual stream (B, T, d) after block `layer` (0 = the embeddings, L = the last block, before the final norm). */
  residual?(stack: StackName, layer: number, h: tf.Tensor): tf.Tensor | undefined;
}

export interface TraceInput {
  /** (B, T) ids: the source for an encoder–decoder, the sequence for the others. */
  ids: tf.Tensor2D;
  /** Encoder–decoder: the decoder input (B, Tt). */
  targetIds?: tf.Tensor2D;
  /** Encoder with a classifier: score the classes from [CLS] (B, C) instead of the tokens (B, T, V). */
  classes?: boolean;
}

/** One attention layer's inputs and outputs, per head. */
export interface AttentionRecord {
  /** (B, H, Tq, dk), (B, H, Tk, dk), (B, H, Tk, dv) */
  q: tf.Tensor;
  k: tf.Tensor;
  v: tf.Tensor;
  /** (B, H, Tq, Tk), after any hook. */
  weights: tf.Tensor;
  /** (B, H, Tq, dv), after any hook. */
  heads: tf.Tensor;
}

/** Everything a traced run read. The caller disposes it (`disposeTrace`) or runs it inside tf.tidy. */
export interface Trace {
  /** (B, T, V) token logits, or (B, C) class logits. */
  logits: tf.Tensor;
  /** Per stack, the residual stream after each block, [0] = embeddings … [L] = last block (B, T, d). */
  residual: Partial<Record<StackName, tf.Tensor[]>>;
  /** Per kind, one record per layer. */
  attention: Partial<Record<AttentionKind, AttentionRecord[]>>;
}

/** The parts of a model the trace reads: its stacks and its output projection. */
export interface Anatomy {
  encoder?: Encoder;
  decoder?: Encoder | Decoder;
  /** Final hidden states → token logits (…, V). */
  project(hidden: tf.Tensor): tf.Tensor;
  /** Final hidden states (B, T, d) → class logits (B, C), for an encoder with a classifier. */
  classify?(hidden: tf.Tensor): tf.Tensor;
  /** The stack whose output the projection reads. */
  output: StackName;
}

/** The stacks and heads of a model of any family; a model without them (an LSTM) is refused in one line. */
export function anatomy(model: Model): Anatomy {
  if (model.arch === 'encoder-decoder') {
    const m = model as Transformer;
    if (m.encoder instanceof Encoder && m.decoder instanceof Decoder) return { encoder: m.encoder, decoder: m.decoder, project: (h) => m.project(h), output: 'decoder' };
  } else if (model.arch === 'decoder') {
    const m = model as DecoderOnly;
    if (m.decoder instanceof Encoder) return { decoder: m.decoder, project: (h) => m.project(h), output: 'decoder' };
  } else {
    const m = model as EncoderOnly;
    if (m.encoder instanceof Encoder) {
      const classify = m.classifierKernel === undefined ? undefined : (h: tf.Tensor) => m.classify(h);
      return { encoder: m.encoder, project: (h) => m.predictTokens(h), ...(classify ? { classify } : {}), output: 'encoder' };
    }
  }
  throw new UsageError(`${model.name} has no attention heads to inspect (${model.constructor.name})`);
}

/** Run a model on one input, recording (and, through `hooks`, replacing) its activations. */
export function trace(model: Model, input: TraceInput, hooks: TraceHooks = {}): Trace {
  const parts = anatomy(model);
  const pad = model.config.padId;
  // tf.tidy keeps every tensor reachable from the returned object (nested records included).
  return tf.tidy((): tf.TensorContainer => {
    const record: Trace = { logits: undefined as unknown as tf.Tensor, residual: {}, attention: {} };
    let memory: tf.Tensor | undefined;
    let memoryMask: tf.Tensor | undefined;
    if (parts.encoder) {
      // The paper's encoder and BERT mask padding keys; a bidirectional stack sees every real token.
      const mask = paddingMask(input.ids, pad);
      const h = runStack(parts.encoder, 'encoder', input.ids, mask, hooks, record, () => undefined);
      if (parts.output === 'encoder') return finish(parts, parts.encoder, h, input, record);
      memory = parts.encoder.finish(h);
      memoryMask = mask;
    }
    const stack = parts.decoder!;
    if (stack instanceof Decoder) {
      if (input.targetIds === undefined) throw new UsageError('an encoder–decoder needs the decoder input (targetIds) to be traced');
      const h = runStack(stack, 'decoder', input.targetIds, undefined, hooks, record, () => ({ memory: memory!, memoryMask }));
      return finish(parts, stack, h, input, record);
    }
    const h = runStack(stack, 'decoder', input.ids, undefined, hooks, record, () => undefined);
    return finish(parts, stack, h, input, record);
  }) as unknown as Trace;
}

export function disposeTrace(t: Trace): void {
  tf.dispose([t.logits, ...Object.values(t.residual).flat(), ...Object.values(t.attention).flatMap((layers) => layers.flatMap((r) => [r.q, r.k, r.v, r.weights, r.heads]))]);
}

function finish(parts: Anatomy, stack: Encoder | Decoder, h: tf.Tensor, input: TraceInput, record: Trace): tf.TensorContainer {
  const out = stack.finish(h);
  if (input.classes === true) {
    if (!parts.classify) throw new UsageError('this model has no classifier to score classes with');
    record.logits = parts.classify(out);
  } else {
    record.logits = parts.project(out);
  }
  return record as unknown as tf.TensorContainer;
}

/** Embed, then every block with its hooks; returns the last block's output (before the final norm). */
function runStack(
  stack: Encoder | Decoder,
  name: StackName,
  ids: tf.Tensor,
  selfMask: tf.Tensor | undefined,
  hooks: TraceHooks,
  record: Trace,
  cross: () => { memory: tf.Tensor; memoryMask?: tf.Tensor } | undefined,
): tf.Tensor {
  const streams: tf.Tensor[] = [];
  const at = (layer: number, h: tf.Tensor) => {
    const replaced = hooks.residual?.(name, layer, h) ?? h;
    streams.push(replaced);
    return replaced;
  };
  let h = at(0, stack.embed(ids, false));
  const causal = stack instanceof Decoder || (stack as Encoder).causal;
  const selfKind: AttentionKind = name;
  stack.blocks.forEach((block, l) => {
    const normPlacement = block.args.normPlacement;
    h = residual(h, block.norm1, normPlacement, 0, false, (n) => attend(block.selfAttention, n, n, selfMask, causal, selfKind, l, hooks, record));
    const memory = cross();
    if (memory) {
      const b = block as DecoderLayer;
      h = residual(h, b.norm2, normPlacement, 0, false, (n) => attend(b.crossAttention, n, memory.memory, memory.memoryMask, false, 'cross', l, hooks, record));
      h = residual(h, b.norm3, normPlacement, 0, false, (n) => b.feedForward.forward(n).output);
    } else {
      const b = block as EncoderLayer;
      h = residual(h, b.norm2, normPlacement, 0, false, (n) => b.feedForward.forward(n).output);
    }
    h = at(l + 1, h);
  });
  record.residual[name] = streams;
  return h;
}

/** Multi-head attention as `MultiHeadAttention.forward` computes it, with the weights and head outputs exposed. */
function attend(mha: MultiHeadAttention, query: tf.Tensor, memory: tf.Tensor, mask: tf.Tensor | undefined, causal: boolean, kind: AttentionKind, layer: number, hooks: TraceHooks, record: Trace): tf.Tensor {
  const q = mha.projection.projectQuery(query); // (B, H, Tq, dk)
  const { k, v } = mha.projection.projectKeyValue(memory, memory); // (B, H, Tk, dk), (B, H, Tk, dv)
  const full = combineMasks(mask, causal ? causalMask(query.shape[1]!) : undefined);
  const computed = scaledDotProductAttention(q, k, v, full).weights; // (B, H, Tq, Tk)
  const weights = hooks.weights?.(kind, layer, computed) ?? computed;
  const z = tf.matMul(weights, v); // (B, H, Tq, Tk)·(B, H, Tk, dv) → (B, H, Tq, dv)
  const heads = hooks.heads?.(kind, layer, z) ?? z;
  (record.attention[kind] ??= []).push({ q, k, v, weights, heads });
  return project(mergeHeads(heads), mha.wo, mha.bo); // (B, Tq, H·dv)·Wo + bo → (B, Tq, d)
}

/** x (B, H, T, d) with head `head` replaced by the same head of `by` (or by `by` itself when it has one head). */
export function replaceHead(x: tf.Tensor, head: number, by: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const h = x.shape[1]!;
    const pick = tf.oneHot(tf.tensor1d([head], 'int32'), h).reshape([1, h, 1, 1]); // (1, H, 1, 1): 1 at the head
    return tf.add(tf.mul(x, tf.sub(1, pick)), tf.mul(by, pick));
  });
}

/** x (B, T, d) with position `position` replaced by the same position of `by` (all positions when undefined). */
export function replacePosition(x: tf.Tensor, position: number | undefined, by: tf.Tensor): tf.Tensor {
  if (position === undefined) return tf.clone(by);
  return tf.tidy(() => {
    const t = x.shape[1]!;
    const pick = tf.oneHot(tf.tensor1d([position], 'int32'), t).reshape([1, t, 1]); // (1, T, 1)
    return tf.add(tf.mul(x, tf.sub(1, pick)), tf.mul(by, pick));
  });
}
