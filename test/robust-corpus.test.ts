import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_LINE_BYTES, readCorpus, readDataFile, readTextFile } from '../src/data/corpus.js';
import { DataError } from '../src/errors.js';
import { prepareData, type Reporter } from '../src/train/prepare-data.js';
import { absoluteSpec } from '../src/train/run.js';

const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'atencao-corpus-'));

function dataError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DataError);
    expect((error as Error).message).not.toContain('\n');
    return (error as Error).message;
  }
  throw new Error('no error');
}

function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('a corpus is read once and the hash is of what was parsed', () => {
  it('readCorpus gives the SHA-256 of the file bytes (computed here) with the pairs', () => {
    const text = 'um gato\ta cat\ndois\ttwo\n';
    const file = join(dir, 'pairs.tsv');
    writeFileSync(file, text);
    const corpus = readCorpus(file);
    expect(corpus.sha256).toBe(sha256(text));
    expect(corpus.pairs).toEqual([{ source: 'um gato', target: 'a cat' }, { source: 'dois', target: 'two' }]);
  });

  it('a FIFO is read once: its pairs, and the hash of the bytes that came through it', async () => {
    const fifo = join(dir, 'pairs.fifo');
    execFileSync('mkfifo', [fifo]);
    const text = Array.from({ length: 3000 }, (_, i) => `frase ${i}\tsentence ${i}`).join('\n');
    // The writer is handed its text at start: this process blocks on the FIFO while it reads.
    const writer = spawn(process.execPath, ['-e', 'require("fs").writeFileSync(process.argv[1], process.env.TEXT)', fifo], { stdio: 'ignore', env: { ...process.env, TEXT: text } });
    const corpus = readCorpus(fifo);
    await new Promise((r) => writer.on('close', r));
    expect(corpus.pairs).toHaveLength(3000);
    expect(corpus.sha256).toBe(sha256(text));
  });

  it('readTextFile: trimmed non-empty lines and the hash of the bytes', () => {
    const text = '\uFEFF  first line \r\n\r\nsecond\rthird\n';
    const file = join(dir, 'text.txt');
    writeFileSync(file, text);
    expect(readTextFile(file)).toEqual({ lines: ['first line', 'second', 'third'], sha256: sha256(text) });
    writeFileSync(file, '\n  \n');
    expect(dataError(() => readTextFile(file))).toBe(`text file '${file}' has no text (every line is empty)`);
  });
});

describe('training data preparation reads each file once', () => {
  const quiet: Reporter = { info: () => undefined, warn: () => undefined };

  /** Write `text` into a new FIFO from another process; the FIFO can be read exactly once. */
  function fifoOf(name: string, text: string): { path: string; done: Promise<unknown> } {
    const path = join(dir, name);
    execFileSync('mkfifo', [path]);
    const writer = spawn(process.execPath, ['-e', 'require("fs").writeFileSync(process.argv[1], process.env.TEXT)', path], { stdio: 'ignore', env: { ...process.env, TEXT: text } });
    return { path, done: new Promise((r) => writer.on('close', r)) };
  }

  it('records the SHA-256 of the bytes parsed, for TSV and text files, from FIFOs too (a second read would hang)', async () => {
    const tsv = Array.from({ length: 30 }, (_, i) => `frase ${i}\tsentence ${i}`).join('\n');
    const heldTsv = 'outra\tanother\n';
    const text = `${Array.from({ length: 30 }, (_, i) => `linha ${i % 7} de texto`).join('\n')}\n`;
    const heldText = 'mais texto\n';
    writeFileSync(join(dir, 'prep.tsv'), tsv);
    writeFileSync(join(dir, 'prep.txt'), text);

    const corpus = prepareData({ kind: 'corpus', file: join(dir, 'prep.tsv'), tokenizer: 'word' }, { seed: 1 }, quiet);
    expect(corpus.provenance.sha256).toEqual({ train: sha256(tsv) });
    for (const arch of ['decoder', 'encoder'] as const) {
      const lines = prepareData({ kind: 'text', file: join(dir, 'prep.txt'), tokenizer: 'word' }, { arch, seed: 1 }, quiet);
      expect(lines.provenance.sha256, arch).toEqual({ train: sha256(text) });
    }

    const pairs = fifoOf('prep-train.fifo', tsv);
    const pairsValid = fifoOf('prep-valid.fifo', heldTsv);
    const fromFifo = prepareData({ kind: 'corpus', file: pairs.path, valid: pairsValid.path, tokenizer: 'word' }, { seed: 1 }, quiet);
    await Promise.all([pairs.done, pairsValid.done]);
    expect(fromFifo.provenance.sha256).toEqual({ train: sha256(tsv), valid: sha256(heldTsv) });
    expect(fromFifo.provenance.trainPairs).toBe(28); // 5% of 30 (2 pairs) held out of the training file for the test split

    const lines = fifoOf('prep-text.fifo', text);
    const linesValid = fifoOf('prep-text-valid.fifo', heldText);
    const textFromFifo = prepareData({ kind: 'text', file: lines.path, valid: linesValid.path, tokenizer: 'word' }, { arch: 'decoder', seed: 1 }, quiet);
    await Promise.all([lines.done, linesValid.done]);
    expect(textFromFifo.provenance.sha256).toEqual({ train: sha256(text), valid: sha256(heldText) });
    expect(textFromFifo.provenance.trainPairs).toBe(30);
  });
});

describe('what is not a text file is refused while reading', () => {
  it('an overlong line, named by number and limit, without reading the rest (a 64 MiB line in well under a second)', () => {
    const file = join(dir, 'long.tsv');
    writeFileSync(file, `a\tb\r\nc\td\re\tf\n${'x'.repeat(64 * 2 ** 20)}\tend\n`);
    const start = Date.now();
    expect(dataError(() => readCorpus(file))).toBe(`corpus file '${file}': line 4 is longer than 1 MiB, the limit for one line (is it text with one example per line?)`);
    expect(Date.now() - start).toBeLessThan(1000);
    // Exactly the limit is accepted.
    writeFileSync(file, `${'y'.repeat(MAX_LINE_BYTES - 2)}\tz\n`);
    expect(readCorpus(file).pairs).toHaveLength(1);
  });

  it('UTF-16 and UTF-32, with or without a byte-order mark, are named; NUL bytes are refused with their line', () => {
    const text = 'um gato\ta cat\ndois\ttwo\ntrês\tthree\n';
    const cases: [string, Buffer, string][] = [
      ['le.tsv', Buffer.from(text, 'utf16le'), 'looks like UTF-16 (little-endian) without a byte-order mark, not UTF-8: every other byte is NUL; save it as UTF-8'],
      ['be.tsv', Buffer.from(text, 'utf16le').swap16(), 'looks like UTF-16 (big-endian) without a byte-order mark, not UTF-8: every other byte is NUL; save it as UTF-8'],
      ['le-bom.tsv', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]), 'is UTF-16 or UTF-32 (little-endian byte-order mark FF FE), not UTF-8; save it as UTF-8'],
      ['be-bom.tsv', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(text, 'utf16le').swap16()]), 'is UTF-16 (big-endian byte-order mark FE FF), not UTF-8; save it as UTF-8'],
      ['zeros.tsv', Buffer.alloc(10_000), 'holds NUL bytes (the first on line 1): a binary file, not text'],
      ['nul-line-3.tsv', Buffer.from('a\tb\nc\td\ne\0\tf\n'), 'holds NUL bytes (the first on line 3): a binary file, not text'],
    ];
    for (const [name, bytes, message] of cases) {
      const file = join(dir, name);
      writeFileSync(file, bytes);
      expect(dataError(() => readCorpus(file)), name).toBe(`corpus file '${file}' ${message}`);
      expect(dataError(() => readTextFile(file)), name).toBe(`text file '${file}' ${message}`);
    }
  });

  it('a folder, a missing file and an empty one keep their messages', () => {
    expect(dataError(() => readDataFile(dir, 'x'))).toBe('x is a directory');
    expect(dataError(() => readDataFile(join(dir, 'none'), 'x'))).toBe('x not found');
    writeFileSync(join(dir, 'empty'), '');
    expect(dataError(() => readDataFile(join(dir, 'empty'), 'x'))).toBe('x is empty');
  });
});

describe('the corpus path in config.json', () => {
  it('absoluteSpec makes the data paths absolute and leaves built-in tasks alone', () => {
    expect(absoluteSpec({ kind: 'corpus', file: 'a.tsv', valid: 'sub/b.tsv', tokenizer: 'word' })).toEqual({ kind: 'corpus', file: join(process.cwd(), 'a.tsv'), valid: join(process.cwd(), 'sub/b.tsv'), tokenizer: 'word' });
    expect(absoluteSpec({ kind: 'text', file: '/x/t.txt', tokenizer: 'char' })).toEqual({ kind: 'text', file: '/x/t.txt', tokenizer: 'char' });
    expect(absoluteSpec({ kind: 'task', task: 'copy' })).toEqual({ kind: 'task', task: 'copy' });
  });

  it('is stored absolute with its hash, so --resume works from another folder', () => {
    const work = mkdtempSync(join(tmpdir(), 'atencao-cwd-'));
    const text = Array.from({ length: 40 }, (_, i) => `a${i % 7} b${i % 5}\tc${i % 7} d${i % 5}`).join('\n');
    writeFileSync(join(work, 'pairs.tsv'), text);
    const tiny = ['--d-model', '16', '--heads', '2', '--layers', '1', '--d-ff', '32', '--batch-size', '8', '--valid-every', '2', '--backend', 'wasm'];
    const made = spawnSync(process.execPath, [CLI, 'train', '--data', 'pairs.tsv', ...tiny, '--steps', '2', '--out', 'm'], { cwd: work, encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(work, 'm', 'config.json'), 'utf8'));
    expect(config.data.spec.file).toBe(join(work, 'pairs.tsv'));
    expect(config.data.sha256.train).toBe(sha256(text));
    const resumed = spawnSync(process.execPath, [CLI, 'train', '--out', join(work, 'm'), '--resume', '--steps', '3'], { cwd: tmpdir(), encoding: 'utf8' });
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('resuming at step 2 of 3');
  }, 60_000);
});
