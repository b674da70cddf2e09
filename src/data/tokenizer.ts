import { ConfigError, ModelFormatError } from '../errors.js';
import { BpeModel, BYTE_TOKENS, trainBpe, type BpeModelJSON } from './bpe.js';
import { checkTextForm, learnCasing, normalizeText, restoreCase, type TextForm } from './case.js';

export const PAD = '<pad>';
export const BOS = '<bos>';
export const EOS = '<eos>';
export const UNK = '<unk>';
export const PAD_ID = 0;
export const BOS_ID = 1;
export const EOS_ID = 2;
export const UNK_ID = 3;
/** Always the first ids, in this order, so padding is 0 and a model can rely on the numbers. */
const SPECIALS: readonly string[] = [PAD, BOS, EOS, UNK];
/** Separates a decoder-only model's input from the output it continues with ("abc<sep>cba"). */
export const SEP = '<sep>';
/** Stands for a hidden token in a masked-LM input; the encoder's [MASK]. */
export const MASK = '<mask>';
/** The encoder's [CLS] is bos, the first token of every sequence. */
export const CLS_ID = BOS_ID;

export type TokenizerKind = 'char' | 'word' | 'bpe';

export interface TokenizerJSON {
  kind: TokenizerKind;
  vocab: string[];
  version: 1;
  /** Reserved tokens after the four fixed ones (SEP, MASK), which text never encodes to. */
  extraSpecials?: string[];
  /** bpe: the characters kept and the merges, in the order learned (see data/bpe.ts). */
  bpe?: BpeModelJSON;
  /** Lowercased and/or accent-folded text, and how to give case back (see data/case.ts). */
  form?: TextForm;
}

export interface BuildOptions {
  /** Tokens seen fewer times than this are left out (they encode as unk). Default 1. */
  minCount?: number;
  /** Largest vocabulary, special tokens included; the most frequent tokens are kept. Default: no cap. */
  maxVocab?: number;
  /** Reserved tokens placed right after pad/bos/eos/unk (e.g. SEP, MASK); text typed by a user never encodes to them. */
  extraSpecials?: readonly string[];
  /** bpe: the vocabulary size to learn, reserved and byte tokens included. Default 4,000. */
  vocabSize?: number;
  /** Read text lowercased; decoded text gets the usual case of its words back (learned from `texts`). */
  lowercase?: boolean;
  /** Read text without accents ("água" = "agua"); for the input side (output keeps what it learned). */
  foldAccents?: boolean;
}

/** The text form the options ask for, with its case table learned from the texts. */
function textForm(texts: readonly string[], options: BuildOptions): TextForm {
  const lowercase = options.lowercase === true;
  const foldAccents = options.foldAccents === true;
  return { lowercase, foldAccents, ...(lowercase ? learnCasing(texts, foldAccents) : {}) };
}

/**
 * A word token is a run of anything but whitespace and punctuation (\p{P}); every punctuation
 * character is a token of its own ("cheio." → "cheio", "."). Two exceptions keep common words
 * whole: an apostrophe or hyphen between letters/digits ("d'água", "don't", "guarda-chuva"), and a
 * point or comma between digits ("3.5", "1,25"). Symbols such as "€" or emoji are not punctuation
 * and stay attached to their word.
 */
const WORD_TOKEN = /(?:[^\s\p{P}]|(?<=[\p{L}\p{M}\p{N}])['’\-‐](?=[\p{L}\p{M}\p{N}])|(?<=\p{N})[.,](?=\p{N}))+|\p{P}/gu;
/** Written without a space before them: "cheio." not "cheio .". */
const CLOSING = new Set(['.', ',', ';', ':', '!', '?', '…', '%', ')', ']', '}', '»', '”', '’']);
/** Written without a space after them: "(sim)", "¿Qué?". */
const OPENING = new Set(['(', '[', '{', '«', '“', '‘', '¿', '¡']);

/**
 * Text ↔ token ids, by characters (Unicode code points) or by words (see `WORD_TOKEN`); case is
 * kept and text is NFC-normalised first, so "água" typed with a combining accent is the same word.
 * Ids 0–3 are pad, bos, eos, unk; the rest are training tokens by descending frequency, ties in
 * order of first appearance, so the same texts always give the same vocabulary.
 */
export class Tokenizer {
  readonly kind: TokenizerKind;
  readonly vocab: readonly string[];
  /** Reserved tokens after the fixed four, at ids 4, 5, …. */
  readonly extraSpecials: readonly string[];
  private readonly ids: ReadonlyMap<string, number>;
  /** bpe: the learned merges. */
  private readonly bpe?: BpeModel;
  /** Lowercasing (case given back on output) and accent folding, when the vocabulary was built so. */
  readonly form?: TextForm;

  protected constructor(kind: TokenizerKind, vocab: readonly string[], extraSpecials: readonly string[] = [], bpe?: BpeModel, form?: TextForm) {
    this.kind = kind;
    this.bpe = bpe;
    if (form !== undefined && (form.lowercase === true || form.foldAccents === true)) this.form = form;
    this.vocab = Object.freeze([...vocab]);
    this.extraSpecials = Object.freeze([...extraSpecials]);
    this.ids = new Map(vocab.map((token, id) => [token, id]));
  }

  /** Ids below this are reserved (pad, bos, eos, unk and the extra specials). */
  get reserved(): number {
    return SPECIALS.length + this.extraSpecials.length;
  }

  /** The id of a reserved token such as SEP or MASK; a `ModelFormatError` if this vocabulary has none. */
  special(token: string): number {
    const at = this.extraSpecials.indexOf(token);
    if (at < 0) throw new ModelFormatError(`this vocabulary has no ${token} token`);
    return SPECIALS.length + at;
  }

  /** Build a vocabulary from training texts. */
  static build(kind: TokenizerKind, texts: Iterable<string>, options: BuildOptions = {}): Tokenizer {
    const minCount = options.minCount ?? 1;
    if (!Number.isInteger(minCount) || minCount < 1) throw new ConfigError(`minCount (${minCount}) must be a positive integer`);
    const maxVocab = options.maxVocab ?? Infinity;
    if (maxVocab !== Infinity && (!Number.isInteger(maxVocab) || maxVocab < SPECIALS.length)) {
      throw new ConfigError(`maxVocab (${maxVocab}) must be an integer of at least ${SPECIALS.length} (the special tokens)`);
    }
    const extra = [...(options.extraSpecials ?? [])];
    const reserved = [...SPECIALS, ...extra];
    let form: TextForm | undefined;
    if (options.lowercase === true || options.foldAccents === true) {
      const list = [...texts];
      form = textForm(list, options);
      texts = list.map((t) => normalizeText(t, form));
    }
    if (kind === 'bpe') return Tokenizer.buildBpe(texts, reserved, extra, options.vocabSize ?? 4000, minCount, form);
    const tokenizer = new Tokenizer(kind, reserved);
    // A Map iterates in insertion order, i.e. first appearance; the stable sort keeps it for ties.
    const counts = new Map<string, number>();
    for (const text of texts) {
      for (const token of tokenizer.tokenize(text)) counts.set(token, (counts.get(token) ?? 0) + 1);
    }
    const ranked = [...counts]
      .filter(([token, count]) => count >= minCount && !reserved.includes(token))
      .sort((a, b) => b[1] - a[1])
      .slice(0, maxVocab - reserved.length)
      .map(([token]) => token);
    return new Tokenizer(kind, [...reserved, ...ranked], extra, undefined, form);
  }

  /**
   * Subwords learned by byte-pair encoding: the reserved tokens, the 256 byte tokens (the fallback
   * for any character), then the characters and merges learned, up to `vocabSize` ids.
   */
  private static buildBpe(texts: Iterable<string>, reserved: string[], extra: string[], vocabSize: number, minCount: number, form: TextForm | undefined): Tokenizer {
    const floor = reserved.length + BYTE_TOKENS.length + 1;
    if (!Number.isInteger(vocabSize) || vocabSize < floor) throw new ConfigError(`vocabSize (${vocabSize}) must be an integer of at least ${floor} (reserved and byte tokens, and one more)`);
    const json = trainBpe(texts, { symbols: vocabSize - reserved.length - BYTE_TOKENS.length, minCharCount: Math.max(2, minCount) });
    const bpe = new BpeModel(json);
    return new Tokenizer('bpe', [...reserved, ...BYTE_TOKENS, ...bpe.symbols()], extra, bpe, form);
  }

  /** Read a saved tokenizer; any structural problem is a `ModelFormatError` naming it. */
  static fromJSON(json: unknown): Tokenizer {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new ModelFormatError(`tokenizer must be a JSON object (got ${show(json)})`);
    }
    const { kind, version, vocab, extraSpecials = [], bpe, form: savedForm } = json as Record<string, unknown>;
    const form = checkTextForm(savedForm, (m) => new ModelFormatError(m));
    if (kind !== 'char' && kind !== 'word' && kind !== 'bpe') throw new ModelFormatError(`tokenizer kind (${show(kind)}) must be 'char', 'word' or 'bpe'`);
    if (version !== 1) throw new ModelFormatError(`tokenizer version (${show(version)}) must be 1`);
    if (!Array.isArray(vocab)) throw new ModelFormatError(`tokenizer vocab (${show(vocab)}) must be an array of strings`);
    const bad = vocab.findIndex((token) => typeof token !== 'string');
    if (bad >= 0) throw new ModelFormatError(`tokenizer vocab[${bad}] (${show(vocab[bad])}) must be a string`);
    if (!SPECIALS.every((special, id) => vocab[id] === special)) {
      throw new ModelFormatError(`tokenizer vocab must start with ${SPECIALS.join(', ')}`);
    }
    if (!Array.isArray(extraSpecials) || !extraSpecials.every((t, i) => typeof t === 'string' && vocab[SPECIALS.length + i] === t)) {
      throw new ModelFormatError(`tokenizer extraSpecials (${show(extraSpecials)}) must list the tokens that follow ${SPECIALS.join(', ')} in vocab`);
    }
    const first = new Map<string, number>();
    vocab.forEach((token: string, id) => {
      const earlier = first.get(token);
      if (earlier !== undefined) throw new ModelFormatError(`tokenizer vocab has ${show(token)} twice (ids ${earlier} and ${id})`);
      first.set(token, id);
    });
    if (kind !== 'bpe') return new Tokenizer(kind, vocab as string[], extraSpecials as string[], undefined, form);
    const model = new BpeModel(checkBpe(bpe));
    const expected = [...SPECIALS, ...(extraSpecials as string[]), ...BYTE_TOKENS, ...model.symbols()];
    const differs = expected.findIndex((t, i) => vocab[i] !== t);
    if (differs >= 0 || expected.length !== vocab.length) {
      throw new ModelFormatError(`tokenizer vocab does not match its bpe merges (first difference at id ${differs >= 0 ? differs : Math.min(expected.length, vocab.length)})`);
    }
    return new Tokenizer(kind, vocab as string[], extraSpecials as string[], model, form);
  }

  toJSON(): TokenizerJSON {
    const json: TokenizerJSON = { kind: this.kind, vocab: [...this.vocab], version: 1 };
    if (this.extraSpecials.length > 0) json.extraSpecials = [...this.extraSpecials];
    if (this.form !== undefined) json.form = this.form;
    if (this.bpe !== undefined) json.bpe = { alphabet: [...this.bpe.json.alphabet], merges: this.bpe.json.merges.map(([a, b]) => [a, b]) };
    return json;
  }

  get size(): number {
    return this.vocab.length;
  }

  /** Split text into tokens (no ids yet). */
  tokenize(text: string): string[] {
    const normal = normalizeText(text, this.form);
    if (this.kind === 'char') return [...normal];
    if (this.bpe !== undefined) return this.bpe.tokenize(normal);
    return normal.match(WORD_TOKEN) ?? [];
  }

  /**
   * Text → ids. Unknown tokens become unk; so do special tokens typed literally in the text, so a
   * stray "<eos>" in a corpus can never end a sentence early.
   */
  encode(text: string, options: { bos?: boolean; eos?: boolean } = {}): number[] {
    const ids = this.tokenize(text).map((token) => {
      const id = this.id(token);
      return id < this.reserved ? UNK_ID : id;
    });
    if (options.bos === true) ids.unshift(BOS_ID);
    if (options.eos === true) ids.push(EOS_ID);
    return ids;
  }

  /** Ids → token strings, stopping at the first eos and skipping pad and bos; unknown ids show as unk. */
  tokensOf(ids: readonly number[]): string[] {
    const tokens: string[] = [];
    for (const id of ids) {
      if (id === EOS_ID) break;
      if (id === PAD_ID || id === BOS_ID) continue;
      tokens.push(this.vocab[id] ?? UNK);
    }
    return tokens;
  }

  /** Ids → text: characters concatenated, or words joined by single spaces except around punctuation. */
  decode(ids: readonly number[]): string {
    return restoreCase(this.joinTokens(this.tokensOf(ids)), this.form);
  }

  private joinTokens(tokens: string[]): string {
    if (this.kind === 'char') return tokens.join('');
    if (this.bpe !== undefined) return this.bpe.detokenize(tokens).trim();
    let text = '';
    tokens.forEach((token, i) => {
      const space = i > 0 && !CLOSING.has(token) && !OPENING.has(tokens[i - 1]!);
      text += space ? ` ${token}` : token;
    });
    return text;
  }

  /**
   * What of `text` the model never saw in training: words (or characters) that encode as unk, or,
   * for byte-pair tokens, characters outside the learned alphabet (they go in as UTF-8 bytes, which
   * training rarely or never showed). Distinct, in order of appearance.
   */
  unseen(text: string): string[] {
    const found = this.bpe !== undefined ? [...normalizeText(text, this.form)].filter((c) => !/\s/u.test(c) && !this.bpe!.knows(c)) : this.tokenize(text).filter((t) => this.id(t) === UNK_ID);
    return [...new Set(found)];
  }

  /** A one-line warning about what `unseen` found (at most 20 of them), or undefined if nothing. */
  unseenWarning(items: Iterable<string>): string | undefined {
    const list = [...new Set(items)];
    if (list.length === 0) return undefined;
    const what = this.bpe !== undefined ? 'characters the model never saw in training, read as bytes' : `${this.kind === 'char' ? 'characters' : 'words'} the model never saw in training, read as <unk>`;
    return `${what}: ${list.slice(0, 20).join(', ')}${list.length > 20 ? `, … (${list.length} in all)` : ''}`;
  }

  /** The id of one token, unk when it is not in the vocabulary. */
  id(token: string): number {
    return this.ids.get(token) ?? UNK_ID;
  }
}

/** A saved bpe section, checked. */
function checkBpe(value: unknown): BpeModelJSON {
  const v = value as Partial<BpeModelJSON> | undefined;
  if (typeof v !== 'object' || v === null || !Array.isArray(v.alphabet) || !Array.isArray(v.merges)) {
    throw new ModelFormatError(`tokenizer bpe (${show(value)}) must be an object with 'alphabet' and 'merges' arrays`);
  }
  if (!v.alphabet.every((c) => typeof c === 'string' && [...c].length === 1)) throw new ModelFormatError('tokenizer bpe alphabet must hold single characters');
  if (!v.merges.every((m) => Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string')) {
    throw new ModelFormatError('tokenizer bpe merges must be pairs of strings');
  }
  return { alphabet: v.alphabet, merges: v.merges };
}

/** A short, one-line rendering of any JSON value for error messages. */
function show(value: unknown): string {
  if (value === undefined) return 'missing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}
