import * as tf from '@tensorflow/tfjs';
import { causalMask, combineMasks } from '../attention/masks.js';
import { scaledDotProductAttention } from '../attention/scaled-dot-product.js';
import { ConfigError } from '../errors.js';
import { fusedAttention, fusedAttentionFits, fusedAttentionRuns } from '../ops/attention.js';
import { AtencaoLayer, glorot, lastDim, zeros, type Kwargs, type LayerArgs, type LayerVariable, type Shape } from './base.js';
import { mergeHeads, positiveInt, project, QKVProjection, splitHeads } from './qkv-projection.js';

export interface MultiHeadAttentionArgs extends LayerArgs {
  /** Number of attention heads (H). */
  numHeads: number;
  /** Size of each head's query and key vectors (dk). */
  keyDim: number;
  /** Size of each head's value vectors (dv). Default: keyDim. */
  valueDim?: number;
  /** Dropout rate on the attention weights during training. Default: 0. */
  dropout?: number;
  /** Biases on the Q/K/V and output projections. Default: true. */
  useBias?: boolean;
  /** Width of the output. Default: the query's last dimension. */
  outputDim?: number;
}

/** Options of `forward` (and of `layer.apply([query, key?, value?], options)`); names as in Keras. */
export interface MultiHeadAttentionCallArgs {
  /** Broadcastable to (B, H, Tq, Tk) or (B, Tq, Tk); 1 = attend, 0 = blocked. */
  attentionMask?: tf.Tensor;
  /** Block each query from keys at later positions (decoder self-attention). */
  useCausalMask?: boolean;
  /** Also return the attention weights (B, H, Tq, Tk). */
  returnAttentionScores?: boolean;
  /** Apply dropout. Default: false. */
  training?: boolean;
}

/** Keys and values of the positions decoded so far, (B, H, t, dk|dv); empty before the first step. */
export interface KeyValueCache {
  k?: tf.Tensor;
  v?: tf.Tensor;
}

export interface MultiHeadAttentionResult {
  /** (B, Tq, outputDim) */
  output: tf.Tensor;
  /** (B, H, Tq, Tk), only when asked for. */
  weights?: tf.Tensor;
}

/**
 * Multi-head attention: Q/K/V projections split into H heads, scaled dot-product attention in every
 * head at once, heads concatenated and projected back with Wo. Arguments in the paper's order:
 * query (B, Tq, dq), key (B, Tk, dk_in), value (B, Tk, dv_in); key defaults to the query
 * (self-attention) and value to the key.
 *
 * `forwardProjected` below spells the steps out with plain tf ops. On wasm, `forward` runs the
 * middle of them (split, attention, merge) as one fused kernel that computes the same numbers to
 * the bit, gradient included (ops/attention.ts); asking for the attention weights takes the plain way.
 */
export class MultiHeadAttention extends AtencaoLayer {
  static className = 'MultiHeadAttention';
  readonly numHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly dropoutRate: number;
  readonly useBias: boolean;
  readonly outputDim: number | undefined;
  readonly projection: QKVProjection;
  wo!: LayerVariable;
  bo?: LayerVariable;

  constructor(args: MultiHeadAttentionArgs) {
    super(args);
    this.numHeads = positiveInt('numHeads', args.numHeads);
    this.keyDim = positiveInt('keyDim', args.keyDim);
    this.valueDim = positiveInt('valueDim', args.valueDim ?? args.keyDim);
    this.dropoutRate = args.dropout ?? 0;
    if (!(this.dropoutRate >= 0 && this.dropoutRate < 1)) {
      throw new ConfigError(`dropout (${String(args.dropout)}) must be in [0, 1)`);
    }
    this.useBias = args.useBias ?? true;
    this.outputDim = args.outputDim === undefined ? undefined : positiveInt('outputDim', args.outputDim);
    this.projection = this.child(
      'projection',
      new QKVProjection({
        name: `${this.name}_qkv`,
        numHeads: this.numHeads,
        keyDim: this.keyDim,
        valueDim: this.valueDim,
        useBias: this.useBias,
      }),
    );
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const [q, k, v] = shapesOf(inputShape as Shape | Shape[]);
    this.buildChild(this.projection, [q, k, v]);
    const out = this.outputDim ?? lastDim(q, this.name);
    this.wo = this.weight('wo', [this.numHeads * this.valueDim, out], glorot());
    if (this.useBias) this.bo = this.weight('bo', [out], zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [q] = shapesOf(inputShape as Shape | Shape[]);
    return [q[0] ?? null, q[1] ?? null, this.outputDim ?? lastDim(q, this.name)];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const [query, key, value] = Array.isArray(inputs) ? inputs : [inputs];
    const options = kwargs as MultiHeadAttentionCallArgs;
    const { output, weights } = this.forward(query!, key, value, options);
    return options.returnAttentionScores === true ? [output, weights!] : output;
  }

  /**
   * Attend from `query` to `key`/`value`: returns the output and, when `returnAttentionScores` is
   * set, the weights. Builds the layer on first use.
   */
  forward(query: tf.Tensor, key: tf.Tensor = query, value: tf.Tensor = key, options: MultiHeadAttentionCallArgs = {}): MultiHeadAttentionResult {
    if (!this.built) {
      this.build([query.shape, key.shape, value.shape]);
    }
    if (options.returnAttentionScores !== true && fusedAttentionRuns()) return this.forwardFused(query, key, value, options);
    const q = this.projection.projectQuery(query); // (B, H, Tq, dk)
    const { k, v } = this.projection.projectKeyValue(key, value); // (B, H, Tk, dk), (B, H, Tk, dv)
    try {
      return this.forwardProjected(q, k, v, options);
    } finally {
      tf.dispose([q, k, v]);
    }
  }

  /**
   * Attention on queries, keys and values already projected and split into heads — the entry point
   * for decoding with a key/value cache. q (B, H, Tq, dk), k (B, H, Tk, dk), v (B, H, Tk, dv).
   * With `useCausalMask`, query i is taken to sit at key position Tk − Tq + i (the last Tq keys are
   * the queries' own positions).
   */
  forwardProjected(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, options: MultiHeadAttentionCallArgs = {}): MultiHeadAttentionResult {
    return tf.tidy(() => {
      const mask = this.maskOf(options, q.shape[2]!, k.shape[2]!);
      const attention = scaledDotProductAttention(q, k, v, mask, {
        dropout: options.training === true ? this.dropoutRate : 0,
      });
      const merged = mergeHeads(attention.output); // heads concatenated: (B, Tq, H·dv)
      const output = project(merged, this.wo, this.bo); // · Wo + bo → (B, Tq, out)
      return options.returnAttentionScores === true ? { output, weights: attention.weights } : { output };
    });
  }

  /**
   * `forward` on a backend that computes attention in one kernel (wasm): the steps of
   * `forwardProjected` — split into heads, scaled dot-product attention, merge the heads — as one
   * op that gives the same numbers to the bit, forward and backward (ops/attention.ts), without
   * the ~60 small kernel calls they take one by one in a training step. Masks the kernel does not
   * take go the plain way.
   */
  private forwardFused(query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, options: MultiHeadAttentionCallArgs): MultiHeadAttentionResult {
    return tf.tidy(() => {
      const { q, k, v } = this.projection.projectJoined(query, key, value); // (B, Tq, H·dk), (B, Tk, H·dk), (B, Tk, H·dv)
      const mask = this.maskOf(options, q.shape[1]!, k.shape[1]!);
      if (!fusedAttentionFits(q, k, v, this.numHeads, mask)) {
        const heads = (x: tf.Tensor) => splitHeads(x, this.numHeads); // (B, T, H·d) → (B, H, T, d)
        return { output: this.forwardProjected(heads(q), heads(k), heads(v), options).output };
      }
      const dropout = options.training === true ? this.dropoutRate : 0;
      const merged = fusedAttention(q, k, v, mask, { numHeads: this.numHeads, dropout, causal: options.useCausalMask === true }); // (B, Tq, H·dv)
      return { output: project(merged, this.wo, this.bo) }; // · Wo + bo → (B, Tq, out)
    });
  }

  /** The mask of one call, broadcasting to (B, H, Tq, Tk), or none. */
  private maskOf(options: MultiHeadAttentionCallArgs, tq: number, tk: number): tf.Tensor | undefined {
    return combineMasks(
      options.attentionMask === undefined ? undefined : toHeadMask(options.attentionMask),
      options.useCausalMask === true ? offsetCausalMask(tq, tk) : undefined,
    );
  }

  /**
   * Causal self-attention of new positions x (B, Tn, d) to every earlier position kept in `cache`
   * and to themselves, for decoding step by step: the same rows as `forward` on the whole sequence
   * with `useCausalMask`, without recomputing the earlier positions. Returns the cache with the new
   * positions' keys/values appended (B, H, t + Tn, dk|dv); the caller owns them and the old ones.
   */
  forwardCached(x: tf.Tensor, cache: KeyValueCache, options: Pick<MultiHeadAttentionCallArgs, 'returnAttentionScores'> = {}): MultiHeadAttentionResult & { cache: Required<KeyValueCache> } {
    const [output, k, v, weights] = tf.tidy(() => {
      const q = this.projection.projectQuery(x); // (B, H, Tn, dk)
      const fresh = this.projection.projectKeyValue(x, x);
      const k = cache.k ? tf.concat([cache.k, fresh.k], 2) : fresh.k; // (B, H, t + Tn, dk)
      const v = cache.v ? tf.concat([cache.v, fresh.v], 2) : fresh.v; // (B, H, t + Tn, dv)
      const r = this.forwardProjected(q, k, v, { useCausalMask: true, returnAttentionScores: options.returnAttentionScores });
      return [r.output, k, v, ...(r.weights ? [r.weights] : [])];
    });
    return { output: output!, cache: { k: k!, v: v! }, ...(weights ? { weights } : {}) };
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = {
      ...super.getConfig(),
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      valueDim: this.valueDim,
      dropout: this.dropoutRate,
      useBias: this.useBias,
    };
    if (this.outputDim !== undefined) config.outputDim = this.outputDim;
    return config;
  }
}
tf.serialization.registerClass(MultiHeadAttention);

/** [query, key?, value?] shapes; key defaults to query and value to key. */
function shapesOf(shape: Shape | Shape[]): [Shape, Shape, Shape] {
  const list = Array.isArray(shape[0]) ? (shape as Shape[]) : [shape as Shape];
  const q = list[0]!;
  const k = list[1] ?? q;
  return [q, k, list[2] ?? k];
}

/**
 * (Tq, Tk): query i may see keys 0 … Tk − Tq + i; the usual lower triangle when Tq = Tk. A single
 * query (one decoding step) sees every key, so it needs no mask at all.
 */
function offsetCausalMask(tq: number, tk: number): tf.Tensor | undefined {
  if (tq === tk) return causalMask(tq);
  if (tq === 1) return undefined;
  // Filled in one pass, as causalMask is: one upload instead of the dozen kernels of bandPart.
  const values = new Float32Array(tq * tk);
  for (let i = 0; i < tq; i++) values.fill(1, i * tk, i * tk + Math.min(tk, tk - tq + i + 1));
  return tf.tensor2d(values, [tq, tk]);
}

/** A (B, Tq, Tk) mask gains a head axis: (B, 1, Tq, Tk). Other ranks already broadcast. */
function toHeadMask(mask: tf.Tensor): tf.Tensor {
  const m = mask.dtype === 'float32' ? mask : tf.cast(mask, 'float32');
  return m.rank === 3 ? tf.expandDims(m, 1) : m;
}
