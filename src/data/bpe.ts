/**
 * Byte-pair encoding (Sennrich et al. 2016) learned from a corpus, with byte fallback.
 *
 * Text is cut into pieces first — a run of letters, of digits, of other symbols, or of spaces —
 * and a single space before a piece becomes part of it, written "▁" (U+2581): "o copo." is the
 * pieces "o", "▁copo", ".". Each piece starts as its characters; training repeatedly merges
 * the most frequent adjacent pair of symbols (counted over the corpus's pieces) into one new
 * symbol, until the vocabulary has the size asked for. Encoding replays the merges in the order
 * they were learned. A character the training text never had (or had too rarely) is written as
 * the bytes of its UTF-8 encoding, tokens "<0x00>" … "<0xFF>", so no input is ever unknown.
 * Decoding concatenates the symbols, turns byte tokens back into characters and "▁" into spaces:
 * it gives back the normalised (NFC) text exactly, spacing and punctuation as written.
 */

/** Marks the space before a piece ("▁copo" is " copo"). */
export const SPACE = '\u2581';

/** A piece: optional space, then letters (with marks), or digits, or other non-space symbols; or spaces. */
const PIECE = / ?[\p{L}\p{M}]+| ?\p{N}+| ?[^\s\p{L}\p{M}\p{N}]+|\s+(?!\S)|\s+/gu;

/** The 256 byte tokens, in byte order. */
export const BYTE_TOKENS: readonly string[] = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
const BYTE_OF = new Map(BYTE_TOKENS.map((t, b) => [t, b]));
const UTF8 = new TextEncoder();
const FROM_UTF8 = new TextDecoder();

/** Cut normalised text into pieces, a leading space written as "▁". */
export function pieces(text: string): string[] {
  return (text.match(PIECE) ?? []).map((p) => p.replaceAll(' ', SPACE));
}

export interface BpeOptions {
  /** Symbols to learn: characters kept plus merges (the caller subtracts reserved and byte tokens). */
  symbols: number;
  /** Characters seen fewer times than this are left to byte fallback. Default 2. */
  minCharCount?: number;
}

/** What training learns: the characters kept as symbols, and the merges in the order learned. */
export interface BpeModelJSON {
  alphabet: string[];
  merges: [string, string][];
}

/**
 * Learn an alphabet and merges from texts. Counts are kept per distinct piece and updated only
 * where a merge changes something, so a corpus of thousands of sentences trains in about a second.
 * Ties between pairs go to the pair seen first, so the same texts always give the same merges.
 */
export function trainBpe(texts: Iterable<string>, options: BpeOptions): BpeModelJSON {
  const minCharCount = options.minCharCount ?? 2;
  const pieceCounts = new Map<string, number>();
  for (const text of texts) for (const p of pieces(text.normalize('NFC'))) pieceCounts.set(p, (pieceCounts.get(p) ?? 0) + 1);
  const charCounts = new Map<string, number>();
  for (const [p, n] of pieceCounts) for (const c of p) charCounts.set(c, (charCounts.get(c) ?? 0) + n);
  const alphabet = [...charCounts]
    .filter(([, n]) => n >= minCharCount)
    .sort((a, b) => b[1] - a[1])
    .slice(0, Math.max(0, options.symbols))
    .map(([c]) => c);
  const known = new Set(alphabet);
  // Each distinct piece as symbols; a character outside the alphabet splits the piece (it is bytes there).
  const words: { symbols: string[]; count: number }[] = [];
  for (const [p, count] of pieceCounts) {
    let run: string[] = [];
    for (const c of p) {
      if (known.has(c)) run.push(c);
      else if (run.length > 0) {
        words.push({ symbols: run, count });
        run = [];
      }
    }
    if (run.length > 0) words.push({ symbols: run, count });
  }
  const pairCounts = new Map<string, number>();
  const where = new Map<string, Set<number>>();
  const key = (a: string, b: string) => `${a}\u0000${b}`;
  const add = (w: number, a: string, b: string, n: number) => {
    const k = key(a, b);
    pairCounts.set(k, (pairCounts.get(k) ?? 0) + n);
    let s = where.get(k);
    if (s === undefined) where.set(k, (s = new Set()));
    s.add(w);
  };
  words.forEach((word, w) => {
    for (let i = 0; i + 1 < word.symbols.length; i++) add(w, word.symbols[i]!, word.symbols[i + 1]!, word.count);
  });
  const merges: [string, string][] = [];
  const budget = options.symbols - alphabet.length;
  while (merges.length < budget) {
    let best: string | undefined;
    let bestCount = 1; // a pair seen once is not worth a symbol
    for (const [k, n] of pairCounts) {
      if (n > bestCount) {
        best = k;
        bestCount = n;
      }
    }
    if (best === undefined) break;
    const [a, b] = best.split('\u0000') as [string, string];
    const merged = a + b;
    merges.push([a, b]);
    for (const w of where.get(best) ?? []) {
      const word = words[w]!;
      const s = word.symbols;
      // Take this word's pairs out, merge, put its pairs back.
      for (let i = 0; i + 1 < s.length; i++) pairCounts.set(key(s[i]!, s[i + 1]!), pairCounts.get(key(s[i]!, s[i + 1]!))! - word.count);
      const next: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          next.push(merged);
          i++;
        } else next.push(s[i]!);
      }
      word.symbols = next;
      for (let i = 0; i + 1 < next.length; i++) add(w, next[i]!, next[i + 1]!, word.count);
    }
    pairCounts.delete(best);
    where.delete(best);
  }
  return { alphabet, merges };
}

/** Encoding and decoding with learned merges. */
export class BpeModel {
  private readonly known: ReadonlySet<string>;
  private readonly rank: ReadonlyMap<string, number>;
  private readonly cache = new Map<string, string[]>();

  constructor(readonly json: BpeModelJSON) {
    this.known = new Set(json.alphabet);
    this.rank = new Map(json.merges.map(([a, b], i) => [`${a}\u0000${b}`, i]));
  }

  /** Whether a character is in the alphabet (else it is encoded as its UTF-8 bytes). */
  knows(character: string): boolean {
    return this.known.has(character);
  }

  /** Every symbol this model can produce besides byte tokens: the alphabet, then each merge's result. */
  symbols(): string[] {
    return [...this.json.alphabet, ...this.json.merges.map(([a, b]) => a + b)];
  }

  /** Normalised text → symbols (byte tokens for characters outside the alphabet). */
  tokenize(text: string): string[] {
    const out: string[] = [];
    for (const piece of pieces(text)) {
      let symbols = this.cache.get(piece);
      if (symbols === undefined) {
        symbols = this.encodePiece(piece);
        if (this.cache.size < 100_000) this.cache.set(piece, symbols);
      }
      out.push(...symbols);
    }
    return out;
  }

  /** Symbols → text: concatenated, byte tokens decoded as UTF-8, "▁" as a space. */
  detokenize(symbols: readonly string[]): string {
    let text = '';
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length > 0) text += FROM_UTF8.decode(new Uint8Array(bytes));
      bytes = [];
    };
    for (const s of symbols) {
      const byte = BYTE_OF.get(s);
      if (byte !== undefined) bytes.push(byte);
      else {
        flush();
        text += s;
      }
    }
    flush();
    return text.replaceAll(SPACE, ' ');
  }

  private encodePiece(piece: string): string[] {
    // Runs of known characters are merged; anything else is its UTF-8 bytes.
    const out: string[] = [];
    let run: string[] = [];
    const mergeRun = () => {
      out.push(...this.merge(run));
      run = [];
    };
    for (const c of piece) {
      if (this.known.has(c)) run.push(c);
      else {
        mergeRun();
        for (const b of UTF8.encode(c)) out.push(BYTE_TOKENS[b]!);
      }
    }
    mergeRun();
    return out;
  }

  /** Apply the merges to one run of symbols, lowest rank (learned first) first. */
  private merge(symbols: string[]): string[] {
    const s = [...symbols];
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < s.length; i++) {
        const r = this.rank.get(`${s[i]}\u0000${s[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) return s;
      const [a, b] = this.json.merges[bestRank]!;
      for (let i = 0; i + 1 < s.length; i++) {
        if (s[i] === a && s[i + 1] === b) s.splice(i, 2, a + b);
      }
    }
  }
}
