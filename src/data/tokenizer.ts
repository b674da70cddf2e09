import { ModelFormatError } from '../errors.js';

export const PAD = '<pad>';
export const BOS = '<bos>';
export const EOS = '<eos>';
export const UNK = '<unk>';
export const PAD_ID = 0;
export const BOS_ID = 1;
export const EOS_ID = 2;
export const UNK_ID = 3;
const SPECIALS = [PAD, BOS, EOS, UNK];

export type TokenizerKind = 'char' | 'word';

export interface TokenizerJSON {
  kind: TokenizerKind;
  vocab: string[];
  version: 1;
}

/**
 * Characters split off words as tokens of their own: anything but letters, digits, apostrophes and
 * hyphens ("cheio." → "cheio", "."; "d'água" and "guarda-chuva" stay whole).
 */
const PUNCTUATION = /([^\p{L}\p{M}\p{N}'’-])/u;
const NO_SPACE_BEFORE = new Set(['.', ',', ';', ':', '!', '?', ')', ']', '}', '»', '…', '%']);
const NO_SPACE_AFTER = new Set(['(', '[', '{', '«', '¿', '¡']);

/**
 * Text ↔ token ids, by characters (Unicode code points) or by words (whitespace-separated, with
 * punctuation as separate tokens; case is kept). Ids 0–3 are pad, bos, eos, unk; the rest are the
 * training tokens by descending frequency (ties: first seen first), so a vocabulary is deterministic.
 */
export class Tokenizer {
  readonly kind: TokenizerKind;
  readonly vocab: readonly string[];
  private readonly index: Map<string, number>;

  private constructor(kind: TokenizerKind, vocab: string[]) {
    this.kind = kind;
    this.vocab = vocab;
    this.index = new Map(vocab.map((t, i) => [t, i]));
  }

  /** Build a vocabulary from training texts. */
  static build(kind: TokenizerKind, texts: Iterable<string>, options: { minCount?: number; maxVocab?: number } = {}): Tokenizer {
    const counts = new Map<string, number>();
    const probe = new Tokenizer(kind, [...SPECIALS]);
    for (const text of texts) {
      for (const token of probe.tokenize(text)) counts.set(token, (counts.get(token) ?? 0) + 1);
    }
    const minCount = options.minCount ?? 1;
    // Map iteration follows insertion (first appearance); a stable sort keeps that order for ties.
    const ranked = [...counts.entries()].filter(([t, c]) => c >= minCount && !SPECIALS.includes(t)).sort((a, b) => b[1] - a[1]);
    const limit = options.maxVocab === undefined ? ranked.length : Math.max(0, options.maxVocab - SPECIALS.length);
    return new Tokenizer(kind, [...SPECIALS, ...ranked.slice(0, limit).map(([t]) => t)]);
  }

  /** Read a saved vocabulary, checking its structure. */
  static fromJSON(json: unknown): Tokenizer {
    const j = json as Partial<TokenizerJSON> | null;
    if (typeof j !== 'object' || j === null) throw new ModelFormatError('tokenizer must be a JSON object');
    if (j.version !== 1) throw new ModelFormatError(`tokenizer version (${String(j.version)}) must be 1`);
    if (j.kind !== 'char' && j.kind !== 'word') throw new ModelFormatError(`tokenizer kind (${String(j.kind)}) must be char or word`);
    if (!Array.isArray(j.vocab) || !j.vocab.every((t) => typeof t === 'string')) throw new ModelFormatError('tokenizer vocab must be an array of strings');
    if (!SPECIALS.every((s, i) => j.vocab![i] === s)) throw new ModelFormatError(`tokenizer vocab must start with ${SPECIALS.join(', ')}`);
    if (new Set(j.vocab).size !== j.vocab.length) throw new ModelFormatError('tokenizer vocab has duplicate tokens');
    return new Tokenizer(j.kind, [...j.vocab]);
  }

  toJSON(): TokenizerJSON {
    return { kind: this.kind, vocab: [...this.vocab], version: 1 };
  }

  get size(): number {
    return this.vocab.length;
  }

  /** Split text into tokens (after Unicode NFC normalisation, so "água" typed either way is the same). */
  tokenize(text: string): string[] {
    const normal = text.normalize('NFC');
    if (this.kind === 'char') return [...normal];
    return normal
      .split(/\s+/u)
      .flatMap((word) => word.split(PUNCTUATION))
      .filter((t) => t !== '');
  }

  /** Text → ids; unknown tokens become unk. */
  encode(text: string, options: { bos?: boolean; eos?: boolean } = {}): number[] {
    const ids = this.tokenize(text).map((t) => this.id(t));
    if (options.bos === true) ids.unshift(BOS_ID);
    if (options.eos === true) ids.push(EOS_ID);
    return ids;
  }

  /** Ids → tokens, stopping at the first eos and skipping pad and bos. */
  tokensOf(ids: readonly number[]): string[] {
    const tokens: string[] = [];
    for (const id of ids) {
      if (id === EOS_ID) break;
      if (id === PAD_ID || id === BOS_ID) continue;
      tokens.push(this.vocab[id] ?? UNK);
    }
    return tokens;
  }

  /** Ids → text: characters joined, or words joined with spaces except around punctuation. */
  decode(ids: readonly number[]): string {
    const tokens = this.tokensOf(ids);
    if (this.kind === 'char') return tokens.join('');
    let text = '';
    tokens.forEach((t, i) => {
      const glue = i === 0 || NO_SPACE_BEFORE.has(t) || NO_SPACE_AFTER.has(tokens[i - 1]!) ? '' : ' ';
      text += glue + t;
    });
    return text;
  }

  id(token: string): number {
    return this.index.get(token) ?? UNK_ID;
  }
}
