import * as tf from '@tensorflow/tfjs';
import { ConfigError, ShapeError } from '../errors.js';
import { AtencaoLayer, glorot, lastDim, zeros, type Kwargs, type LayerArgs, type LayerVariable, type Shape } from './base.js';
import { linear } from '../ops/linear.js';

export interface QKVProjectionArgs extends LayerArgs {
  /** Number of heads the projections are split into. */
  numHeads: number;
  /** Size of each head's query and key vectors (dk). */
  keyDim: number;
  /** Size of each head's value vectors (dv). Default: keyDim. */
  valueDim?: number;
  /** Add a bias to each projection. Default: true. */
  useBias?: boolean;
}

export interface Projected {
  /** (B, H, Tq, dk) */
  q: tf.Tensor;
  /** (B, H, Tk, dk) */
  k: tf.Tensor;
  /** (B, H, Tk, dv) */
  v: tf.Tensor;
}

/**
 * Step 1 of attention: project the query, key and value inputs with Wq, Wk, Wv and split the
 * result into heads. Inputs: [query (B, Tq, dq), key (B, Tk, dk_in), value (B, Tk, dv_in)];
 * outputs [q (B, H, Tq, dk), k (B, H, Tk, dk), v (B, H, Tk, dv)].
 */
export class QKVProjection extends AtencaoLayer {
  static className = 'QKVProjection';
  readonly numHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly useBias: boolean;
  wq!: LayerVariable;
  wk!: LayerVariable;
  wv!: LayerVariable;
  bq?: LayerVariable;
  bk?: LayerVariable;
  bv?: LayerVariable;

  constructor(args: QKVProjectionArgs) {
    super(args);
    this.numHeads = positiveInt('numHeads', args.numHeads);
    this.keyDim = positiveInt('keyDim', args.keyDim);
    this.valueDim = positiveInt('valueDim', args.valueDim ?? args.keyDim);
    this.useBias = args.useBias ?? true;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const [qShape, kShape, vShape] = splitShapes(inputShape as Shape | Shape[]);
    const { numHeads: h, keyDim: dk, valueDim: dv } = this;
    this.wq = this.weight('wq', [lastDim(qShape, this.name), h * dk], glorot());
    this.wk = this.weight('wk', [lastDim(kShape, this.name), h * dk], glorot());
    this.wv = this.weight('wv', [lastDim(vShape, this.name), h * dv], glorot());
    if (this.useBias) {
      this.bq = this.weight('bq', [h * dk], zeros());
      this.bk = this.weight('bk', [h * dk], zeros());
      this.bv = this.weight('bv', [h * dv], zeros());
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
    const [qShape, kShape] = splitShapes(inputShape as Shape | Shape[]);
    const h = this.numHeads;
    return [
      [qShape[0] ?? null, h, qShape[1] ?? null, this.keyDim],
      [kShape[0] ?? null, h, kShape[1] ?? null, this.keyDim],
      [kShape[0] ?? null, h, kShape[1] ?? null, this.valueDim],
    ];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor[] {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const query = list[0]!;
    const key = list[1] ?? query;
    const value = list[2] ?? key;
    const { q, k, v } = this.forward(query, key, value);
    return [q, k, v];
  }

  /** Project and split into heads; see the class comment for shapes. */
  forward(query: tf.Tensor, key: tf.Tensor = query, value: tf.Tensor = key): Projected {
    // Three matMuls: fusing them into one with [Wq | Wk | Wv] measured no faster on wasm (the
    // concatenation costs what the fusion saves), and separate matrices are easier to inspect.
    return tf.tidy(() => ({ q: this.projectQuery(query), ...this.projectKeyValue(key, value) }));
  }

  /** query (B, Tq, dq) → q (B, H, Tq, dk). */
  projectQuery(query: tf.Tensor): tf.Tensor {
    checkRank3(this.name, 'query', query);
    return tf.tidy(() => splitHeads(project(query, this.wq, this.bq), this.numHeads));
  }

  /** key (B, Tk, ·), value (B, Tk, ·) → k (B, H, Tk, dk), v (B, H, Tk, dv); cacheable during decoding. */
  projectKeyValue(key: tf.Tensor, value: tf.Tensor): { k: tf.Tensor; v: tf.Tensor } {
    checkRank3(this.name, 'key', key);
    checkRank3(this.name, 'value', value);
    return tf.tidy(() => ({
      k: splitHeads(project(key, this.wk, this.bk), this.numHeads),
      v: splitHeads(project(value, this.wv, this.bv), this.numHeads),
    }));
  }

  /**
   * The three projections before they are split into heads: q (B, Tq, H·dk), k (B, Tk, H·dk),
   * v (B, Tk, H·dv), the heads side by side — for attention computed by one kernel that splits
   * them itself (ops/attention.ts).
   */
  projectJoined(query: tf.Tensor, key: tf.Tensor, value: tf.Tensor): { q: tf.Tensor; k: tf.Tensor; v: tf.Tensor } {
    checkRank3(this.name, 'query', query);
    checkRank3(this.name, 'key', key);
    checkRank3(this.name, 'value', value);
    return tf.tidy(() => ({
      q: project(query, this.wq, this.bq),
      k: project(key, this.wk, this.bk),
      v: project(value, this.wv, this.bv),
    }));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      valueDim: this.valueDim,
      useBias: this.useBias,
    };
  }
}
tf.serialization.registerClass(QKVProjection);

/** x (B, T, in) · W (in, out) + b (out) → (B, T, out); no bias when the layer has none. */
export function project(x: tf.Tensor, w: LayerVariable, b: LayerVariable | undefined): tf.Tensor {
  return linear(x, w.read(), b?.read()); // (B, T, in)·(in, out) + b → (B, T, out), b the same for every position
}

/** (B, T, H·d) → (B, H, T, d) */
export function splitHeads(x: tf.Tensor, numHeads: number): tf.Tensor {
  const [b, t, hd] = x.shape as [number, number, number];
  const split = tf.reshape(x, [b, t, numHeads, hd / numHeads]); // (B, T, H, d)
  return tf.transpose(split, [0, 2, 1, 3]); // (B, H, T, d)
}

/** (B, H, T, d) → (B, T, H·d) */
export function mergeHeads(x: tf.Tensor): tf.Tensor {
  const [b, h, t, d] = x.shape as [number, number, number, number];
  const merged = tf.transpose(x, [0, 2, 1, 3]); // (B, T, H, d)
  return tf.reshape(merged, [b, t, h * d]); // (B, T, H·d)
}

function checkRank3(layer: string, name: string, t: tf.Tensor): void {
  if (t.rank !== 3) throw new ShapeError(`${layer}: ${name} must have shape (B, T, dim), got (${t.shape.join(', ')})`);
}

/** [query, key?, value?] shapes; key defaults to query and value to key. */
function splitShapes(shape: Shape | Shape[]): [Shape, Shape, Shape] {
  const list = Array.isArray(shape[0]) ? (shape as Shape[]) : [shape as Shape];
  const q = list[0]!;
  const k = list[1] ?? q;
  return [q, k, list[2] ?? k];
}

export function positiveInt(name: string, value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw new ConfigError(`${name} (${String(value)}) must be a positive integer`);
  }
  return value as number;
}
