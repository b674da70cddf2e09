import { readFileSync, statSync } from 'node:fs';
import { DataError } from '../errors.js';
import { Random } from '../util/random.js';
import type { Pair } from './types.js';

export interface SkippedLine {
  /** 1-based line number. */
  line: number;
  reason: 'no tab' | 'empty source' | 'empty target';
}

export interface Corpus {
  pairs: Pair[];
  /** Lines read (including blank and skipped ones). */
  lines: number;
  /** Whitespace-only lines, skipped silently. */
  blank: number;
  skipped: SkippedLine[];
  /** Repeated (source, target) pairs removed, the first kept. */
  duplicates: number;
}

/**
 * Parse a parallel corpus: one `source<TAB>target` pair per line; further columns are ignored, so
 * Tatoeba and Anki exports work as they are. A UTF-8 BOM and CRLF/CR line endings are accepted.
 */
export function parseCorpus(input: Uint8Array | string, name = 'corpus'): Corpus {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch {
      throw new DataError(`${name} is not valid UTF-8 (first bad byte on line ${lineOfFirstBadByte(input)})`);
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rawLines = text.split(/\r\n|\r|\n/);
  if (rawLines.length > 0 && rawLines[rawLines.length - 1] === '') rawLines.pop();
  const corpus: Corpus = { pairs: [], lines: rawLines.length, blank: 0, skipped: [], duplicates: 0 };
  const seen = new Set<string>();
  rawLines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') {
      corpus.blank++;
      return;
    }
    const tab = raw.indexOf('\t');
    if (tab < 0) {
      corpus.skipped.push({ line, reason: 'no tab' });
      return;
    }
    const columns = raw.split('\t');
    const source = clean(columns[0]!);
    const target = clean(columns[1]!);
    if (source === '') return void corpus.skipped.push({ line, reason: 'empty source' });
    if (target === '') return void corpus.skipped.push({ line, reason: 'empty target' });
    const key = `${source}\t${target}`;
    if (seen.has(key)) {
      corpus.duplicates++;
      return;
    }
    seen.add(key);
    corpus.pairs.push({ source, target });
  });
  if (corpus.pairs.length === 0) {
    throw new DataError(
      `${name} has no usable pairs (expected 'source<TAB>target' per line; ${corpus.lines} lines, ${corpus.skipped.length} skipped)`,
    );
  }
  return corpus;
}

/** Read and parse a corpus file; file problems become one-line `DataError`s naming the path. */
export function readCorpus(path: string): Corpus {
  let bytes: Uint8Array;
  try {
    if (statSync(path).isDirectory()) throw new DataError(`corpus file '${path}' is a directory`);
    bytes = readFileSync(path);
  } catch (error) {
    if (error instanceof DataError) throw error;
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') throw new DataError(`corpus file '${path}' not found`, { cause: error });
    throw new DataError(`corpus file '${path}' cannot be read (${code ?? (error as Error).message})`, { cause: error });
  }
  if (bytes.length === 0) throw new DataError(`corpus file '${path}' is empty`);
  return parseCorpus(bytes, `corpus file '${path}'`);
}

/** Split off a held-out fraction after a seeded shuffle; both sides get at least one pair. */
export function holdOut(pairs: readonly Pair[], fraction: number, seed: number): { train: Pair[]; valid: Pair[] } {
  if (!(fraction > 0 && fraction < 1)) throw new DataError(`held-out fraction (${fraction}) must be between 0 and 1`);
  if (pairs.length < 2) throw new DataError(`a corpus of ${pairs.length} pair cannot be split into training and validation pairs`);
  const shuffled = new Random(seed).shuffle([...pairs]);
  const n = Math.min(pairs.length - 1, Math.max(1, Math.round(pairs.length * fraction)));
  return { valid: shuffled.slice(0, n), train: shuffled.slice(n) };
}

/** One line for the user about skipped lines and removed duplicates ('' when there were none). */
export function describeSkips(corpus: Corpus): string {
  const parts: string[] = [];
  const groups: [SkippedLine['reason'], string][] = [
    ['no tab', 'without a tab'],
    ['empty source', 'with an empty source'],
    ['empty target', 'with an empty target'],
  ];
  for (const [reason, text] of groups) {
    const lines = corpus.skipped.filter((s) => s.reason === reason).map((s) => s.line);
    if (lines.length === 0) continue;
    const shown = lines.slice(0, 10).join(', ') + (lines.length > 10 ? ', …' : '');
    parts.push(`${lines.length} ${text} (line${lines.length > 1 ? 's' : ''} ${shown})`);
  }
  const out: string[] = [];
  if (parts.length > 0) out.push(`skipped ${corpus.skipped.length} of ${corpus.lines} lines: ${parts.join(', ')}`);
  if (corpus.duplicates > 0) out.push(`removed ${corpus.duplicates} duplicate pair${corpus.duplicates > 1 ? 's' : ''}`);
  return out.join('; ');
}

function clean(field: string): string {
  return field.replace(/^[ \t]+|[ \t]+$/g, '').normalize('NFC');
}

function lineOfFirstBadByte(bytes: Uint8Array): number {
  let line = 1;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0 || i + need >= bytes.length + (need === 0 ? 1 : 0)) return line;
    for (let k = 1; k <= need; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return line;
    // Overlong 3-byte forms, surrogates and code points past U+10FFFF are invalid too.
    if (need === 2 && ((b === 0xe0 && bytes[i + 1]! < 0xa0) || (b === 0xed && bytes[i + 1]! > 0x9f))) return line;
    if (need === 3 && ((b === 0xf0 && bytes[i + 1]! < 0x90) || (b === 0xf4 && bytes[i + 1]! > 0x8f))) return line;
    if (b === 0x0a) line++;
    i += need + 1;
  }
  return line;
}
