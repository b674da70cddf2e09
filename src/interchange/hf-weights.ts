import { ModelFormatError } from '../errors.js';
import type { HfModel } from './hf-config.js';
import type { SafetensorsFile } from './safetensors.js';

/** A weight as atencao's layers hold it: its path in `model.namedWeights()`, its shape, its values. */
export interface MappedWeight {
  shape: number[];
  values: Float32Array;
}

/** Output bias of the ids a model must never predict (atencao's pad, unk and bos added to GPT-2). */
export const NEVER = -1e9;

/**
 * The checkpoint's tensors on atencao's weight paths. Linear layers: PyTorch's nn.Linear stores
 * (out, in) and is transposed; GPT-2's Conv1D already stores (in, out). GPT-2's fused c_attn
 * (d, 3d) is split into Wq, Wk, Wv by columns. Embedding rows are reordered so that the special
 * tokens sit at atencao's ids (`hfIds`, see data/hf-tokenizer.ts). BERT's token-type vector of
 * type 0 is added to every position vector (atencao feeds one segment).
 */
export function mapWeights(file: SafetensorsFile, model: HfModel, hfIds: readonly number[]): Map<string, MappedWeight> {
  return model.family === 'gpt2' ? gpt2Weights(file, model, hfIds) : bertWeights(file, model, hfIds);
}

/** The checkpoint tensor names a family needs, so they can be checked before any is read. */
export function requiredTensors(model: HfModel, names: ReadonlySet<string>): string[] {
  const c = model.config;
  const out: string[] = [];
  if (model.family === 'gpt2') {
    const p = prefixOf(names, 'transformer.', 'wte.weight');
    out.push(`${p}wte.weight`, `${p}wpe.weight`, `${p}ln_f.weight`, `${p}ln_f.bias`);
    for (let i = 0; i < c.numLayers; i++) {
      for (const n of ['ln_1', 'ln_2', 'attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']) out.push(`${p}h.${i}.${n}.weight`, `${p}h.${i}.${n}.bias`);
    }
    if (!model.tied) out.push('lm_head.weight');
    return out;
  }
  const p = prefixOf(names, 'bert.', 'embeddings.word_embeddings.weight');
  out.push(`${p}embeddings.word_embeddings.weight`, `${p}embeddings.position_embeddings.weight`, `${p}embeddings.token_type_embeddings.weight`);
  for (let i = 0; i < c.numLayers; i++) {
    const l = `${p}encoder.layer.${i}.`;
    for (const n of ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense', 'intermediate.dense', 'output.dense']) out.push(`${l}${n}.weight`, `${l}${n}.bias`);
  }
  out.push('cls.predictions.transform.dense.weight', 'cls.predictions.transform.dense.bias');
  if (!model.tied) out.push('cls.predictions.decoder.weight');
  return out;
}

function gpt2Weights(f: SafetensorsFile, m: HfModel, hfIds: readonly number[]): Map<string, MappedWeight> {
  const c = m.config;
  const d = c.dModel;
  const p = prefixOf(new Set(f.header.entries.keys()), 'transformer.', 'wte.weight');
  const get = (name: string, shape: number[]) => tensor(f, name, shape);
  const out = new Map<string, MappedWeight>();
  const wte = get(`${p}wte.weight`, [m.hfVocabSize, d]);
  out.set('decoder/embedding/table', { shape: [c.vocabSize, d], values: permuteRows(wte, d, hfIds) });
  out.set('decoder/positions/positions', { shape: [c.maxLen, d], values: get(`${p}wpe.weight`, [c.maxLen, d]) });
  for (let i = 0; i < c.numLayers; i++) {
    const h = `${p}h.${i}.`;
    const o = `decoder/layer_${i}/`;
    setNorm(out, `${o}norm1`, f, `${h}ln_1`, d);
    setNorm(out, `${o}norm2`, f, `${h}ln_2`, d);
    const qkv = get(`${h}attn.c_attn.weight`, [d, 3 * d]); // Conv1D: (in, out), out = [q | k | v]
    const qkvBias = get(`${h}attn.c_attn.bias`, [3 * d]);
    ['wq', 'wk', 'wv'].forEach((w, j) => {
      out.set(`${o}self_attention/projection/${w}`, { shape: [d, d], values: columns(qkv, d, 3 * d, j * d, d) });
      out.set(`${o}self_attention/projection/b${w[1]}`, { shape: [d], values: qkvBias.slice(j * d, (j + 1) * d) });
    });
    out.set(`${o}self_attention/wo`, { shape: [d, d], values: get(`${h}attn.c_proj.weight`, [d, d]) });
    out.set(`${o}self_attention/bo`, { shape: [d], values: get(`${h}attn.c_proj.bias`, [d]) });
    out.set(`${o}feed_forward/w1`, { shape: [d, c.dFF], values: get(`${h}mlp.c_fc.weight`, [d, c.dFF]) });
    out.set(`${o}feed_forward/b1`, { shape: [c.dFF], values: get(`${h}mlp.c_fc.bias`, [c.dFF]) });
    out.set(`${o}feed_forward/w2`, { shape: [c.dFF, d], values: get(`${h}mlp.c_proj.weight`, [c.dFF, d]) });
    out.set(`${o}feed_forward/b2`, { shape: [d], values: get(`${h}mlp.c_proj.bias`, [d]) });
  }
  setNorm(out, 'decoder/final_norm', f, `${p}ln_f`, d);
  if (!m.tied) {
    const head = get('lm_head.weight', [m.hfVocabSize, d]); // nn.Linear (V, d)
    out.set('output_kernel', { shape: [d, c.vocabSize], values: transpose(permuteRows(head, d, hfIds), c.vocabSize, d) });
  }
  // GPT-2 has no output bias: zero, except for the ids it must never write (pad, unk, and bos,
  // which duplicates <|endoftext|> so that only eos is predicted).
  const bias = new Float32Array(c.vocabSize);
  hfIds.forEach((h, a) => {
    if (h < 0 || a === 1) bias[a] = NEVER;
  });
  out.set('output_bias', { shape: [c.vocabSize], values: bias });
  return out;
}

function bertWeights(f: SafetensorsFile, m: HfModel, hfIds: readonly number[]): Map<string, MappedWeight> {
  const c = m.config;
  const d = c.dModel;
  const p = prefixOf(new Set(f.header.entries.keys()), 'bert.', 'embeddings.word_embeddings.weight');
  const get = (name: string, shape: number[]) => tensor(f, name, shape);
  const linear = (name: string, out: number, inn: number) => transpose(get(`${name}.weight`, [out, inn]), out, inn); // nn.Linear (out, in) → (in, out)
  const out = new Map<string, MappedWeight>();
  const words = get(`${p}embeddings.word_embeddings.weight`, [m.hfVocabSize, d]);
  out.set('encoder/embedding/table', { shape: [c.vocabSize, d], values: permuteRows(words, d, hfIds) });
  const positions = get(`${p}embeddings.position_embeddings.weight`, [c.maxLen, d]);
  const types = get(`${p}embeddings.token_type_embeddings.weight`, [m.typeVocabSize ?? 2, d]);
  for (let t = 0; t < c.maxLen; t++) for (let j = 0; j < d; j++) positions[t * d + j]! += types[j]!;
  out.set('encoder/positions/positions', { shape: [c.maxLen, d], values: positions });
  setNorm(out, 'encoder/embedding_norm', f, `${p}embeddings.LayerNorm`, d);
  for (let i = 0; i < c.numLayers; i++) {
    const l = `${p}encoder.layer.${i}.`;
    const o = `encoder/layer_${i}/`;
    for (const [w, n] of [['q', 'query'], ['k', 'key'], ['v', 'value']] as const) {
      out.set(`${o}self_attention/projection/w${w}`, { shape: [d, d], values: linear(`${l}attention.self.${n}`, d, d) });
      out.set(`${o}self_attention/projection/b${w}`, { shape: [d], values: get(`${l}attention.self.${n}.bias`, [d]) });
    }
    out.set(`${o}self_attention/wo`, { shape: [d, d], values: linear(`${l}attention.output.dense`, d, d) });
    out.set(`${o}self_attention/bo`, { shape: [d], values: get(`${l}attention.output.dense.bias`, [d]) });
    setNorm(out, `${o}norm1`, f, `${l}attention.output.LayerNorm`, d);
    out.set(`${o}feed_forward/w1`, { shape: [d, c.dFF], values: linear(`${l}intermediate.dense`, c.dFF, d) });
    out.set(`${o}feed_forward/b1`, { shape: [c.dFF], values: get(`${l}intermediate.dense.bias`, [c.dFF]) });
    out.set(`${o}feed_forward/w2`, { shape: [c.dFF, d], values: linear(`${l}output.dense`, d, c.dFF) });
    out.set(`${o}feed_forward/b2`, { shape: [d], values: get(`${l}output.dense.bias`, [d]) });
    setNorm(out, `${o}norm2`, f, `${l}output.LayerNorm`, d);
  }
  out.set('mlm_dense_kernel', { shape: [d, d], values: linear('cls.predictions.transform.dense', d, d) });
  out.set('mlm_dense_bias', { shape: [d], values: get('cls.predictions.transform.dense.bias', [d]) });
  setNorm(out, 'mlm_norm', f, 'cls.predictions.transform.LayerNorm', d);
  if (!m.tied) {
    const head = get('cls.predictions.decoder.weight', [m.hfVocabSize, d]);
    out.set('output_kernel', { shape: [d, c.vocabSize], values: transpose(permuteRows(head, d, hfIds), c.vocabSize, d) });
  }
  const biasName = f.has('cls.predictions.bias') ? 'cls.predictions.bias' : 'cls.predictions.decoder.bias';
  out.set('output_bias', { shape: [c.vocabSize], values: permuteRows(get(biasName, [m.hfVocabSize]), 1, hfIds) });
  return out;
}

/** A layer norm's scale and shift; old checkpoints call them gamma and beta. */
function setNorm(out: Map<string, MappedWeight>, path: string, f: SafetensorsFile, name: string, d: number): void {
  const scale = f.has(`${name}.weight`) ? `${name}.weight` : `${name}.gamma`;
  const shift = f.has(`${name}.bias`) ? `${name}.bias` : `${name}.beta`;
  out.set(`${path}/gamma`, { shape: [d], values: tensor(f, scale, [d]) });
  out.set(`${path}/beta`, { shape: [d], values: tensor(f, shift, [d]) });
}

/** A tensor of the file as float32, refused unless it has exactly the shape the config implies. */
function tensor(f: SafetensorsFile, name: string, shape: number[]): Float32Array {
  const e = f.entry(name);
  if (e.shape.length !== shape.length || e.shape.some((n, i) => n !== shape[i])) {
    throw new ModelFormatError(`${f.source}: tensor '${name}' has shape [${e.shape.join(', ')}] but config.json implies [${shape.join(', ')}]`);
  }
  return f.float32(name).values;
}

/** The name prefix a checkpoint uses ("transformer." for GPT2LMHeadModel, "" for GPT2Model). */
function prefixOf(names: ReadonlySet<string>, prefix: string, probe: string): string {
  return names.has(`${prefix}${probe}`) ? prefix : '';
}

/** Rows (each `width` values) in atencao's order: row a is the checkpoint's row hfIds[a], or zeros. */
export function permuteRows(values: Float32Array, width: number, hfIds: readonly number[]): Float32Array {
  const out = new Float32Array(hfIds.length * width);
  hfIds.forEach((h, a) => {
    if (h >= 0) out.set(values.subarray(h * width, (h + 1) * width), a * width);
  });
  return out;
}

/** Columns start … start + count − 1 of a (rows, cols) matrix. */
function columns(values: Float32Array, rows: number, cols: number, start: number, count: number): Float32Array {
  const out = new Float32Array(rows * count);
  for (let r = 0; r < rows; r++) out.set(values.subarray(r * cols + start, r * cols + start + count), r * count);
  return out;
}

/** (rows, cols) → (cols, rows). */
export function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}
