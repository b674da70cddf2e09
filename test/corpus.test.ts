import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError } from '../src/errors.js';
import { describeSkips, holdOut, parseCorpus, readCorpus, type Corpus } from '../src/data/corpus.js';
import type { Pair } from '../src/data/types.js';
import { Random } from '../src/util/random.js';

const bytes = (...parts: (string | number[])[]): Uint8Array =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

function expectDataError(action: () => unknown, message: string): void {
  expect(action).toThrow(new DataError(message));
  expect(action).toThrow(DataError);
}

describe('parseCorpus', () => {
  it('reads one source<TAB>target pair per line', () => {
    const corpus = parseCorpus('um gato\ta cat\ndois\ttwo\n');
    expect(corpus).toEqual({
      pairs: [
        { source: 'um gato', target: 'a cat' },
        { source: 'dois', target: 'two' },
      ],
      lines: 2,
      blank: 0,
      skipped: [],
      duplicates: 0,
    });
  });

  it('accepts strings and bytes alike, with or without a final line break', () => {
    const text = 'água\twater\nsim\tyes';
    expect(parseCorpus(bytes(text))).toEqual(parseCorpus(text));
    expect(parseCorpus(`${text}\n`)).toEqual(parseCorpus(text));
    expect(parseCorpus(text).lines).toBe(2);
  });

  it('ignores columns after the second (Tatoeba / Anki exports)', () => {
    const corpus = parseCorpus('1\tum\tone\textra\n2\tdois\ttwo\n'.replace(/^\d\t/gm, ''));
    expect(corpus.pairs).toEqual([
      { source: 'um', target: 'one' },
      { source: 'dois', target: 'two' },
    ]);
    expect(parseCorpus('Olá.\tHello.\tCC-BY 2.0 (France) Attribution: tatoeba.org #123\t\t').pairs).toEqual([{ source: 'Olá.', target: 'Hello.' }]);
  });

  it("reads Tatoeba-Challenge's four columns: language codes, then the two sentences", () => {
    const text = 'eng\tpor\tIt\'s me.\tSou eu.\neng\tpor\tAre you famous?\tVocê é famoso?\n';
    expect(parseCorpus(text).pairs).toEqual([
      { source: "It's me.", target: 'Sou eu.' },
      { source: 'Are you famous?', target: 'Você é famoso?' },
    ]);
    // Two short words in the first columns of only some lines is ordinary TSV.
    expect(parseCorpus('um\tone\textra\tmore\ndois\ttwo\n').pairs[0]).toEqual({ source: 'um', target: 'one' });
  });

  it('reads JSON lines ({"src", "tgt"} or {"source", "target"}), skipping lines that are not such a pair', () => {
    const text = ['{"src": "um gato", "tgt": "a cat"}', '{"source": "dois\\tcães", "target": "two dogs"}', '{"src": 3, "tgt": "x"}', '{not json'].join('\n');
    const corpus = parseCorpus(text);
    expect(corpus.pairs).toEqual([
      { source: 'um gato', target: 'a cat' },
      { source: 'dois cães', target: 'two dogs' },
    ]);
    expect(corpus.skipped).toEqual([
      { line: 3, reason: 'not a pair' },
      { line: 4, reason: 'not a pair' },
    ]);
    expect(describeSkips(corpus)).toBe('skipped 2 of 4 lines: 2 that are not a JSON object with src/tgt (or source/target) strings (lines 3, 4)');
  });

  it('drops a UTF-8 BOM and accepts CRLF, CR and LF line endings', () => {
    const expected = [
      { source: 'um', target: 'one' },
      { source: 'dois', target: 'two' },
      { source: 'três', target: 'three' },
    ];
    for (const eol of ['\n', '\r\n', '\r']) {
      const text = ['um\tone', 'dois\ttwo', 'três\tthree', ''].join(eol);
      expect(parseCorpus(text).pairs).toEqual(expected);
      const withBom = parseCorpus(bytes([0xef, 0xbb, 0xbf], text));
      expect(withBom.pairs).toEqual(expected);
      expect(withBom.lines).toBe(3);
    }
    // Mixed endings in one file, BOM in front.
    const mixed = parseCorpus(bytes([0xef, 0xbb, 0xbf], 'um\tone\r\ndois\ttwo\rtrês\tthree\n\r\nquatro\tfour'));
    expect(mixed.pairs.map((p) => p.target)).toEqual(['one', 'two', 'three', 'four']);
    expect(mixed).toMatchObject({ lines: 5, blank: 1 });
    expect(parseCorpus('\uFEFFum\tone').pairs[0]!.source).toBe('um');
  });

  it('trims the fields and normalises them to NFC', () => {
    const corpus = parseCorpus('  a\u0301gua \t water  \t x\n');
    expect(corpus.pairs).toEqual([{ source: 'água', target: 'water' }]);
    expect(corpus.pairs[0]!.source).toBe('\u00e1gua');
  });

  it('counts whitespace-only lines as blank, without reporting them', () => {
    const corpus = parseCorpus('\num\tone\n   \n\t\n \t \ndois\ttwo\n\n');
    expect(corpus).toMatchObject({ lines: 7, blank: 5, skipped: [], duplicates: 0 });
    expect(corpus.pairs).toHaveLength(2);
  });

  it('skips lines without a tab or with an empty field, giving line and reason', () => {
    const corpus = parseCorpus(['um\tone', 'no tab here', '\ttwo', 'três\t', '  \t  x', 'y\t   ', '\t\tempty', 'quatro\tfour'].join('\n'));
    expect(corpus.pairs.map((p) => p.source)).toEqual(['um', 'quatro']);
    expect(corpus.skipped).toEqual([
      { line: 2, reason: 'no tab' },
      { line: 3, reason: 'empty source' },
      { line: 4, reason: 'empty target' },
      { line: 5, reason: 'empty source' },
      { line: 6, reason: 'empty target' },
      { line: 7, reason: 'empty source' },
    ]);
    expect(corpus.lines).toBe(8);
  });

  it('removes duplicate pairs after trimming, keeping the first', () => {
    const corpus = parseCorpus('um\tone\num \t one\num\tanother one\ndois\ttwo\num\tone\nu\u0301m\tone\n');
    expect(corpus.pairs).toEqual([
      { source: 'um', target: 'one' },
      { source: 'um', target: 'another one' },
      { source: 'dois', target: 'two' },
      { source: 'úm', target: 'one' },
    ]);
    expect(corpus.duplicates).toBe(2);
  });

  it('handles a 1 MB line', () => {
    const long = 'á'.repeat(512 * 1024); // 2 bytes each
    const corpus = parseCorpus(bytes(`short\tpair\n${long}\t${long.toUpperCase()}\n`));
    expect(corpus.pairs).toHaveLength(2);
    expect(corpus.pairs[1]!.source).toHaveLength(512 * 1024);
    expect(corpus.pairs[1]!.target.startsWith('ÁÁÁ')).toBe(true);
  });

  it('rejects invalid UTF-8, naming the line of the first bad byte', () => {
    expectDataError(() => parseCorpus(bytes([0xff])), 'corpus is not valid UTF-8 (first bad byte on line 1)');
    // Latin-1 "naïve" on line 2.
    expectDataError(() => parseCorpus(Buffer.from('ok\tfine\nna\xefve\tnaive\n', 'latin1')), 'corpus is not valid UTF-8 (first bad byte on line 2)');
    expectDataError(() => parseCorpus(bytes('a\tb\r\nc\td\r\n', [0xc3, 0x28]), 'pairs.tsv'), 'pairs.tsv is not valid UTF-8 (first bad byte on line 3)');
    expectDataError(() => parseCorpus(bytes('a\tb\rc\td\r\re\t', [0x80])), 'corpus is not valid UTF-8 (first bad byte on line 4)');
    // A sequence cut short by a line break belongs to the line it started on.
    expectDataError(() => parseCorpus(bytes('a\tb\nc\t', [0xe2, 0x82], '\nd\te')), 'corpus is not valid UTF-8 (first bad byte on line 2)');
    // A sequence cut short by the end of the file.
    expectDataError(() => parseCorpus(bytes('a\tb\nc\td\n', [0xf0, 0x9f])), 'corpus is not valid UTF-8 (first bad byte on line 3)');
    // Overlong encodings and UTF-16 surrogates are not UTF-8 either.
    expectDataError(() => parseCorpus(bytes('x\ty\n', [0xc0, 0xaf])), 'corpus is not valid UTF-8 (first bad byte on line 2)');
    expectDataError(() => parseCorpus(bytes('x\ty\n\n', [0xed, 0xa0, 0x80])), 'corpus is not valid UTF-8 (first bad byte on line 3)');
  });

  it('fails when no usable pair remains', () => {
    expectDataError(() => parseCorpus('just text\nmore text\n'), "corpus has no usable pairs (expected 'source<TAB>target' per line; 2 lines, 2 skipped)");
    expectDataError(() => parseCorpus('\t\n\n  \n', 'mine.tsv'), "mine.tsv has no usable pairs (expected 'source<TAB>target' per line; 3 lines, 0 skipped)");
    expectDataError(() => parseCorpus('one line'), "corpus has no usable pairs (expected 'source<TAB>target' per line; 1 line, 1 skipped)");
    expectDataError(() => parseCorpus(''), "corpus has no usable pairs (expected 'source<TAB>target' per line; 0 lines, 0 skipped)");
    expectDataError(() => parseCorpus(bytes([0xef, 0xbb, 0xbf])), "corpus has no usable pairs (expected 'source<TAB>target' per line; 0 lines, 0 skipped)");
  });

  it('never crashes on random bytes: a Corpus or a DataError', () => {
    const random = new Random(2024);
    // Pure noise is almost never UTF-8, so two thirds of the buffers are text-like pieces (with and
    // without tabs) and a rare random byte: some decode to pairs, some to nothing usable.
    const pieces = ['a', 'b', ' ', '\n', '\r', '\r\n', 'á', '€', '😀', '\uFEFF'].map((p) => [...Buffer.from(p)]);
    const tab = [0x09];
    const outcomes = { corpus: 0, invalid: 0, empty: 0 };
    for (let run = 0; run < 200; run++) {
      const length = random.int(0, 2000);
      const mode = run % 3;
      const chunks: number[] = [];
      while (chunks.length < length) {
        if (mode === 0 || random.next() < 0.001) chunks.push(random.int(0, 255));
        else chunks.push(...(mode === 1 && random.next() < 0.1 ? tab : random.pick(pieces)));
      }
      const buffer = Uint8Array.from(chunks.slice(0, length));
      try {
        const corpus = parseCorpus(buffer);
        outcomes.corpus++;
        expect(corpus.pairs.length).toBeGreaterThan(0);
        expect(corpus.blank + corpus.skipped.length + corpus.pairs.length + corpus.duplicates).toBe(corpus.lines);
      } catch (error) {
        expect(error).toBeInstanceOf(DataError);
        const message = (error as Error).message;
        expect(message).toMatch(/^corpus (is not valid UTF-8 \(first bad byte on line \d+\)|has no usable pairs \(.*\))$/);
        if (message.includes('UTF-8')) outcomes.invalid++;
        else outcomes.empty++;
      }
    }
    // Each outcome really happened, so the loop exercised all three paths.
    expect(outcomes.corpus).toBeGreaterThan(0);
    expect(outcomes.invalid).toBeGreaterThan(0);
    expect(outcomes.empty).toBeGreaterThan(0);
  });

  it('finds the same line for a bad byte as a plain line count does', () => {
    const random = new Random(7);
    for (let run = 0; run < 50; run++) {
      const lines = Array.from({ length: random.int(1, 30) }, () => `s${random.int(0, 99)}\tt`);
      const bad = random.int(0, lines.length - 1);
      const eol = random.pick(['\n', '\r\n', '\r']);
      const buffer = bytes(lines.slice(0, bad).map((l) => l + eol).join(''), 'x', [random.pick([0x80, 0xff, 0xc0, 0xfe])], `\t${eol}`, lines.slice(bad).join(eol));
      expectDataError(() => parseCorpus(buffer), `corpus is not valid UTF-8 (first bad byte on line ${bad + 1})`);
    }
  });
});

describe('readCorpus', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'atencao-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file, BOM and CRLF together', () => {
    const file = join(dir, 'pairs.tsv');
    writeFileSync(file, '\uFEFFum gato\ta cat\tCC-BY\r\ndois\ttwo\r\n\r\nsem tab\r\n');
    const corpus = readCorpus(file);
    expect(corpus.pairs).toEqual([
      { source: 'um gato', target: 'a cat' },
      { source: 'dois', target: 'two' },
    ]);
    expect(corpus).toMatchObject({ lines: 4, blank: 1, skipped: [{ line: 4, reason: 'no tab' }] });
  });

  it('names the path when the file is missing, a directory, or empty', () => {
    const missing = join(dir, 'nope.tsv');
    expectDataError(() => readCorpus(missing), `corpus file '${missing}' not found`);
    expectDataError(() => readCorpus(join(dir, 'pairs.tsv', 'inside')), `corpus file '${join(dir, 'pairs.tsv', 'inside')}' not found`);
    const folder = join(dir, 'folder');
    mkdirSync(folder);
    expectDataError(() => readCorpus(folder), `corpus file '${folder}' is a directory`);
    const empty = join(dir, 'empty.tsv');
    writeFileSync(empty, '');
    expectDataError(() => readCorpus(empty), `corpus file '${empty}' is empty`);
  });

  it.skipIf(process.getuid?.() === 0 || process.platform === 'win32')('names the path when the file cannot be read', () => {
    const locked = join(dir, 'locked.tsv');
    writeFileSync(locked, 'a\tb\n');
    chmodSync(locked, 0o000);
    expectDataError(() => readCorpus(locked), `corpus file '${locked}' cannot be read (permission denied)`);
  });

  it('uses the path in content errors too', () => {
    const latin1 = join(dir, 'latin1.tsv');
    writeFileSync(latin1, Buffer.from('ok\tfine\nna\xefve\tnaive\n', 'latin1'));
    expectDataError(() => readCorpus(latin1), `corpus file '${latin1}' is not valid UTF-8 (first bad byte on line 2)`);
    const noTabs = join(dir, 'notabs.txt');
    writeFileSync(noTabs, 'just text\nmore text\n');
    expectDataError(() => readCorpus(noTabs), `corpus file '${noTabs}' has no usable pairs (expected 'source<TAB>target' per line; 2 lines, 2 skipped)`);
  });
});

describe('holdOut', () => {
  const pairs: Pair[] = Array.from({ length: 20 }, (_, i) => ({ source: `s${i}`, target: `t${i}` }));
  const key = (p: Pair) => p.source;

  it('splits all pairs into two disjoint sides of the requested size', () => {
    const { train, valid } = holdOut(pairs, 0.25, 1);
    expect(valid).toHaveLength(5);
    expect(train).toHaveLength(15);
    expect([...train, ...valid].map(key).sort()).toEqual(pairs.map(key).sort());
  });

  it('is deterministic for a seed and different across seeds', () => {
    expect(holdOut(pairs, 0.25, 1)).toEqual(holdOut(pairs, 0.25, 1));
    expect(holdOut(pairs, 0.25, 1).valid.map(key)).not.toEqual(holdOut(pairs, 0.25, 2).valid.map(key));
    // A shuffle, not the last rows of the file.
    expect(holdOut(pairs, 0.25, 1).valid.map(key)).not.toEqual(pairs.slice(15).map(key));
  });

  it('leaves the input untouched', () => {
    const copy = pairs.map((p) => ({ ...p }));
    holdOut(pairs, 0.5, 3);
    expect(pairs).toEqual(copy);
  });

  it('rounds the size but keeps at least one pair on each side', () => {
    expect(holdOut(pairs, 0.01, 1).valid).toHaveLength(1);
    expect(holdOut(pairs, 0.99, 1).train).toHaveLength(1);
    expect(holdOut(pairs, 0.11, 1).valid).toHaveLength(2); // 2.2 → 2
    expect(holdOut(pairs.slice(0, 2), 0.5, 1).valid).toHaveLength(1);
    expect(holdOut(pairs.slice(0, 2), 0.05, 1).train).toHaveLength(1);
  });

  it.each([0, 1, -0.1, 1.5, Number.NaN])('rejects a fraction of %d', (fraction) => {
    expectDataError(() => holdOut(pairs, fraction, 1), `held-out fraction (${fraction}) must be between 0 and 1`);
  });

  it('needs two pairs', () => {
    expectDataError(() => holdOut(pairs.slice(0, 1), 0.5, 1), 'cannot hold out validation pairs from 1 pair (at least 2 are needed)');
    expectDataError(() => holdOut([], 0.5, 1), 'cannot hold out validation pairs from 0 pairs (at least 2 are needed)');
  });
});

describe('describeSkips', () => {
  const corpus = (over: Partial<Corpus>): Corpus => ({ pairs: [{ source: 'a', target: 'b' }], lines: 120, blank: 0, skipped: [], duplicates: 0, ...over });

  it('is empty when nothing was left out (blank lines are not worth a mention)', () => {
    expect(describeSkips(corpus({ blank: 7 }))).toBe('');
  });

  it('groups skipped lines by reason and counts duplicates', () => {
    const skipped = [
      { line: 4, reason: 'no tab' },
      { line: 9, reason: 'no tab' },
      { line: 17, reason: 'empty target' },
    ] as const;
    expect(describeSkips(corpus({ skipped: [...skipped], duplicates: 5 }))).toBe(
      'skipped 3 of 120 lines: 2 without a tab (lines 4, 9), 1 with an empty target (line 17); removed 5 duplicate pairs',
    );
    expect(describeSkips(corpus({ skipped: [{ line: 3, reason: 'empty source' }] }))).toBe('skipped 1 of 120 lines: 1 with an empty source (line 3)');
    expect(describeSkips(corpus({ duplicates: 1 }))).toBe('removed 1 duplicate pair');
  });

  it('lists at most 10 line numbers per reason', () => {
    const skipped = Array.from({ length: 12 }, (_, i) => ({ line: i + 1, reason: 'no tab' as const }));
    expect(describeSkips(corpus({ skipped }))).toBe('skipped 12 of 120 lines: 12 without a tab (lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, …)');
  });

  it('describes a parsed corpus', () => {
    const parsed = parseCorpus('a\tb\nno tab\na\tb\n\t\n\tx\nc\td\n');
    expect(describeSkips(parsed)).toBe('skipped 2 of 6 lines: 1 without a tab (line 2), 1 with an empty source (line 5); removed 1 duplicate pair');
  });
});

it('holdOut keeps every source on one side and caps the validation set', () => {
  // 200 sources with two translations each, as in Tatoeba exports.
  const pairs = Array.from({ length: 200 }, (_, i) => [{ source: `s${i}`, target: `a${i}` }, { source: `s${i}`, target: `b${i}` }]).flat();
  const { train, valid } = holdOut(pairs, 0.1, 3);
  const trainSources = new Set(train.map((p) => p.source));
  expect(valid.some((p) => trainSources.has(p.source))).toBe(false);
  expect(valid.length).toBe(40);
  expect(train.length + valid.length).toBe(400);
  const capped = holdOut(pairs, 0.5, 3, 25);
  expect(capped.valid.length).toBeLessThanOrEqual(26);
  expect(capped.train.length + capped.valid.length).toBe(400);
});
