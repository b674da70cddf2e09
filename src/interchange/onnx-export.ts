import { option, type ModelConfig } from '../config.js';
import { sinusoidTable } from '../layers/positional-encoding.js';
import type { Model } from '../model/model.js';
import { encodeModel, FLOAT, INT64, type AttributeValue, type OnnxGraph, type OnnxInitializer, type OnnxValueInfo } from './onnx-proto.js';

/** The ONNX operator set the graphs use (17: the first with LayerNormalization). */
export const OPSET = 17;

/** One exported graph: what it is for, and its bytes. */
export interface OnnxPart {
  /** 'model' (the full forward pass), 'encoder', 'decoder-step' (one or more new positions with a key/value cache). */
  role: 'model' | 'encoder' | 'decoder-step';
  bytes: Uint8Array;
  inputs: string[];
  outputs: string[];
}

const BLOCKED = -1e9;

/**
 * Export a model as ONNX graphs that compute what atencao computes (inference, no dropout):
 * - every family: 'model', ids → logits (B, T, V) (an encoder with classes also gives
 *   class_logits (B, C));
 * - decoder: 'decoder-step', input_ids (B, Tn) and per layer past_key_i / past_value_i
 *   (B, H, t, dk) → logits (B, Tn, V) and present_key_i / present_value_i (B, H, t + Tn, dk);
 *   positions start at t, so feeding the prompt with empty pasts and then one token per step
 *   generates like atencao's cached generation;
 * - encoder–decoder: 'encoder', source_ids → memory (B, Ts, d), and 'decoder-step',
 *   target_ids (B, Tn), source_ids (for its padding mask), memory and the self-attention pasts →
 *   logits and presents.
 */
export async function exportOnnx(model: Model): Promise<OnnxPart[]> {
  const weights = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [path, v] of model.namedWeights()) weights.set(path, { shape: v.shape as number[], values: (await v.read().data()) as Float32Array });
  const c = model.config;
  const parts: OnnxGraph[] = [];
  const roles: OnnxPart['role'][] = [];
  if (c.arch === 'decoder') {
    parts.push(decoderGraph(c, weights, false), decoderGraph(c, weights, true));
    roles.push('model', 'decoder-step');
  } else if (c.arch === 'encoder') {
    parts.push(encoderOnlyGraph(c, weights));
    roles.push('model');
  } else {
    parts.push(seq2seqGraph(c, weights, 'model'), seq2seqGraph(c, weights, 'encoder'), seq2seqGraph(c, weights, 'decoder-step'));
    roles.push('model', 'encoder', 'decoder-step');
  }
  return parts.map((g, i) => ({
    role: roles[i]!,
    bytes: encodeModel(g, OPSET, { name: 'atencao', version: '1' }, `atencao ${c.arch} (${roles[i]})`),
    inputs: g.inputs.map((v) => v.name),
    outputs: g.outputs.map((v) => v.name),
  }));
}

type Weights = Map<string, { shape: number[]; values: Float32Array }>;

/** Builds one graph: initializers from the model's weights (each added once), nodes with fresh names. */
class Graph {
  readonly nodes: OnnxGraph['nodes'] = [];
  readonly initializers: OnnxInitializer[] = [];
  private readonly added = new Set<string>();
  private count = 0;

  constructor(
    private readonly weights: Weights,
    readonly config: ModelConfig,
  ) {}

  /** A model weight by its atencao path, as an initializer of the same name. */
  w(path: string): string {
    if (!this.added.has(path)) {
      const t = this.weights.get(path);
      if (t === undefined) throw new Error(`no weight '${path}'`);
      this.initializers.push({ name: path, dims: t.shape, type: FLOAT, data: t.values });
      this.added.add(path);
    }
    return path;
  }

  floats(values: number[] | Float32Array, dims: number[]): string {
    const name = `const_${this.count++}`;
    this.initializers.push({ name, dims, type: FLOAT, data: Float32Array.from(values) });
    return name;
  }

  ints(values: number[], dims: number[] = [values.length]): string {
    const name = `const_${this.count++}`;
    this.initializers.push({ name, dims, type: INT64, data: BigInt64Array.from(values.map(BigInt)) });
    return name;
  }

  op(type: string, inputs: string[], attributes?: Record<string, AttributeValue>): string {
    const out = `${type.toLowerCase()}_${this.count++}`;
    this.nodes.push({ op: type, inputs, outputs: [out], attributes });
    return out;
  }

  /** Rename a value (an Identity node), for the graph's named outputs. */
  output(value: string, name: string): void {
    this.nodes.push({ op: 'Identity', inputs: [value], outputs: [name] });
  }

  linear(x: string, kernel: string, bias?: string): string {
    const y = this.op('MatMul', [x, this.w(kernel)]); // (…, in)·(in, out)
    return bias === undefined ? y : this.op('Add', [y, this.w(bias)]);
  }

  layerNorm(x: string, path: string): string {
    return this.op('LayerNormalization', [x, this.w(`${path}/gamma`), this.w(`${path}/beta`)], { axis: -1, epsilon: { float: option(this.config, 'layerNormEpsilon') } });
  }

  activation(x: string): string {
    if (this.config.activation === 'relu') return this.op('Relu', [x]);
    const half = this.op('Mul', [x, this.floats([0.5], [])]);
    if (option(this.config, 'geluApproximation') === 'none') {
      // 0.5·x·(1 + erf(x/√2))
      return this.op('Mul', [half, this.op('Add', [this.op('Erf', [this.op('Mul', [x, this.floats([Math.SQRT1_2], [])])]), this.floats([1], [])])]);
    }
    // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
    const cube = this.op('Mul', [this.op('Mul', [x, x]), x]);
    const inner = this.op('Mul', [this.op('Add', [x, this.op('Mul', [cube, this.floats([0.044715], [])])]), this.floats([Math.sqrt(2 / Math.PI)], [])]);
    return this.op('Mul', [half, this.op('Add', [this.op('Tanh', [inner]), this.floats([1], [])])]);
  }

  /** Dimension `axis` of a value's shape, as an int64 tensor of shape (1). */
  dim(x: string, axis: number): string {
    return this.op('Shape', [x], { start: axis, end: axis + 1 });
  }

  scalar(oneElement: string): string {
    return this.op('Squeeze', [oneElement, this.ints([0])]);
  }

  /** (B, T, H·dk) → (B, H, T, dk) */
  splitHeads(x: string): string {
    const h = this.config.numHeads;
    const reshaped = this.op('Reshape', [x, this.ints([0, 0, h, this.config.dModel / h])]); // (B, T, H, dk)
    return this.op('Transpose', [reshaped], { perm: [0, 2, 1, 3] });
  }

  /** (B, H, T, dk) → (B, T, H·dk) */
  mergeHeads(x: string): string {
    const t = this.op('Transpose', [x], { perm: [0, 2, 1, 3] }); // (B, T, H, dk)
    return this.op('Reshape', [t, this.ints([0, 0, this.config.dModel])]);
  }

  /** Float keep-mask of the non-padding ids (B, T) → (B, 1, 1, T). */
  paddingKeep(ids: string): string {
    const pad = this.ints([this.config.padId], []);
    const keep = this.op('Cast', [this.op('Not', [this.op('Equal', [ids, pad])])], { to: FLOAT });
    return this.op('Unsqueeze', [keep, this.ints([1, 2])]);
  }

  /** Float keep-mask (Tq, Tk): query i (at position offset + i) sees keys 0 … offset + i. */
  causalKeep(tq: string, tk: string, offset: string): string {
    const rows = this.op('Unsqueeze', [this.op('Add', [this.op('Range', [this.ints([0], []), tq, this.ints([1], [])]), offset]), this.ints([1])]); // (Tq, 1)
    const cols = this.op('Range', [this.ints([0], []), tk, this.ints([1], [])]); // (Tk)
    return this.op('Cast', [this.op('LessOrEqual', [cols, rows])], { to: FLOAT });
  }

  /**
   * Multi-head attention of `path`: queries from x, keys/values from `source` (projected here) or
   * given already split into heads (a cache). Returns the output (B, Tq, d) and k, v (B, H, Tk, dk).
   */
  attention(path: string, x: string, source: string, keep: string | undefined, past?: { k: string; v: string }): { out: string; k: string; v: string } {
    const p = `${path}/projection`;
    const q = this.splitHeads(this.linear(x, `${p}/wq`, `${p}/bq`));
    let k = this.splitHeads(this.linear(source, `${p}/wk`, `${p}/bk`));
    let v = this.splitHeads(this.linear(source, `${p}/wv`, `${p}/bv`));
    if (past) {
      k = this.op('Concat', [past.k, k], { axis: 2 }); // (B, H, t + Tn, dk)
      v = this.op('Concat', [past.v, v], { axis: 2 });
    }
    const dk = this.config.dModel / this.config.numHeads;
    let scores = this.op('Mul', [this.op('MatMul', [q, this.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), this.floats([1 / Math.sqrt(dk)], [])]); // (B, H, Tq, Tk)
    if (keep) scores = this.op('Add', [scores, this.op('Mul', [this.op('Sub', [this.floats([1], []), keep]), this.floats([BLOCKED], [])])]);
    let weights = this.op('Softmax', [scores], { axis: -1 });
    if (keep) weights = this.op('Mul', [weights, keep]);
    const merged = this.mergeHeads(this.op('MatMul', [weights, v]));
    return { out: this.linear(merged, `${path}/wo`, `${path}/bo`), k, v };
  }

  feedForward(path: string, x: string): string {
    return this.linear(this.activation(this.linear(x, `${path}/w1`, `${path}/b1`)), `${path}/w2`, `${path}/b2`);
  }

  /** The residual wiring of every sublayer: pre-norm x + f(norm(x)), post-norm norm(x + f(x)). */
  residual(x: string, norm: string, sublayer: (n: string) => string): string {
    if (this.config.normPlacement === 'pre') return this.op('Add', [x, sublayer(this.layerNorm(x, norm))]);
    return this.layerNorm(this.op('Add', [x, sublayer(x)]), norm);
  }

  /** Token embedding (× √d unless told otherwise) + positions offset … offset + T − 1 (+ embedding norm). */
  embed(stack: string, ids: string, offset: string): string {
    const c = this.config;
    let x = this.op('Gather', [this.w(`${stack}/embedding/table`), ids], { axis: 0 }); // (B, T, d)
    if (option(c, 'scaleEmbeddings')) x = this.op('Mul', [x, this.floats([Math.sqrt(c.dModel)], [])]);
    const table = c.positionalEncoding === 'learned' ? this.w(`${stack}/positions/positions`) : this.floats(sinusoidTable(c.maxLen, c.dModel), [c.maxLen, c.dModel]);
    const end = this.op('Add', [offset, this.dim(ids, 1)]);
    x = this.op('Add', [x, this.op('Slice', [table, offset, end, this.ints([0])])]); // + (T, d)
    return option(c, 'embeddingNorm') ? this.layerNorm(x, `${stack}/embedding_norm`) : x;
  }

  finish(stack: string, h: string): string {
    return this.config.normPlacement === 'pre' ? this.layerNorm(h, `${stack}/final_norm`) : h;
  }

  /** Hidden (B, T, d) → logits (B, T, V) with the output kernel, or the tied embedding of `stack`. */
  project(h: string, stack: string): string {
    const logits = this.config.tieEmbeddings ? this.op('MatMul', [h, this.op('Transpose', [this.w(`${stack}/embedding/table`)], { perm: [1, 0] })]) : this.op('MatMul', [h, this.w('output_kernel')]);
    return this.op('Add', [logits, this.w('output_bias')]);
  }

  build(name: string, inputs: OnnxValueInfo[], outputs: OnnxValueInfo[]): OnnxGraph {
    return { name, nodes: this.nodes, initializers: this.initializers, inputs, outputs };
  }
}

const ids = (name: string, length = 'sequence'): OnnxValueInfo => ({ name, type: INT64, shape: ['batch', length] });

function cacheInfo(c: ModelConfig, name: string, length: string): OnnxValueInfo {
  return { name, type: FLOAT, shape: ['batch', c.numHeads, length, c.dModel / c.numHeads] };
}

function decoderGraph(c: ModelConfig & { arch: 'decoder' }, weights: Weights, cached: boolean): OnnxGraph {
  const g = new Graph(weights, c);
  const pasts = cached ? Array.from({ length: c.numLayers }, (_, i) => ({ k: `past_key_${i}`, v: `past_value_${i}` })) : [];
  const offset = cached ? g.dim(pasts[0]!.k, 2) : g.ints([0]);
  let h = g.embed('decoder', 'input_ids', offset);
  const tq = g.scalar(g.dim('input_ids', 1));
  const tk = g.scalar(g.op('Add', [offset, g.dim('input_ids', 1)]));
  const keep = g.causalKeep(tq, tk, offset);
  const presents: string[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const path = `decoder/layer_${i}`;
    h = g.residual(h, `${path}/norm1`, (n) => {
      const r = g.attention(`${path}/self_attention`, n, n, keep, pasts[i]);
      presents.push(r.k, r.v);
      return r.out;
    });
    h = g.residual(h, `${path}/norm2`, (n) => g.feedForward(`${path}/feed_forward`, n));
  }
  g.output(g.project(g.finish('decoder', h), 'decoder'), 'logits');
  const outputs: OnnxValueInfo[] = [{ name: 'logits', type: FLOAT, shape: ['batch', 'sequence', c.vocabSize] }];
  const inputs = [ids('input_ids')];
  if (cached) {
    pasts.forEach((p, i) => {
      inputs.push(cacheInfo(c, p.k, 'past'), cacheInfo(c, p.v, 'past'));
      g.output(presents[2 * i]!, `present_key_${i}`);
      g.output(presents[2 * i + 1]!, `present_value_${i}`);
      outputs.push(cacheInfo(c, `present_key_${i}`, 'total'), cacheInfo(c, `present_value_${i}`, 'total'));
    });
  }
  return g.build(cached ? 'atencao_decoder_step' : 'atencao_decoder', inputs, outputs);
}

function encoderStack(g: Graph, stack: string, input: string, layers: number): string {
  let h = g.embed(stack, input, g.ints([0]));
  const keep = g.paddingKeep(input);
  for (let i = 0; i < layers; i++) {
    const path = `${stack}/layer_${i}`;
    h = g.residual(h, `${path}/norm1`, (n) => g.attention(`${path}/self_attention`, n, n, keep).out);
    h = g.residual(h, `${path}/norm2`, (n) => g.feedForward(`${path}/feed_forward`, n));
  }
  return g.finish(stack, h);
}

function encoderOnlyGraph(c: ModelConfig & { arch: 'encoder' }, weights: Weights): OnnxGraph {
  const g = new Graph(weights, c);
  const hidden = encoderStack(g, 'encoder', 'input_ids', c.numLayers);
  let h = hidden;
  if (option(c, 'maskedLmTransform')) h = g.layerNorm(g.activation(g.linear(h, 'mlm_dense_kernel', 'mlm_dense_bias')), 'mlm_norm');
  g.output(g.project(h, 'encoder'), 'logits');
  const outputs: OnnxValueInfo[] = [{ name: 'logits', type: FLOAT, shape: ['batch', 'sequence', c.vocabSize] }];
  if (c.numClasses > 0) {
    const cls = g.op('Gather', [hidden, g.ints([0], [])], { axis: 1 }); // [CLS] (B, d)
    g.output(g.linear(cls, 'classifier_kernel', 'classifier_bias'), 'class_logits');
    outputs.push({ name: 'class_logits', type: FLOAT, shape: ['batch', c.numClasses] });
  }
  return g.build('atencao_encoder', [ids('input_ids')], outputs);
}

function seq2seqGraph(c: ModelConfig & { arch: 'encoder-decoder' }, weights: Weights, role: OnnxPart['role']): OnnxGraph {
  const g = new Graph(weights, c);
  const memoryInfo: OnnxValueInfo = { name: 'memory', type: FLOAT, shape: ['batch', 'source', c.dModel] };
  if (role === 'encoder') {
    g.output(encoderStack(g, 'encoder', 'source_ids', c.numEncoderLayers), 'memory');
    return g.build('atencao_encoder', [ids('source_ids', 'source')], [memoryInfo]);
  }
  const memory = role === 'model' ? encoderStack(g, 'encoder', 'source_ids', c.numEncoderLayers) : 'memory';
  const memoryKeep = g.paddingKeep('source_ids');
  const cached = role === 'decoder-step';
  const pasts = cached ? Array.from({ length: c.numDecoderLayers }, (_, i) => ({ k: `past_key_${i}`, v: `past_value_${i}` })) : [];
  const offset = cached ? g.dim(pasts[0]!.k, 2) : g.ints([0]);
  let h = g.embed('decoder', 'target_ids', offset);
  const keep = g.causalKeep(g.scalar(g.dim('target_ids', 1)), g.scalar(g.op('Add', [offset, g.dim('target_ids', 1)])), offset);
  const presents: string[] = [];
  for (let i = 0; i < c.numDecoderLayers; i++) {
    const path = `decoder/layer_${i}`;
    h = g.residual(h, `${path}/norm1`, (n) => {
      const r = g.attention(`${path}/self_attention`, n, n, keep, pasts[i]);
      presents.push(r.k, r.v);
      return r.out;
    });
    h = g.residual(h, `${path}/norm2`, (n) => g.attention(`${path}/cross_attention`, n, memory, memoryKeep).out);
    h = g.residual(h, `${path}/norm3`, (n) => g.feedForward(`${path}/feed_forward`, n));
  }
  g.output(g.project(g.finish('decoder', h), 'decoder'), 'logits');
  const outputs: OnnxValueInfo[] = [{ name: 'logits', type: FLOAT, shape: ['batch', 'target', c.tgtVocabSize] }];
  const inputs = [ids('source_ids', 'source'), ids('target_ids', 'target')];
  if (cached) {
    inputs.push(memoryInfo);
    pasts.forEach((p, i) => {
      inputs.push(cacheInfo(c, p.k, 'past'), cacheInfo(c, p.v, 'past'));
      g.output(presents[2 * i]!, `present_key_${i}`);
      g.output(presents[2 * i + 1]!, `present_value_${i}`);
      outputs.push(cacheInfo(c, `present_key_${i}`, 'total'), cacheInfo(c, `present_value_${i}`, 'total'));
    });
  }
  return g.build(cached ? 'atencao_decoder_step' : 'atencao_transformer', inputs, outputs);
}
