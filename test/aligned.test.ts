import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeSkips, readAlignedCorpus } from '../src/data/corpus.js';
import { DataError } from '../src/errors.js';

describe('a corpus as two aligned files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'atencao-aligned-'));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('pairs line n with line n, skipping lines empty on one side with their number, and keeps tabs out of the pairs', () => {
    const pt = file('a.pt', '\uFEFFum gato\r\ndois\tcães\n\ntrês\nquatro\num gato\n');
    const en = file('a.en', 'a cat\r\ntwo dogs\n\n\nfour\na cat\n');
    const corpus = readAlignedCorpus(pt, en);
    expect(corpus.pairs).toEqual([
      { source: 'um gato', target: 'a cat' },
      { source: 'dois cães', target: 'two dogs' },
      { source: 'quatro', target: 'four' },
    ]);
    expect(corpus.lines).toBe(6);
    expect(corpus.blank).toBe(1);
    expect(corpus.duplicates).toBe(1);
    expect(describeSkips(corpus)).toContain('1 with an empty target (line 4)');
    expect(corpus.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is a different corpus when either side changes', () => {
    const a = readAlignedCorpus(file('b.pt', 'um\n'), file('b.en', 'one\n')).sha256;
    const b = readAlignedCorpus(file('c.pt', 'um\n'), file('c.en', 'One\n')).sha256;
    const c = readAlignedCorpus(file('d.pt', 'Um\n'), file('d.en', 'one\n')).sha256;
    expect(new Set([a, b, c]).size).toBe(3);
  });

  it('refuses files of different lengths with one line naming both counts', () => {
    const pt = file('e.pt', 'um\ndois\ntrês\n');
    const en = file('e.en', 'one\ntwo\n');
    expect(() => readAlignedCorpus(pt, en)).toThrow(DataError);
    expect(() => readAlignedCorpus(pt, en)).toThrow(`'${pt}' has 3 lines but '${en}' has 2: aligned files need one line per sentence on both sides`);
  });

  it('reads sentences that look like JSON or language codes as plain sentences', () => {
    const corpus = readAlignedCorpus(file('f.pt', '{"a": 1}\nen\tpt\tx\ty\n'), file('f.en', '{"b": 2}\nz\n'));
    expect(corpus.pairs).toEqual([
      { source: '{"a": 1}', target: '{"b": 2}' },
      { source: 'en pt x y', target: 'z' },
    ]);
  });
});

describe('what a model never saw', () => {
  it('is the words read as <unk> for word tokens, and the characters outside the alphabet for byte-pair tokens', async () => {
    const { Tokenizer } = await import('../src/data/tokenizer.js');
    const words = Tokenizer.build('word', ['um gato preto', 'um cão']);
    expect(words.unseen('um gato azul e um pássaro azul')).toEqual(['azul', 'e', 'pássaro']);
    expect(words.unseenWarning(['azul'])).toBe('words the model never saw in training, read as <unk>: azul');
    const bpe = Tokenizer.build('bpe', ['um gato preto', 'um cão', 'um gato'], { vocabSize: 300 });
    // "ø" and "ß" are not in the training text; spaces never count.
    expect(bpe.unseen('um gøto  ßß')).toEqual(['ø', 'ß']);
    expect(bpe.unseenWarning(['ø', 'ß'])).toBe('characters the model never saw in training, read as bytes: ø, ß');
    expect(bpe.unseenWarning([])).toBeUndefined();
  });
});
