import { Tokenizer as HfCore } from '@huggingface/tokenizers';
import { ModelFormatError } from '../errors.js';
import { BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, Tokenizer, UNK, UNK_ID, type TokenizerJSON } from './tokenizer.js';

/**
 * A Hugging Face tokenizer (the tokenizer.json of a GPT-2 or BERT checkpoint, run by
 * `@huggingface/tokenizers`) behind the interface of atencao's `Tokenizer`.
 *
 * atencao's ids 0–3 are always pad, bos, eos, unk, followed by the extra specials (e.g. <mask>);
 * a checkpoint puts its special tokens anywhere ([CLS] at 101 in BERT, <|endoftext|> at 50256 in
 * GPT-2). The import moves rows of the embedding so that the specials land where atencao wants
 * them; `hfIds[id]` is the checkpoint's id of atencao's token `id`, or -1 for a token the
 * checkpoint does not have (GPT-2 has no pad or unk), and the same token may stand at two ids
 * (GPT-2's <|endoftext|> is both bos and eos).
 */
export interface HfTokenizerJSON {
  kind: 'hf';
  version: 1;
  /** Reserved tokens after pad/bos/eos/unk, as in `TokenizerJSON`. */
  extraSpecials: string[];
  /** The checkpoint's id of each atencao id (-1: none). */
  hfIds: number[];
  /** The checkpoint's tokenizer.json, as it was. */
  tokenizer: Record<string, unknown>;
}

const FIXED = [PAD, BOS, EOS, UNK];
/** Most tokens a vocabulary may have (config.ts's bound on vocabulary sizes). */
const MAX_VOCAB = 2 ** 20;

/** A Hugging Face tokenizer with atencao's bookkeeping (vocab, ids, special(), tokensOf); text becomes tokens its own way. */
export class HfTokenizer extends Tokenizer {
  readonly core: HfCore;
  readonly hfIds: readonly number[];
  private readonly fromHf: Int32Array;
  private readonly json: HfTokenizerJSON;

  private constructor(json: HfTokenizerJSON, core: HfCore, vocab: string[], fromHf: Int32Array) {
    super('word', vocab, json.extraSpecials);
    this.core = core;
    this.hfIds = Object.freeze([...json.hfIds]);
    this.fromHf = fromHf;
    this.json = json;
  }

  /** The number of tokens the checkpoint's own tokenizer has (its vocabulary and added tokens). */
  static hfSize(tokenizer: Record<string, unknown>): number {
    return checkedCore(tokenizer).size;
  }

  /** Read a saved HF tokenizer; any structural problem is a `ModelFormatError` naming it. */
  static override fromJSON(value: unknown): HfTokenizer {
    if (!isHfTokenizerJSON(value)) throw new ModelFormatError("tokenizer is not of kind 'hf'");
    const json = value;
    if (json.version !== 1) throw new ModelFormatError(`hf tokenizer version (${String(json.version)}) must be 1`);
    if (!Array.isArray(json.extraSpecials) || !json.extraSpecials.every((t) => typeof t === 'string')) {
      throw new ModelFormatError('hf tokenizer extraSpecials must be a list of strings');
    }
    const { core, size } = checkedCore(json.tokenizer);
    const ids = json.hfIds;
    if (!Array.isArray(ids) || ids.length > MAX_VOCAB || !ids.every((h) => Number.isInteger(h) && h >= -1 && h < size)) {
      throw new ModelFormatError(`hf tokenizer hfIds must be at most ${MAX_VOCAB} ids, each -1 or below the tokenizer's ${size} tokens`);
    }
    const reserved = FIXED.length + json.extraSpecials.length;
    if (ids.length < reserved) throw new ModelFormatError(`hf tokenizer hfIds must cover the ${reserved} reserved tokens`);
    // atencao id of each checkpoint id: the first atencao id that stands for it, but eos before bos
    // (GPT-2's <|endoftext|> read from text or predicted is the end of the text).
    const fromHf = new Int32Array(size).fill(UNK_ID);
    const seen = new Set<number>();
    for (let a = ids.length - 1; a >= 0; a--) if (ids[a]! >= 0 && a !== BOS_ID) fromHf[ids[a]!] = a;
    for (let a = reserved; a < ids.length; a++) {
      if (ids[a]! < 0 || seen.has(ids[a]!)) throw new ModelFormatError(`hf tokenizer hfIds[${a}] (${ids[a]}) must be a token of its own`);
      seen.add(ids[a]!);
    }
    const vocab = ids.map((h, a) => (a < reserved ? [...FIXED, ...json.extraSpecials][a]! : (core.id_to_token(h) ?? `<${h}>`)));
    return new HfTokenizer(json, core, vocab, fromHf);
  }

  override toJSON(): TokenizerJSON {
    return this.json as unknown as TokenizerJSON;
  }

  /** Text → the checkpoint tokenizer's token strings (no special tokens added). */
  override tokenize(text: string): string[] {
    return this.core.encode(text, { add_special_tokens: false }).tokens;
  }

  /** Text → atencao ids; reserved tokens typed in the text become unk, as with `Tokenizer`. */
  override encode(text: string, options: { bos?: boolean; eos?: boolean } = {}): number[] {
    const ids = this.core.encode(text, { add_special_tokens: false }).ids.map((h: number) => {
      const a = this.fromHf[h] ?? UNK_ID;
      return a < this.reserved ? UNK_ID : a;
    });
    if (options.bos === true) ids.unshift(BOS_ID);
    if (options.eos === true) ids.push(EOS_ID);
    return ids;
  }

  /** Ids → text by the checkpoint's decoder, stopping at the first eos and skipping pad and bos. */
  override decode(ids: readonly number[]): string {
    const hf: number[] = [];
    for (const a of ids) {
      if (a === EOS_ID) break;
      if (a === PAD_ID || a === BOS_ID) continue;
      const h = this.hfIds[a];
      if (h !== undefined && h >= 0) hf.push(h);
    }
    return this.core.decode(hf, { skip_special_tokens: false }).trim();
  }

  /** The atencao id of a token, by atencao's name or the checkpoint's ("[CLS]" is bos); unk when unknown. */
  override id(token: string): number {
    const own = super.id(token);
    if (own !== UNK_ID || token === UNK) return own;
    const h = this.core.token_to_id(token);
    return h === undefined ? UNK_ID : (this.fromHf[h] ?? UNK_ID);
  }
}

/** Any saved tokenizer: atencao's own (`Tokenizer.fromJSON`) or a checkpoint's (kind 'hf'). Browser-safe. */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  return isHfTokenizerJSON(json) ? HfTokenizer.fromJSON(json) : Tokenizer.fromJSON(json);
}

export function isHfTokenizerJSON(value: unknown): value is HfTokenizerJSON {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'hf';
}

/** The HF tokenizer of a tokenizer.json object, and its size; a `ModelFormatError` if the library cannot read it. */
function checkedCore(tokenizer: unknown): { core: HfCore; size: number } {
  if (typeof tokenizer !== 'object' || tokenizer === null || Array.isArray(tokenizer)) throw new ModelFormatError('hf tokenizer must hold a tokenizer.json object');
  const model = (tokenizer as { model?: { vocab?: unknown } }).model;
  if (typeof model?.vocab !== 'object' || model.vocab === null) throw new ModelFormatError('hf tokenizer.json has no model.vocab');
  let core: HfCore;
  try {
    core = new HfCore(tokenizer, {});
  } catch (error) {
    throw new ModelFormatError(`hf tokenizer.json cannot be read: ${(error as Error).message}`, { cause: error });
  }
  // Its size: one more than the largest id of the vocabulary and the added tokens.
  const vocab = model.vocab as Record<string, unknown> | unknown[];
  const ids = Array.isArray(vocab) ? [vocab.length - 1] : Object.values(vocab).filter((v): v is number => Number.isInteger(v));
  const added = ((tokenizer as { added_tokens?: { id?: unknown }[] }).added_tokens ?? []).map((t) => t?.id).filter((v): v is number => Number.isInteger(v));
  const size = [...ids, ...added].reduce((m, v) => Math.max(m, v), -1) + 1;
  if (size > MAX_VOCAB) throw new ModelFormatError(`hf tokenizer has ${size} tokens, more than the ${MAX_VOCAB} a vocabulary may have`);
  return { core, size };
}
