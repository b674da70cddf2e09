import * as tf from '@tensorflow/tfjs';
import type { Activation, GeluApproximation, NormPlacement } from '../../config.js';
import { ShapeError } from '../../errors.js';
import type { WasmHeap } from './heap.js';

/**
 * One decoding step of a transformer decoder stack on the wasm backend, computed on the backend's
 * memory without the engine: the same arithmetic as the layers' `step` (embedding, positions, the
 * blocks with their key/value caches, final norm, output projection), for every row at once.
 *
 * Why: a cached step of a small model is ~100 kernels of a few hundred flops each, and the
 * engine's ~8 µs per kernel call is then nearly all of the time. Here a step is ~15 calls per
 * layer of the wasm kernels the engine uses (gemm.wat for every product, layer-norm.wat for the
 * norms) and a few JavaScript loops over the memory (biases, residuals, activation, softmax): at
 * batch 1 a step of the small bench model takes ~0.05 ms instead of ~0.6.
 *
 * The results agree with the engine's to float32 rounding (~1e-6): the products and norms are the
 * same kernels summing in the same order, while exp, tanh and erf come from JavaScript.
 *
 * The weights are read in place, their offsets looked up at every step (training moves them); the
 * key/value caches, (rows, H, capacity, dk) per layer, and the scratch space belong to the decoder,
 * are written in place, and grow when the rows or positions outgrow them.
 */

/** x (…, in) · kernel (in, out) + bias (out). */
export interface DirectLinear {
  kernel: tf.Tensor;
  bias?: tf.Tensor;
}

export interface DirectNorm {
  gamma: tf.Tensor;
  beta: tf.Tensor;
  epsilon: number;
}

/** One block's sublayers, each with the layer norm of its residual. */
export interface DirectBlock {
  /** Causal self-attention: queries, keys, values (d, H·dk) and the output projection (H·dk, d). */
  self: { norm: DirectNorm; query: DirectLinear; key: DirectLinear; value: DirectLinear; output: DirectLinear };
  /** Cross-attention to the encoder output, whose keys and values (B, H, Ts, dk) were projected once. */
  cross?: { norm: DirectNorm; query: DirectLinear; output: DirectLinear; keys: tf.Tensor; values: tf.Tensor };
  feedForward: { norm: DirectNorm; inner: DirectLinear; outer: DirectLinear };
}

export interface DirectStack {
  dModel: number;
  numHeads: number;
  dFF: number;
  maxLen: number;
  vocabSize: number;
  activation: Activation;
  geluApproximation: GeluApproximation;
  normPlacement: NormPlacement;
  /** Token table (V, d); its rows are multiplied by √d when `scaleEmbeddings`. */
  embedding: tf.Tensor;
  scaleEmbeddings: boolean;
  /** Position vectors (maxLen, d). */
  positions: tf.Tensor;
  embeddingNorm?: DirectNorm;
  blocks: DirectBlock[];
  finalNorm?: DirectNorm;
  /** The output projection (d, V), or with `transposed` the token table (V, d) (tied embeddings). */
  output: { kernel: tf.Tensor; transposed: boolean; bias?: tf.Tensor };
  /** With cross-attention: 1 where a source position (B, Ts) holds a real token, 0 at padding. */
  memoryMask?: { values: Uint8Array; length: number };
}

export interface DirectStepResult {
  /** (B, V) */
  logits: tf.Tensor2D;
  /** Per layer, the new position's self-attention (B, H, 1, t) and cross-attention (B, H, 1, Ts) weights, when asked for. */
  self?: tf.Tensor[];
  cross?: tf.Tensor[];
}

let enabled = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.ATENCAO_DIRECT_DECODING !== '0';

/**
 * Whether generation on the wasm backend decodes with `DirectDecoder` where the model allows it
 * (the default; ATENCAO_DIRECT_DECODING=0 in the environment turns it off) or always through the
 * engine. Returns the previous setting.
 */
export function setDirectDecoding(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

export function directDecodingEnabled(): boolean {
  return enabled;
}

/** Positions a new cache holds before it first grows (it doubles, up to maxLen). */
const FIRST_CAPACITY = 32;

export class DirectDecoder {
  private readonly d: number;
  private readonly heads: number;
  private readonly dk: number;
  private readonly layers: number;
  /** Rows now, and the rows and positions the caches and scratch have room for. */
  private count: number;
  private rowsCap = 0;
  private cap = 0;
  /** Positions cached so far. */
  private filled = 0;
  /** [layer][keys | values][row][head][position][dk] */
  private cache: tf.Tensor | null = null;
  /** A second cache of the same size, for reordering rows (select) without allocating. */
  private spare: tf.Tensor | null = null;
  private scratch: tf.Tensor | null = null;
  private layout!: ScratchLayout;
  /** The row of the encoder output (cross keys/values, source mask) each row reads. */
  private sourceRows: Int32Array;
  private readonly sourceLength: number;
  /** The output projection as (d, V), copied once when the weights are tied. */
  private readonly outputKernel: tf.Tensor;
  private readonly ownsOutputKernel: boolean;
  private disposed = false;

  /** `owned`: tensors of the description (e.g. a position table, the cross keys/values) to free with the decoder. */
  constructor(
    private readonly heap: WasmHeap,
    private readonly stack: DirectStack,
    rows: number,
    private readonly owned: readonly tf.Tensor[] = [],
  ) {
    checkStack(stack, rows);
    for (const t of owned) tf.keep(t);
    this.d = stack.dModel;
    this.heads = stack.numHeads;
    this.dk = stack.dModel / stack.numHeads;
    this.layers = stack.blocks.length;
    this.count = rows;
    this.sourceRows = Int32Array.from({ length: rows }, (_, i) => i);
    this.sourceLength = stack.memoryMask?.length ?? 0;
    this.ownsOutputKernel = stack.output.transposed;
    this.outputKernel = stack.output.transposed ? tf.keep(tf.transpose(stack.output.kernel)) : stack.output.kernel; // (d, V)
    this.reserve(rows, Math.min(stack.maxLen, FIRST_CAPACITY));
  }

  get rows(): number {
    return this.count;
  }

  /** Positions cached so far: the position the next step decodes. */
  get length(): number {
    return this.filled;
  }

  /** Take over the keys/values of positions already run by the engine: per layer k, v (B, H, T, dk). */
  load(caches: readonly { k: tf.Tensor; v: tf.Tensor }[]): void {
    const t = caches[0]?.k.shape[2] ?? 0;
    if (caches.length !== this.layers || caches.some((c) => c.k.shape[0] !== this.count || c.k.shape[2] !== t || c.v.shape[2] !== t)) {
      throw new ShapeError(`load needs ${this.layers} caches of ${this.count} rows and one length`);
    }
    this.reserve(this.count, t + 1);
    const f = this.heap.f32;
    const block = t * this.dk;
    caches.forEach((c, l) => {
      [c.k, c.v].forEach((source, kv) => {
        const from = this.heap.offset(source) >> 2;
        for (let r = 0; r < this.count; r++) {
          for (let h = 0; h < this.heads; h++) {
            const at = from + (r * this.heads + h) * block;
            f.copyWithin(this.cacheAt(l, kv, r, h), at, at + block);
          }
        }
      });
    });
    this.filled = t;
  }

  /** Feed one token per row at the next position: the next-token logits (rows, V). */
  step(tokens: readonly number[], returnAttention = false): DirectStepResult {
    this.checkLive();
    const { stack, heap, d, heads } = this;
    const rows = this.count;
    const p = this.filled;
    if (tokens.length !== rows) throw new ShapeError(`step needs ${rows} tokens, got ${tokens.length}`);
    if (p >= stack.maxLen) throw new ShapeError(`cannot decode past maxLen (${stack.maxLen})`);
    for (const id of tokens) {
      if (!Number.isInteger(id) || id < 0 || id >= stack.vocabSize) throw new ShapeError(`token id ${id} is outside the vocabulary (0 … ${stack.vocabSize - 1})`);
    }
    this.reserve(rows, p + 1);
    const logits = heap.allocate([rows, stack.vocabSize]); // the last allocation of the step: views taken below stay valid
    const selfWeights: Float32Array[] = [];
    const crossWeights: Float32Array[] = [];
    const s = this.layout;
    this.embed(tokens, p);
    if (stack.embeddingNorm) this.norm(stack.embeddingNorm, s.h, s.h, rows); // in place: the kernel reads each value before writing it
    stack.blocks.forEach((block, l) => {
      this.residual(block.self.norm, block.self.output.bias, rows, (x) => {
        this.selfAttention(block.self, l, x, p, rows);
        if (returnAttention) selfWeights.push(heap.f32.slice(s.scores >> 2, (s.scores >> 2) + rows * heads * (p + 1)));
      });
      if (block.cross) {
        const cross = block.cross;
        this.residual(cross.norm, cross.output.bias, rows, (x) => {
          this.crossAttention(cross, x, rows);
          if (returnAttention) crossWeights.push(heap.f32.slice(s.scores >> 2, (s.scores >> 2) + rows * heads * this.sourceLength));
        });
      }
      this.residual(block.feedForward.norm, block.feedForward.outer.bias, rows, (x) => this.feedForward(block.feedForward, x, rows));
    });
    let last = s.h;
    if (stack.finalNorm) {
      this.norm(stack.finalNorm, s.h, s.n, rows);
      last = s.n;
    }
    const out = heap.offset(logits);
    heap.matMul(last, heap.offset(this.outputKernel), out, rows, d, stack.vocabSize); // (B, d)·(d, V)
    if (stack.output.bias) this.addBias(out, stack.output.bias, rows, stack.vocabSize);
    this.filled = p + 1;
    if (!returnAttention) return { logits: logits as tf.Tensor2D };
    const shaped = (values: Float32Array, keys: number) => tf.tensor4d(values, [rows, heads, 1, keys]);
    return {
      logits: logits as tf.Tensor2D,
      self: selfWeights.map((w) => shaped(w, p + 1)),
      ...(stack.memoryMask ? { cross: crossWeights.map((w) => shaped(w, this.sourceLength)) } : {}),
    };
  }

  /** Keep rows `rows` (indices of the current rows, repeats allowed), in that order. */
  select(rows: readonly number[]): void {
    this.checkLive();
    for (const r of rows) {
      if (!Number.isInteger(r) || r < 0 || r >= this.count) throw new ShapeError(`select: row ${r} is not one of the ${this.count} rows`);
    }
    this.sourceRows = Int32Array.from(rows, (r) => this.sourceRows[r]!);
    this.relayout(rows, Math.max(this.rowsCap, rows.length), this.cap);
    this.count = rows.length;
    this.fitScratch();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose([this.cache, this.spare, this.scratch].filter((t): t is tf.Tensor => t !== null));
    if (this.ownsOutputKernel) this.outputKernel.dispose();
    tf.dispose([...this.owned]);
    this.cache = this.spare = this.scratch = null;
  }

  private checkLive(): void {
    if (this.disposed) throw new Error('the decoder has been disposed');
    if (!this.heap.current) throw new Error('the backend changed while decoding: the decoder works on the wasm backend it started on');
  }

  /** Float index in the heap of cache (layer l, keys 0 | values 1, row r, head h, position 0). */
  private cacheAt(l: number, kv: number, r: number, h: number, rowsCap = this.rowsCap, cap = this.cap, base = this.heap.offset(this.cache!) >> 2): number {
    return base + (((l * 2 + kv) * rowsCap + r) * this.heads + h) * cap * this.dk;
  }

  /** Room for `rows` rows and `positions` positions: the caches grow (positions double, up to maxLen), then the scratch. */
  private reserve(rows: number, positions: number): void {
    if (rows > this.rowsCap || positions > this.cap || this.cache === null) {
      const cap = positions <= this.cap ? this.cap : Math.min(this.stack.maxLen, Math.max(positions, this.cap * 2));
      this.relayout(null, Math.max(rows, this.rowsCap), cap);
    }
    this.fitScratch();
  }

  /** Scratch for as many rows and keys as the cache holds. */
  private fitScratch(): void {
    const keys = Math.max(this.cap, this.sourceLength);
    if (this.scratch !== null && this.layout.rows === this.rowsCap && this.layout.keys === keys) return;
    this.scratch?.dispose();
    const layout = scratchLayout(this.rowsCap, this.d, this.heads, this.stack.dFF, keys);
    this.scratch = tf.keep(this.heap.allocate([layout.size]));
    this.layout = layout.at(this.heap.offset(this.scratch));
  }

  /**
   * Copy the cached positions of rows `from` (all rows in order when null) into a cache of
   * `rowsCap` rows and `cap` positions, which then becomes the cache.
   */
  private relayout(from: readonly number[] | null, rowsCap: number, cap: number): void {
    const same = rowsCap === this.rowsCap && cap === this.cap;
    const size = this.layers * 2 * rowsCap * this.heads * cap * this.dk;
    let target: tf.Tensor;
    if (same && this.spare !== null) target = this.spare;
    else target = tf.keep(this.heap.allocate([Math.max(size, 1)]));
    const rows = from === null ? this.count : from.length;
    if (this.cache !== null && this.filled > 0) {
      const f = this.heap.f32;
      const source = this.heap.offset(this.cache) >> 2;
      const dest = this.heap.offset(target) >> 2;
      // A row's heads as one block when that copies little more than their filled positions; otherwise head by head.
      const [span, blocks] = cap === this.cap && 2 * this.filled >= cap ? [this.heads * cap * this.dk, 1] : [this.filled * this.dk, this.heads];
      for (let l = 0; l < this.layers; l++) {
        for (let kv = 0; kv < 2; kv++) {
          for (let i = 0; i < rows; i++) {
            const r = from === null ? i : from[i]!;
            for (let h = 0; h < blocks; h++) {
              const at = this.cacheAt(l, kv, r, h, this.rowsCap, this.cap, source);
              f.copyWithin(this.cacheAt(l, kv, i, h, rowsCap, cap, dest), at, at + span);
            }
          }
        }
      }
    }
    if (same) {
      this.spare = this.cache;
    } else {
      tf.dispose([this.cache, this.spare].filter((t): t is tf.Tensor => t !== null));
      this.spare = null;
    }
    this.cache = target;
    this.rowsCap = rowsCap;
    this.cap = cap;
  }

  /** h (rows, d) = the token vectors (× √d when scaled) plus position p's vector. */
  private embed(tokens: readonly number[], p: number): void {
    const { heap, d, stack } = this;
    const f = heap.f32;
    const table = heap.offset(stack.embedding) >> 2;
    const position = (heap.offset(stack.positions) >> 2) + p * d;
    const h = this.layout.h >> 2;
    // The scale rounded to float32 and the product rounded before the sum, as the engine computes them.
    const scale = Math.fround(Math.sqrt(d));
    tokens.forEach((id, r) => {
      const row = table + id * d;
      const out = h + r * d;
      if (stack.scaleEmbeddings) for (let i = 0; i < d; i++) f[out + i] = Math.fround(f[row + i]! * scale) + f[position + i]!;
      else for (let i = 0; i < d; i++) f[out + i] = f[row + i]! + f[position + i]!;
    });
  }

  /**
   * The residual around a sublayer, on h: pre-norm h + sublayer(norm(h)), post-norm
   * norm(h + sublayer(h)). The sublayer reads its input at the offset it is given and leaves its
   * output in o without its last bias, which is added here in the same pass (rounded before the
   * sum, as the engine's two adds round).
   */
  private residual(norm: DirectNorm, bias: tf.Tensor | undefined, rows: number, sublayer: (input: number) => void): void {
    const { h, n, o } = this.layout;
    const pre = this.stack.normPlacement === 'pre';
    if (pre) this.norm(norm, h, n, rows);
    sublayer(pre ? n : h);
    const f = this.heap.f32;
    const d = this.d;
    const b = bias ? this.heap.offset(bias) >> 2 : -1;
    const [hi, oi] = [h >> 2, o >> 2];
    const to = pre ? hi : n >> 2;
    for (let r = 0; r < rows; r++) {
      const at = r * d;
      if (b < 0) for (let j = 0; j < d; j++) f[to + at + j] = f[hi + at + j]! + f[oi + at + j]!;
      else for (let j = 0; j < d; j++) f[to + at + j] = f[hi + at + j]! + Math.fround(f[oi + at + j]! + f[b + j]!);
    }
    if (!pre) this.norm(norm, n, h, rows);
  }

  private norm(norm: DirectNorm, x: number, y: number, rows: number): void {
    const { heap, layout } = this;
    heap.layerNorm(x, heap.offset(norm.gamma), heap.offset(norm.beta), y, layout.xhat, layout.rstd, rows, this.d, norm.epsilon);
  }

  /** y (rows, out) = x (rows, in) · kernel, + bias unless the caller adds it in a later pass. */
  private linear(linear: DirectLinear, x: number, y: number, rows: number, inputs: number, outputs: number, withBias = true): void {
    this.heap.matMul(x, this.heap.offset(linear.kernel), y, rows, inputs, outputs);
    if (withBias && linear.bias) this.addBias(y, linear.bias, rows, outputs);
  }

  private addBias(y: number, bias: tf.Tensor, rows: number, width: number): void {
    const f = this.heap.f32;
    const b = this.heap.offset(bias) >> 2;
    let at = y >> 2;
    for (let r = 0; r < rows; r++, at += width) for (let j = 0; j < width; j++) f[at + j] = f[at + j]! + f[b + j]!;
  }

  /** Causal self-attention of position p to positions 0 … p: its keys/values join the cache first. */
  private selfAttention(self: DirectBlock['self'], l: number, x: number, p: number, rows: number): void {
    const { heap, d, dk, heads, cap, layout: s } = this;
    this.linear(self.query, x, s.q, rows, d, d);
    this.linear(self.key, x, s.k, rows, d, d, false);
    this.linear(self.value, x, s.v, rows, d, d, false);
    // The new keys and values, their biases added, go to position p of each (row, head) in the cache.
    const f = heap.f32;
    const base = heap.offset(this.cache!) >> 2;
    for (const [kv, from, bias] of [[0, s.k >> 2, self.key.bias], [1, s.v >> 2, self.value.bias]] as const) {
      const b = bias ? heap.offset(bias) >> 2 : -1;
      for (let r = 0; r < rows; r++) {
        for (let h = 0; h < heads; h++) {
          const src = from + r * d + h * dk; // (B, H·dk) rows split into heads
          const dst = this.cacheAt(l, kv, r, h, this.rowsCap, cap, base) + p * dk;
          if (b < 0) for (let i = 0; i < dk; i++) f[dst + i] = f[src + i]!;
          else for (let i = 0; i < dk; i++) f[dst + i] = f[src + i]! + f[b + h * dk + i]!;
        }
      }
    }
    const keys = this.cacheAt(l, 0, 0, 0, this.rowsCap, cap, base) * 4;
    const values = this.cacheAt(l, 1, 0, 0, this.rowsCap, cap, base) * 4;
    this.attend(keys, values, cap * dk * 4, 0, rows, p + 1, null);
    this.linear(self.output, s.att, s.o, rows, d, d, false);
  }

  /** Attention of each row's query to its source's cached encoder keys/values, padding excluded. */
  private crossAttention(cross: NonNullable<DirectBlock['cross']>, x: number, rows: number): void {
    const { heap, d, dk, heads, sourceLength: ts, layout: s } = this;
    this.linear(cross.query, x, s.q, rows, d, d);
    const keys = heap.offset(cross.keys);
    const values = heap.offset(cross.values);
    const block = heads * ts * dk * 4; // one source row of (B, H, Ts, dk)
    // Rows reading consecutive source rows go in one call (all of them, until beam search reorders).
    for (let start = 0; start < rows; ) {
      let end = start + 1;
      while (end < rows && this.sourceRows[end] === this.sourceRows[end - 1]! + 1) end++;
      const source = this.sourceRows[start]!;
      this.attend(keys + source * block, values + source * block, ts * dk * 4, start, end - start, ts, this.stack.memoryMask!.values);
      start = end;
    }
    this.linear(cross.output, s.att, s.o, rows, d, d, false);
  }

  /**
   * softmax(q·kᵀ/√dk)·v for rows first … first + rows − 1, every head, over t keys: queries in q,
   * scores and weights in scores, outputs in att. Keys and values of (row, head) pairs follow one
   * another `stride` bytes apart from `keys` and `values` (a cache's layout). With `mask`, the
   * keys of a row's source that are padding get weight 0.
   */
  private attend(keys: number, values: number, stride: number, first: number, rows: number, t: number, mask: Uint8Array | null): void {
    const { heap, d, dk, heads, layout: s } = this;
    const pairs = rows * heads;
    const scores = s.scores + first * heads * t * 4;
    // scores (pairs, t, 1) = K (pairs, t, dk) · q (pairs, dk, 1)
    heap.batchMatMul(keys, s.q + first * d * 4, scores, pairs, t, dk, 1, dk * 4, stride, dk * 4);
    const f = heap.f32;
    const scale = Math.fround(1 / Math.sqrt(dk));
    for (let pair = 0; pair < pairs; pair++) {
      const at = (scores >> 2) + pair * t;
      const end = at + t;
      // softmax(scale·s) = exp(scale·(s − max s)) / Σ: the scale (> 0) applied inside the exponent.
      let max = -Infinity;
      if (mask === null) {
        for (let j = at; j < end; j++) if (f[j]! > max) max = f[j]!;
      } else {
        const m = this.sourceRows[first + Math.floor(pair / heads)]! * t - at;
        for (let j = at; j < end; j++) {
          if (mask[m + j] === 0) f[j] = -Infinity;
          else if (f[j]! > max) max = f[j]!;
        }
      }
      // A row whose every key is padding attends to nothing (zeros), as in the layers.
      if (max === -Infinity) {
        f.fill(0, at, end);
        continue;
      }
      let sum = 0;
      for (let j = at; j < end; j++) sum += f[j] = Math.exp((f[j]! - max) * scale);
      const inverse = 1 / sum;
      for (let j = at; j < end; j++) f[j] = f[j]! * inverse;
    }
    // att (pairs, 1, dk) = weights (pairs, 1, t) · V (pairs, t, dk): heads side by side in (rows, d)
    heap.batchMatMul(scores, values, s.att + first * d * 4, pairs, 1, t, dk, t * 4, t * 4, stride);
  }

  private feedForward(ff: DirectBlock['feedForward'], x: number, rows: number): void {
    const { heap, d, layout: s } = this;
    const width = this.stack.dFF;
    heap.matMul(x, heap.offset(ff.inner.kernel), s.f, rows, d, width);
    const bias = ff.inner.bias ? heap.offset(ff.inner.bias) >> 2 : -1;
    activate(heap.f32, s.f >> 2, rows, width, bias, this.stack.activation, this.stack.geluApproximation);
    this.linear(ff.outer, s.f, s.o, rows, width, d, false);
  }
}

/** The shapes the decoder relies on, checked once. */
function checkStack(stack: DirectStack, rows: number): void {
  const { dModel: d, numHeads: heads, dFF, maxLen, vocabSize: vocab } = stack;
  const shape = (t: tf.Tensor) => `(${t.shape.join(', ')})`;
  const expect = (t: tf.Tensor, dims: number[], what: string) => {
    if (t.dtype !== 'float32' || t.shape.length !== dims.length || t.shape.some((n, i) => n !== dims[i])) {
      throw new ShapeError(`${what} must be float32 (${dims.join(', ')}), got ${t.dtype} ${shape(t)}`);
    }
  };
  // The layer-norm kernel reads rows 4 floats at a time.
  if (d % heads !== 0 || d % 4 !== 0) throw new ShapeError(`dModel (${d}) must be a multiple of 4 and of numHeads (${heads})`);
  const linear = (l: DirectLinear, inputs: number, outputs: number, what: string) => {
    expect(l.kernel, [inputs, outputs], `${what} kernel`);
    if (l.bias) expect(l.bias, [outputs], `${what} bias`);
  };
  const norm = (n: DirectNorm, what: string) => {
    expect(n.gamma, [d], `${what} γ`);
    expect(n.beta, [d], `${what} β`);
  };
  expect(stack.embedding, [vocab, d], 'the token table');
  expect(stack.positions, [maxLen, d], 'the position table');
  if (stack.embeddingNorm) norm(stack.embeddingNorm, 'the embedding norm');
  if (stack.finalNorm) norm(stack.finalNorm, 'the final norm');
  if (stack.output.transposed) expect(stack.output.kernel, [vocab, d], 'the tied output table');
  else linear(stack.output, d, vocab, 'the output projection');
  const ts = stack.memoryMask?.length ?? 0;
  if (stack.memoryMask && stack.memoryMask.values.length !== rows * ts) throw new ShapeError(`the source mask must have ${rows} × ${ts} values, got ${stack.memoryMask.values.length}`);
  stack.blocks.forEach((b, l) => {
    const what = `layer ${l}`;
    norm(b.self.norm, `${what} self-attention norm`);
    for (const [name, lin] of [['query', b.self.query], ['key', b.self.key], ['value', b.self.value], ['output', b.self.output]] as const) linear(lin, d, d, `${what} self-attention ${name}`);
    if ((b.cross === undefined) !== (stack.memoryMask === undefined)) throw new ShapeError(`${what}: cross-attention needs the source mask, and the mask cross-attention`);
    if (b.cross) {
      norm(b.cross.norm, `${what} cross-attention norm`);
      linear(b.cross.query, d, d, `${what} cross-attention query`);
      linear(b.cross.output, d, d, `${what} cross-attention output`);
      expect(b.cross.keys, [rows, heads, ts, d / heads], `${what} cross-attention keys`);
      expect(b.cross.values, [rows, heads, ts, d / heads], `${what} cross-attention values`);
    }
    norm(b.feedForward.norm, `${what} feed-forward norm`);
    linear(b.feedForward.inner, d, dFF, `${what} feed-forward inner`);
    linear(b.feedForward.outer, dFF, d, `${what} feed-forward outer`);
  });
}

interface ScratchLayout {
  /** Rows and keys (per row and head) it has room for. */
  rows: number;
  keys: number;
  /** Byte offsets: the hidden state h, normed n, q, k, v, attention output att, sublayer output o (rows, d) each; f (rows, dFF); the layer norm's x̂ (rows, d) and r (rows); scores (rows, H, keys). */
  h: number;
  n: number;
  q: number;
  k: number;
  v: number;
  att: number;
  o: number;
  xhat: number;
  rstd: number;
  f: number;
  scores: number;
  /** Floats in all. */
  size: number;
  /** The same layout starting at byte `base`. */
  at(base: number): ScratchLayout;
}

function scratchLayout(rows: number, d: number, heads: number, dFF: number, keys: number): ScratchLayout {
  const sizes = { h: rows * d, n: rows * d, q: rows * d, k: rows * d, v: rows * d, att: rows * d, o: rows * d, xhat: rows * d, rstd: rows, f: rows * dFF, scores: rows * heads * keys };
  const make = (base: number): ScratchLayout => {
    let next = base;
    const offsets = {} as Record<keyof typeof sizes, number>;
    for (const [name, n] of Object.entries(sizes) as [keyof typeof sizes, number][]) {
      offsets[name] = next;
      next += n * 4;
    }
    return { ...offsets, rows, keys, size: (next - base) / 4, at: make };
  };
  return make(0);
}

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * The feed-forward non-linearity, as the layers define it, in place on rows × width floats from
 * index `at`, after adding the bias at index `bias` (none when negative) rounded to float32.
 */
function activate(f: Float32Array, at: number, rows: number, width: number, bias: number, kind: Activation, approximation: GeluApproximation): void {
  for (let r = 0; r < rows; r++, at += width) {
    if (bias >= 0) for (let j = 0; j < width; j++) f[at + j] = f[at + j]! + f[bias + j]!;
    const end = at + width;
    if (kind === 'relu') {
      for (let i = at; i < end; i++) if (!(f[i]! > 0)) f[i] = 0;
    } else if (approximation === 'tanh') {
      for (let i = at; i < end; i++) {
        const x = f[i]!;
        f[i] = 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x)));
      }
    } else {
      for (let i = at; i < end; i++) {
        const x = f[i]!;
        f[i] = 0.5 * x * (1 + erf(x * Math.SQRT1_2));
      }
    }
  }
}

/** The error function to ~1e-7 relative (Numerical Recipes' Chebyshev fit of erfc). */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const tail =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - tail : tail - 1;
}
