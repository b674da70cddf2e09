import * as tf from '@tensorflow/tfjs';
import type { Arch, ModelConfig } from '../config.js';
import { BOS_ID, EOS_ID, SEP, UNK, type Tokenizer } from '../data/tokenizer.js';
import { UsageError } from '../errors.js';
import type { AttentionKind, Model } from '../model/model.js';
import type { Transformer } from '../model/transformer.js';
import { encoderIds } from './classify.js';
import { generateText } from './generate.js';
import type { LoadedModel } from './loaded.js';
import { readFirstRow, Translator, type AttentionMaps } from './translator.js';

/** One kind of attention for one input: the weights of every layer and head, and the tokens on each axis. */
export interface AttentionMap {
  kind: AttentionKind;
  /** What to call it in a view, e.g. "causal self-attention". */
  title: string;
  /** How to read its rows, one sentence for the views. */
  note: string;
  /** Query tokens, one per row. */
  rows: string[];
  /** Key tokens, one per column. */
  cols: string[];
  /** [layer][head][query][key]; every row sums to 1. */
  weights: number[][][][];
}

/** The attention of a model of any family for one input, every kind it has. */
export interface ModelAttention {
  arch: Arch;
  /** The text given: a source sentence, a prompt, or a sentence to read. */
  input: string;
  /** What the model wrote from it: the translation or the continuation (families that write). */
  output?: string;
  /** The kinds the family has, in the order of its layers (encoder, decoder, cross). */
  maps: AttentionMap[];
}

export interface AttentionMapOptions {
  /** Encoder–decoder: read the maps for this output instead of the greedy translation (teacher forcing). */
  output?: string;
  /** Decoder: also continue the prompt greedily and show the continuation's attention (default: true). */
  continuation?: boolean;
  /** Decoder: most tokens to continue with (default: as many as maxLen leaves; as `generateText`'s maxTokens). */
  maxNew?: number;
}

/** The attention kinds each family has. */
export const KINDS_OF: Readonly<Record<Arch, readonly AttentionKind[]>> = {
  'encoder-decoder': ['encoder', 'decoder', 'cross'],
  decoder: ['decoder'],
  encoder: ['encoder'],
};

/** Names and one-line readings of each kind, per family. */
const TITLES: Readonly<Record<Arch, Partial<Record<AttentionKind, { title: string; note: string }>>>> = {
  'encoder-decoder': {
    encoder: { title: 'encoder self-attention', note: 'Every source token looks at every source token.' },
    decoder: { title: 'decoder self-attention (causal)', note: 'Rows are labelled by the word each position writes; it sees only the words written before it.' },
    cross: { title: 'cross-attention (decoder → encoder)', note: 'Rows are labelled by the word each position writes; columns are the source tokens it reads.' },
  },
  decoder: {
    decoder: { title: 'causal self-attention', note: 'Each position sees only itself and the tokens before it (the upper triangle is empty); it predicts the token after it.' },
  },
  encoder: {
    encoder: { title: 'bidirectional self-attention', note: 'Every token looks at every token, on both sides; <bos> is the [CLS] position the classifier reads.' },
  },
};

/** The title of a kind in a family, e.g. ("decoder", "decoder") → "causal self-attention". */
export function kindTitle(arch: Arch, kind: AttentionKind): string {
  return TITLES[arch][kind]?.title ?? kind;
}

/** Layers of one kind: encoder–decoders have separate encoder and decoder stacks. */
export function attentionLayers(config: ModelConfig, kind: AttentionKind): number {
  if (config.arch === 'encoder-decoder') return kind === 'encoder' ? config.numEncoderLayers : config.numDecoderLayers;
  return config.numLayers;
}

/**
 * Refuse attention kinds a family does not have, in one line naming those it has. `kinds`
 * may hold 'all', which every family accepts.
 */
export function checkKinds(loaded: Pick<LoadedModel, 'dir' | 'model'>, kinds: readonly string[]): AttentionKind[] {
  const arch = loaded.model.arch;
  const has = KINDS_OF[arch];
  if (kinds.includes('all')) return [...has];
  const bad = kinds.find((k) => !has.includes(k as AttentionKind));
  if (bad !== undefined) {
    const choices = `${has.join(', ')} or all`;
    const what = has.length === 1 ? `whose only attention is ${kindTitle(arch, has[0]!)}` : `whose attention is ${has.map((k) => kindTitle(arch, k)).join(', ')}`;
    throw new UsageError(`--kind (${bad}) must be ${choices}: ${loaded.dir} is ${arch === 'decoder' ? 'a' : 'an'} ${arch} model, ${what}`);
  }
  return kinds as AttentionKind[];
}

/**
 * The attention weights of every layer and head of a model, of any family, for one text:
 * - encoder–decoder: it translates the text (greedy), then reads its encoder self-attention,
 *   causal decoder self-attention and cross-attention on that output (as `Translator.attention`);
 * - decoder: causal self-attention over bos, the prompt and, unless `continuation` is false, the
 *   greedy continuation it writes;
 * - encoder: bidirectional self-attention over [CLS] (bos), the sentence and eos; "[MASK]" in the
 *   text stands for the mask token.
 */
export async function attentionMaps(loaded: LoadedModel, text: string, options: AttentionMapOptions = {}): Promise<ModelAttention> {
  return READERS[loaded.model.arch](loaded, text, options);
}

const READERS: Readonly<Record<Arch, (loaded: LoadedModel, text: string, options: AttentionMapOptions) => Promise<ModelAttention>>> = {
  'encoder-decoder': async (loaded, text, options) => {
    const translator = new Translator(loaded.dir, loaded.model as Transformer, loaded.source, loaded.target, loaded.run);
    return fromTranslation(text, await translator.attention(text, { output: options.output }));
  },
  decoder: async (loaded, text, options) => {
    const { model, source: tokenizer } = loaded;
    let ids: number[];
    let output: string | undefined;
    if (options.continuation === false) {
      ids = decoderPrompt(tokenizer, text, model.config.maxLen);
    } else {
      // Greedy, as 'atencao generate' writes it; the maps cover what it fed: bos, the prompt, the continuation.
      const generated = await generateText(loaded, text, { maxTokens: options.maxNew });
      const written = generated.ids.filter((id) => id !== EOS_ID);
      ids = [BOS_ID, ...generated.promptTokens.map((t) => tokenizer.id(t)), ...written];
      output = generated.text;
    }
    const tokens = tokensOf(tokenizer, ids);
    const weights = (await readAttention(model, ids)).decoder!;
    return { arch: 'decoder', input: text, ...(output === undefined ? {} : { output }), maps: [map('decoder', 'decoder', tokens, tokens, weights)] };
  },
  encoder: async (loaded, text) => {
    const { model, source: tokenizer } = loaded;
    const { ids } = encoderIds(tokenizer, text, model.config.maxLen);
    const tokens = tokensOf(tokenizer, ids);
    return { arch: 'encoder', input: text, maps: [map('encoder', 'encoder', tokens, tokens, (await readAttention(model, ids)).encoder!)] };
  },
};

/** The encoder–decoder's maps (`Translator.attention`) in the form every view reads. */
export function fromTranslation(source: string, maps: AttentionMaps): ModelAttention {
  const arch = 'encoder-decoder';
  return {
    arch,
    input: source,
    output: maps.output,
    maps: [
      map(arch, 'encoder', maps.sourceTokens, maps.sourceTokens, maps.encoder),
      map(arch, 'decoder', maps.outputTokens, maps.targetTokens, maps.decoderSelf),
      map(arch, 'cross', maps.outputTokens, maps.sourceTokens, maps.cross),
    ],
  };
}

/** Either form of maps, as `ModelAttention` (the encoder–decoder's own form needs its source sentence). */
export function asModelAttention(maps: ModelAttention | AttentionMaps, source = ''): ModelAttention {
  return 'maps' in maps ? maps : fromTranslation(source, maps);
}

/**
 * A decoder's input when it only reads (no continuation): bos, the text's ids, and the separator
 * when the model was trained on "input <sep> output" continuations (its vocabulary has one); cut
 * to maxLen, keeping the separator.
 */
export function decoderPrompt(tokenizer: Tokenizer, text: string, maxLen: number): number[] {
  const sep = tokenizer.extraSpecials.includes(SEP) ? [tokenizer.special(SEP)] : [];
  const ids = [BOS_ID, ...tokenizer.encode(text), ...sep];
  return ids.length <= maxLen ? ids : [...ids.slice(0, maxLen - sep.length), ...sep];
}

/** Run the model on one sequence and read every kind's weights as arrays: [layer][head][query][key]. */
async function readAttention(model: Model, ids: number[]): Promise<Partial<Record<AttentionKind, number[][][][]>>> {
  const input = tf.tensor2d([ids], [1, ids.length], 'int32');
  let weights: Partial<Record<AttentionKind, tf.Tensor[]>>;
  try {
    weights = model.attention({ ids: input });
  } finally {
    input.dispose();
  }
  const out: Partial<Record<AttentionKind, number[][][][]>> = {};
  for (const [kind, layers] of Object.entries(weights) as [AttentionKind, tf.Tensor[]][]) out[kind] = await readFirstRow(layers);
  return out;
}

function tokensOf(tokenizer: Tokenizer, ids: readonly number[]): string[] {
  return ids.map((id) => tokenizer.vocab[id] ?? UNK);
}

function map(arch: Arch, kind: AttentionKind, rows: string[], cols: string[], weights: number[][][][]): AttentionMap {
  const { title, note } = TITLES[arch][kind]!;
  return { kind, title, note, rows, cols, weights };
}
