import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { DataError } from '../errors.js';
import { Random } from '../util/random.js';
import type { Pair } from './types.js';

export interface SkippedLine {
  /** 1-based line number. */
  line: number;
  reason: 'no tab' | 'not a pair' | 'empty source' | 'empty target';
}

export interface Corpus {
  /** Usable pairs in file order, duplicates removed. */
  pairs: Pair[];
  /** Lines in the file, blank and skipped ones included. */
  lines: number;
  /** Whitespace-only lines, skipped without a mention. */
  blank: number;
  /** Lines that are not a pair, in file order. */
  skipped: SkippedLine[];
  /** Repeated (source, target) pairs removed, the first of each kept. */
  duplicates: number;
}

/** At most this many line numbers per reason in `describeSkips`, to keep it one readable line. */
const MAX_LINES_SHOWN = 10;

/**
 * Parse a parallel corpus: one `source<TAB>target` pair per line. Further columns are ignored, so
 * Tatoeba and Anki exports work as they are; Tatoeba-Challenge's files (two language codes, then
 * the two sentences) and JSON lines ({"src": …, "tgt": …}) are recognised from their first lines.
 * A UTF-8 BOM and CRLF or CR line endings are accepted.
 * Fields are trimmed and NFC-normalised, so the same sentence typed two ways is one pair.
 */
export function parseCorpus(bytes: Uint8Array | string, name = 'corpus', layout?: 'tsv'): Corpus {
  let text = typeof bytes === 'string' ? bytes : decodeUtf8(bytes, name);
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  const rows = text.split(/\r\n|\r|\n/);
  // A final line break ends the last line rather than starting an empty one.
  if (rows[rows.length - 1] === '') rows.pop();

  const corpus: Corpus = { pairs: [], lines: rows.length, blank: 0, skipped: [], duplicates: 0 };
  const seen = new Set<string>();
  const format = layout ?? layoutOf(rows);
  rows.forEach((row, i) => {
    const line = i + 1;
    if (row.trim() === '') {
      corpus.blank++;
      return;
    }
    const fields = format === 'jsonl' ? jsonFields(row) : row.split('\t');
    if (fields === undefined) return void corpus.skipped.push({ line, reason: 'not a pair' });
    // Tatoeba-Challenge lines are "eng<TAB>por<TAB>sentence<TAB>sentence": the sentences are columns 3 and 4.
    const columns = format === 'tatoeba' && fields.length >= 4 ? fields.slice(2) : fields;
    if (columns.length < 2) return void corpus.skipped.push({ line, reason: 'no tab' });
    const source = clean(columns[0]!);
    const target = clean(columns[1]!);
    if (source === '') return void corpus.skipped.push({ line, reason: 'empty source' });
    if (target === '') return void corpus.skipped.push({ line, reason: 'empty target' });
    // Fields hold no tab, so joining with one gives a unique key.
    const key = `${source}\t${target}`;
    if (seen.has(key)) return void corpus.duplicates++;
    seen.add(key);
    corpus.pairs.push({ source, target });
  });

  if (corpus.pairs.length === 0) {
    const lines = `${corpus.lines} line${corpus.lines === 1 ? '' : 's'}`;
    throw new DataError(`${name} has no usable pairs (expected 'source<TAB>target' per line; ${lines}, ${corpus.skipped.length} skipped)`);
  }
  return corpus;
}

/** Language codes as Tatoeba-Challenge writes them: "eng", "por", "pt_BR", "cmn_Hans". */
const LANGUAGE_CODE = /^[a-z]{2,3}(_[A-Za-z]+)?$/;

/**
 * How the lines hold their pairs: JSON objects ({"src": …, "tgt": …} or {"source": …, "target": …}),
 * Tatoeba-Challenge's four columns (two language codes, then the sentences), or plain TSV.
 * Decided from the first non-blank lines (up to 20), so a stray line does not change it.
 */
function layoutOf(rows: readonly string[]): 'jsonl' | 'tatoeba' | 'tsv' {
  const sample = rows.filter((r) => r.trim() !== '').slice(0, 20);
  if (sample.length === 0) return 'tsv';
  if (sample.every((r) => r.trimStart().startsWith('{'))) return 'jsonl';
  const coded = (r: string) => {
    const c = r.split('\t');
    return c.length >= 4 && LANGUAGE_CODE.test(c[0]!) && LANGUAGE_CODE.test(c[1]!);
  };
  return sample.every(coded) ? 'tatoeba' : 'tsv';
}

/** A JSON line's two sentences, or undefined when it is not an object with two string fields. */
function jsonFields(row: string): [string, string] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(row);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const o = value as Record<string, unknown>;
  const source = o.src ?? o.source;
  const target = o.tgt ?? o.target;
  if (typeof source !== 'string' || typeof target !== 'string') return undefined;
  // Fields of a pair hold no tab (a tab separates them in TSV and in the duplicate check).
  return [source.replaceAll('\t', ' '), target.replaceAll('\t', ' ')];
}

/** Read and parse a corpus file once; `sha256` is the hash of exactly the bytes parsed. */
export function readCorpus(path: string): Corpus & { sha256: string } {
  const label = `corpus file '${path}'`;
  const file = readDataFile(path, label);
  return { ...parseCorpus(file.bytes, label), sha256: file.sha256 };
}

/**
 * Read a corpus kept as two aligned files, line n of one translating line n of the other (as Moses
 * and OPUS ship them): both must have the same number of lines. Line numbers in the skipped
 * lines are those of both files; `sha256` covers both (each file's hash, hashed together).
 */
export function readAlignedCorpus(sourcePath: string, targetPath: string): Corpus & { sha256: string } {
  const lines = (path: string) => {
    const label = `corpus file '${path}'`;
    const file = readDataFile(path, label);
    const rows = decodeUtf8(file.bytes, label).replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
    if (rows[rows.length - 1] === '') rows.pop();
    return { rows, sha256: file.sha256 };
  };
  const source = lines(sourcePath);
  const target = lines(targetPath);
  if (source.rows.length !== target.rows.length) {
    throw new DataError(`'${sourcePath}' has ${source.rows.length} lines but '${targetPath}' has ${target.rows.length}: aligned files need one line per sentence on both sides`);
  }
  // Each pair as a TSV line (a tab inside a sentence becomes a space), parsed as TSV whatever the sentences look like.
  const tsv = source.rows.map((s, i) => `${s.replaceAll('\t', ' ')}\t${target.rows[i]!.replaceAll('\t', ' ')}`).join('\n');
  const corpus = parseCorpus(tsv, `corpus files '${sourcePath}' and '${targetPath}'`, 'tsv');
  const sha256 = createHash('sha256').update(`${source.sha256}\n${target.sha256}`).digest('hex');
  return { ...corpus, sha256 };
}

/**
 * Read a plain-text data file once (`readDataFile`'s checks, strict UTF-8): its non-empty lines,
 * trimmed, in file order (duplicates kept: they are real frequencies), and the hash of its bytes.
 */
export function readTextFile(path: string, label = `text file '${path}'`): { lines: string[]; sha256: string } {
  const file = readDataFile(path, label);
  const text = decodeUtf8(file.bytes, label).replace(/^\uFEFF/, '');
  const lines = text.split(/\r\n|\r|\n/).map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 0) throw new DataError(`${label} has no text (every line is empty)`);
  return { lines, sha256: file.sha256 };
}

/** Largest data file read (corpus or text), and longest line in one. */
export const MAX_DATA_BYTES = 512 * 1024 * 1024;
export const MAX_LINE_BYTES = 1024 * 1024;

/** A data file as read: its bytes, and the SHA-256 of those very bytes. */
export interface DataFile {
  bytes: Uint8Array;
  sha256: string;
}

/**
 * Read a data file once, streaming, so that what is hashed is what is parsed (a FIFO, `<(…)` or a
 * file being rewritten gives one consistent content), and refuse while reading what is no text
 * file: one over MAX_DATA_BYTES, a line over MAX_LINE_BYTES (named by number, before the rest is
 * read), UTF-16 with or without a byte-order mark, NUL bytes. Problems are one DataError line
 * naming `label`.
 */
export function readDataFile(path: string, label = `data file '${path}'`): DataFile {
  let fd: number;
  try {
    if (statSync(path).isDirectory()) throw new DataError(`${label} is a directory`);
    fd = openSync(path, 'r');
  } catch (error) {
    throw readError(error, label);
  }
  try {
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    const scan = new TextScan(label);
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
      const n = readChunk(fd, chunk, label);
      if (n === 0) break;
      const piece = chunk.subarray(0, n);
      total += n;
      if (total > MAX_DATA_BYTES) throw new DataError(`${label} is larger than ${MAX_DATA_BYTES / 2 ** 20} MiB`);
      scan.feed(piece);
      hash.update(piece);
      chunks.push(piece);
    }
    if (total === 0) throw new DataError(`${label} is empty`);
    return { bytes: Buffer.concat(chunks, total), sha256: hash.digest('hex') };
  } finally {
    closeSync(fd);
  }
}

const CHUNK_BYTES = 1024 * 1024;

/** One read; a non-blocking descriptor (standard input as a pipe) that has nothing yet is waited on. */
function readChunk(fd: number, buffer: Buffer, label: string): number {
  for (;;) {
    try {
      return readSync(fd, buffer, 0, buffer.length, null);
    } catch (error) {
      if ((error as { code?: string }).code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      throw readError(error, label);
    }
  }
}

function readError(error: unknown, label: string): DataError {
  if (error instanceof DataError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new DataError(`${label} not found`, { cause: error });
  if (code === 'EISDIR') return new DataError(`${label} is a directory`, { cause: error });
  if (code === 'EACCES' || code === 'EPERM') return new DataError(`${label} cannot be read (permission denied)`, { cause: error });
  return new DataError(`${label} cannot be read (${code ?? (error as Error).message})`, { cause: error });
}

/**
 * What is checked of a data file as its bytes stream by: its encoding (from the first bytes),
 * NUL bytes, and the length of each line (CRLF, CR and LF end one line, as in `parseCorpus`).
 */
class TextScan {
  private line = 1;
  private lineBytes = 0;
  private start = true;
  private lastCR = false;

  constructor(private readonly label: string) {}

  feed(bytes: Uint8Array): void {
    if (this.start) {
      this.start = false;
      checkEncoding(bytes, this.label);
    }
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (b === 0x0a || b === 0x0d) {
        // The LF of a CRLF ends no new line.
        if (!(b === 0x0a && this.lastCR)) this.line++;
        this.lastCR = b === 0x0d;
        this.lineBytes = 0;
        continue;
      }
      this.lastCR = false;
      if (b === 0) throw new DataError(`${this.label} holds NUL bytes (the first on line ${this.line}): a binary file, not text`);
      if (++this.lineBytes > MAX_LINE_BYTES) {
        throw new DataError(`${this.label}: line ${this.line} is longer than ${MAX_LINE_BYTES / 2 ** 20} MiB, the limit for one line (is it text with one example per line?)`);
      }
    }
  }
}

/** UTF-16 and UTF-32 files, with a byte-order mark or without one (every other byte NUL), are named as such. */
function checkEncoding(head: Uint8Array, label: string): void {
  const convert = 'save it as UTF-8';
  if (head[0] === 0xff && head[1] === 0xfe) throw new DataError(`${label} is UTF-16 or UTF-32 (little-endian byte-order mark FF FE), not UTF-8; ${convert}`);
  if (head[0] === 0xfe && head[1] === 0xff) throw new DataError(`${label} is UTF-16 (big-endian byte-order mark FE FF), not UTF-8; ${convert}`);
  if (head[0] === 0 && head[1] === 0 && head[2] === 0xfe && head[3] === 0xff) throw new DataError(`${label} is UTF-32 (big-endian byte-order mark), not UTF-8; ${convert}`);
  const sample = head.subarray(0, 4096 - (Math.min(head.length, 4096) % 2));
  if (sample.length < 4) return;
  let evenNul = 0;
  let oddNul = 0;
  for (let i = 0; i < sample.length; i++) if (sample[i] === 0) i % 2 === 0 ? evenNul++ : oddNul++;
  const half = sample.length / 2;
  // Text in UTF-16 has a NUL beside most ASCII characters, on one side only.
  if (oddNul > 0.3 * half && evenNul < 0.05 * half) throw new DataError(`${label} looks like UTF-16 (little-endian) without a byte-order mark, not UTF-8: every other byte is NUL; ${convert}`);
  if (evenNul > 0.3 * half && oddNul < 0.05 * half) throw new DataError(`${label} looks like UTF-16 (big-endian) without a byte-order mark, not UTF-8: every other byte is NUL; ${convert}`);
}

/** Split off a held-out fraction after a seeded shuffle; both sides get at least one pair. */
export function holdOut(pairs: readonly Pair[], fraction: number, seed: number, maxValid = Infinity): { train: Pair[]; valid: Pair[] } {
  if (!(fraction > 0 && fraction < 1)) throw new DataError(`held-out fraction (${fraction}) must be between 0 and 1`);
  if (pairs.length < 2) {
    throw new DataError(`cannot hold out validation pairs from ${pairs.length} pair${pairs.length === 1 ? '' : 's'} (at least 2 are needed)`);
  }
  // Whole groups of pairs sharing a source go to one side, so no validation source is trained on
  // (Tatoeba-style exports list one sentence with several translations).
  const groups = new Map<string, Pair[]>();
  for (const p of pairs) groups.set(p.source, [...(groups.get(p.source) ?? []), p]);
  const shuffled = new Random(seed).shuffle([...groups.values()]);
  const size = Math.min(pairs.length - 1, Math.max(1, Math.round(pairs.length * fraction)), maxValid);
  const valid: Pair[] = [];
  const train: Pair[] = [];
  for (const group of shuffled) (valid.length < size && valid.length + group.length < pairs.length ? valid : train).push(...group);
  if (train.length === 0) train.push(valid.pop()!);
  return { train, valid };
}

/**
 * One line for the user about what was left out, e.g. "skipped 3 of 120 lines: 2 without a tab
 * (lines 4, 9), 1 with an empty target (line 17); removed 5 duplicate pairs". '' when nothing was.
 */
export function describeSkips(corpus: Corpus): string {
  const reasons: [SkippedLine['reason'], string][] = [
    ['no tab', 'without a tab'],
    ['not a pair', 'that are not a JSON object with src/tgt (or source/target) strings'],
    ['empty source', 'with an empty source'],
    ['empty target', 'with an empty target'],
  ];
  const groups: string[] = [];
  for (const [reason, wording] of reasons) {
    const lines = corpus.skipped.filter((s) => s.reason === reason).map((s) => s.line);
    if (lines.length === 0) continue;
    const shown = lines.slice(0, MAX_LINES_SHOWN).join(', ') + (lines.length > MAX_LINES_SHOWN ? ', …' : '');
    groups.push(`${lines.length} ${wording} (line${lines.length === 1 ? '' : 's'} ${shown})`);
  }
  const parts: string[] = [];
  if (groups.length > 0) parts.push(`skipped ${corpus.skipped.length} of ${corpus.lines} lines: ${groups.join(', ')}`);
  if (corpus.duplicates > 0) parts.push(`removed ${corpus.duplicates} duplicate pair${corpus.duplicates === 1 ? '' : 's'}`);
  return parts.join('; ');
}

/** Trim all whitespace at the ends (spaces, tabs, no-break spaces) and normalise to NFC. */
function clean(field: string): string {
  return field.trim().normalize('NFC');
}

function decodeUtf8(bytes: Uint8Array, name: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new DataError(`${name} is not valid UTF-8 (first bad byte on line ${lineOfFirstBadByte(bytes)})`, { cause: error });
  }
}

/**
 * Let the decoder itself find the error: a streaming decoder accepts every prefix up to the byte
 * that makes the text invalid (an unfinished sequence at the very end only fails when the stream
 * ends). Binary search for the longest accepted prefix, then count the line breaks before it.
 */
function lineOfFirstBadByte(bytes: Uint8Array): number {
  let good = 0;
  let bad = bytes.length + 1;
  while (bad - good > 1) {
    const mid = Math.floor((good + bad) / 2);
    if (acceptsPrefix(bytes.subarray(0, mid))) good = mid;
    else bad = mid;
  }
  let line = 1;
  for (let i = 0; i < good; i++) {
    // CRLF, CR and LF each end one line, as in `parseCorpus`.
    if (bytes[i] === 0x0a || (bytes[i] === 0x0d && bytes[i + 1] !== 0x0a)) line++;
  }
  return line;
}

function acceptsPrefix(prefix: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(prefix, { stream: true });
    return true;
  } catch {
    return false;
  }
}
