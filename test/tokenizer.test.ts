import { describe, expect, it } from 'vitest';
import { ConfigError, ModelFormatError } from '../src/errors.js';
import { BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, Tokenizer, UNK, UNK_ID } from '../src/data/tokenizer.js';

const SPECIALS = [PAD, BOS, EOS, UNK];
const PT = 'Ela derramou água da jarra para o copo até que ficasse cheio.';
const EN = 'She poured water from the jug into the glass until the glass was full.';

it('keeps the special tokens first, in a fixed order', () => {
  expect([PAD_ID, BOS_ID, EOS_ID, UNK_ID]).toEqual([0, 1, 2, 3]);
  expect(SPECIALS).toEqual(['<pad>', '<bos>', '<eos>', '<unk>']);
  expect(Tokenizer.build('word', []).vocab).toEqual(SPECIALS);
});

describe('word tokenizer', () => {
  // Tokens: the cat sat . | the dog sat on the mat .
  // Counts: the 3, sat 2, . 2, cat 1, dog 1, on 1, mat 1 (ties in order of first appearance).
  const words = Tokenizer.build('word', ['the cat sat.', 'the dog sat on the mat.']);

  it('orders the vocabulary by frequency, ties by first appearance', () => {
    expect(words.kind).toBe('word');
    expect(words.vocab).toEqual([...SPECIALS, 'the', 'sat', '.', 'cat', 'dog', 'on', 'mat']);
    expect(words.size).toBe(11);
    expect(words.id('the')).toBe(4);
    expect(words.id('mat')).toBe(10);
    expect(words.id('bird')).toBe(UNK_ID);
  });

  it('encodes with optional bos/eos and maps unknown words to unk', () => {
    expect(words.encode('the cat sat.')).toEqual([4, 7, 5, 6]);
    expect(words.encode('the cat sat.', { bos: true, eos: true })).toEqual([1, 4, 7, 5, 6, 2]);
    expect(words.encode('the bird sat', { eos: true })).toEqual([4, 3, 5, 2]);
    expect(words.encode('The cat')).toEqual([3, 7]); // case is kept: "The" is not "the"
    expect(words.encode('')).toEqual([]);
  });

  it('decodes: stops at eos, skips pad and bos, shows unk', () => {
    expect(words.decode([1, 4, 7, 5, 6, 2, 0, 0])).toBe('the cat sat.');
    expect(words.decode([4, 3, 5])).toBe('the <unk> sat');
    expect(words.decode([4, 2, 7])).toBe('the');
    expect(words.decode([0, 1, 4, 0, 8])).toBe('the dog');
    expect(words.decode([4, 99, -1])).toBe('the <unk> <unk>'); // ids outside the vocabulary
    expect(words.decode([])).toBe('');
    expect(words.tokensOf([1, 4, 7, 3, 6, 2, 9])).toEqual(['the', 'cat', '<unk>', '.']);
  });

  it('treats special tokens typed in the text as unknown', () => {
    expect(words.tokenize('the <eos> cat')).toEqual(['the', '<eos>', 'cat']);
    expect(words.encode('the <eos> cat')).toEqual([4, 3, 7]);
    expect(words.id(EOS)).toBe(EOS_ID);
    expect(Tokenizer.build('word', ['<pad> <pad> x']).vocab).toEqual([...SPECIALS, 'x']);
  });

  it('splits punctuation off words', () => {
    expect(words.tokenize(PT)).toEqual(['Ela', 'derramou', 'água', 'da', 'jarra', 'para', 'o', 'copo', 'até', 'que', 'ficasse', 'cheio', '.']);
    expect(words.tokenize('Sim, claro! (Talvez?)')).toEqual(['Sim', ',', 'claro', '!', '(', 'Talvez', '?', ')']);
    expect(words.tokenize('Wait...')).toEqual(['Wait', '.', '.', '.']);
    expect(words.tokenize('  tabs\tand\nnewlines  ')).toEqual(['tabs', 'and', 'newlines']);
  });

  it('keeps apostrophes and hyphens inside words, and decimal points inside numbers', () => {
    expect(words.tokenize("um copo d'água")).toEqual(['um', 'copo', "d'água"]);
    expect(words.tokenize('don’t')).toEqual(['don’t']);
    expect(words.tokenize('o guarda-chuva')).toEqual(['o', 'guarda-chuva']);
    expect(words.tokenize('3.5 km, 1,25 €')).toEqual(['3.5', 'km', ',', '1,25', '€']);
    // Not between two letters: a quote mark or a dash, so a token of its own.
    expect(words.tokenize("'sim' - não")).toEqual(["'", 'sim', "'", '-', 'não']);
    expect(words.tokenize('fim.2')).toEqual(['fim', '.', '2']);
  });

  it('leaves symbols such as currency signs and emoji attached', () => {
    expect(words.tokenize('5€ 👍 x+y')).toEqual(['5€', '👍', 'x+y']);
  });

  it('round-trips normally spaced sentences in both languages', () => {
    const tok = Tokenizer.build('word', [PT, EN]);
    for (const text of [PT, EN]) {
      const ids = tok.encode(text, { bos: true, eos: true });
      expect(ids).not.toContain(UNK_ID);
      expect(tok.decode(ids)).toBe(text);
    }
    expect(tok.tokensOf(tok.encode(EN))).toEqual(tok.tokenize(EN));
    // "the" ×3, then "." and "glass" ×2 ("." was seen first, in the Portuguese sentence).
    expect(tok.vocab.slice(4, 7)).toEqual(['the', '.', 'glass']);
  });

  it('writes no space before closing or after opening punctuation', () => {
    const samples = ['Sim, claro! (Talvez?)', '¿Qué hora es? ¡Ya!', 'Ele disse: «olá».', 'Wait... 50% [sic]', 'um copo d’água; o guarda-chuva.'];
    const tok = Tokenizer.build('word', samples);
    for (const text of samples) expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it('normalises to NFC before splitting', () => {
    const tok = Tokenizer.build('word', ['água']);
    expect(tok.encode('a\u0301gua')).toEqual(tok.encode('água'));
    expect(tok.encode('a\u0301gua')).toEqual([4]);
  });
});

describe('char tokenizer', () => {
  // c 3, then a 2 and b 2 in order of first appearance.
  const chars = Tokenizer.build('char', ['abcc', 'cab']);

  it('orders the vocabulary by frequency, ties by first appearance', () => {
    expect(chars.vocab).toEqual([...SPECIALS, 'c', 'a', 'b']);
  });

  it('encodes, decodes and maps unknown characters to unk', () => {
    expect(chars.encode('abcd', { bos: true, eos: true })).toEqual([1, 5, 6, 4, 3, 2]);
    expect(chars.decode([1, 5, 6, 4, 3, 2, 0])).toBe('abc<unk>');
    expect(chars.tokensOf([6, 6, 2, 5])).toEqual(['b', 'b']);
    expect(chars.encode('a b')).toEqual([5, 3, 6]); // the space was never seen
  });

  it('splits into code points, so accented letters and emoji are single tokens', () => {
    const text = 'Ação 👍🏽!';
    const tok = Tokenizer.build('char', [text]);
    expect(tok.tokenize(text)).toEqual(['A', 'ç', 'ã', 'o', ' ', '👍', '🏽', '!']);
    expect(tok.size).toBe(4 + 8);
    expect(tok.decode(tok.encode(text, { eos: true }))).toBe(text);
  });

  it('normalises to NFC, so a combining accent is the same character', () => {
    const tok = Tokenizer.build('char', ['a\u0301gua']);
    expect(tok.vocab).toEqual([...SPECIALS, 'á', 'g', 'u', 'a']);
    expect(tok.encode('a\u0301gua')).toEqual(tok.encode('água'));
    expect(tok.encode('água')).toEqual([4, 5, 6, 7]);
  });
});

describe('build options', () => {
  const texts = ['a a b c c c', 'd b'];

  it('minCount drops rare tokens', () => {
    expect(Tokenizer.build('word', texts).vocab).toEqual([...SPECIALS, 'c', 'a', 'b', 'd']);
    expect(Tokenizer.build('word', texts, { minCount: 2 }).vocab).toEqual([...SPECIALS, 'c', 'a', 'b']);
    expect(Tokenizer.build('word', texts, { minCount: 3 }).vocab).toEqual([...SPECIALS, 'c']);
    expect(Tokenizer.build('word', texts, { minCount: 3 }).encode('a c')).toEqual([3, 4]);
  });

  it('maxVocab caps the size, specials included, keeping the most frequent', () => {
    expect(Tokenizer.build('word', texts, { maxVocab: 5 }).vocab).toEqual([...SPECIALS, 'c']);
    // a and b both occur twice; a appeared first.
    expect(Tokenizer.build('word', texts, { maxVocab: 6 }).vocab).toEqual([...SPECIALS, 'c', 'a']);
    expect(Tokenizer.build('word', texts, { maxVocab: 4 }).vocab).toEqual(SPECIALS);
    expect(Tokenizer.build('word', texts, { maxVocab: 100 }).size).toBe(8);
    expect(Tokenizer.build('word', texts, { minCount: 2, maxVocab: 6 }).vocab).toEqual([...SPECIALS, 'c', 'a']);
  });

  it('accepts any iterable of texts', () => {
    function* gen(): Generator<string> {
      yield* texts;
    }
    expect(Tokenizer.build('word', gen()).vocab).toEqual(Tokenizer.build('word', texts).vocab);
  });

  it.each([
    [{ minCount: 0 }, 'minCount (0) must be a positive integer'],
    [{ minCount: 1.5 }, 'minCount (1.5) must be a positive integer'],
    [{ maxVocab: 3 }, 'maxVocab (3) must be an integer of at least 4 (the special tokens)'],
    [{ maxVocab: 10.5 }, 'maxVocab (10.5) must be an integer of at least 4 (the special tokens)'],
  ])('rejects %o', (options, message) => {
    expect(() => Tokenizer.build('word', texts, options)).toThrow(new ConfigError(message));
    expect(() => Tokenizer.build('word', texts, options)).toThrow(ConfigError);
  });
});

describe('JSON', () => {
  it('round-trips through toJSON / JSON text / fromJSON', () => {
    for (const tok of [Tokenizer.build('word', [PT, EN]), Tokenizer.build('char', [PT, 'Ação 👍🏽'])]) {
      const json = tok.toJSON();
      expect(json).toEqual({ kind: tok.kind, vocab: [...tok.vocab], version: 1 });
      const back = Tokenizer.fromJSON(JSON.parse(JSON.stringify(json)));
      expect(back.kind).toBe(tok.kind);
      expect(back.vocab).toEqual(tok.vocab);
      expect(back.encode(PT, { eos: true })).toEqual(tok.encode(PT, { eos: true }));
    }
  });

  it('toJSON returns a copy', () => {
    const tok = Tokenizer.build('char', ['ab']);
    tok.toJSON().vocab.push('z');
    expect(tok.size).toBe(6);
  });

  const ok = { kind: 'word', vocab: [...SPECIALS, 'a'], version: 1 };
  it.each([
    [null, 'tokenizer must be a JSON object (got null)'],
    [[1], 'tokenizer must be a JSON object (got [1])'],
    ['word', 'tokenizer must be a JSON object (got "word")'],
    [undefined, 'tokenizer must be a JSON object (got missing)'],
    [{ ...ok, kind: 'bpe' }, `tokenizer bpe (missing) must be an object with 'alphabet' and 'merges' arrays`],
    [{ vocab: ok.vocab, version: 1 }, `tokenizer kind (missing) must be 'char', 'word' or 'bpe'`],
    [{ ...ok, version: 2 }, 'tokenizer version (2) must be 1'],
    [{ ...ok, version: '1' }, 'tokenizer version ("1") must be 1'],
    [{ ...ok, vocab: 'abc' }, 'tokenizer vocab ("abc") must be an array of strings'],
    [{ kind: 'word', version: 1 }, 'tokenizer vocab (missing) must be an array of strings'],
    [{ ...ok, vocab: [...SPECIALS, 'a', 7] }, 'tokenizer vocab[5] (7) must be a string'],
    [{ ...ok, vocab: ['a', ...SPECIALS] }, 'tokenizer vocab must start with <pad>, <bos>, <eos>, <unk>'],
    [{ ...ok, vocab: [PAD, BOS, UNK, EOS] }, 'tokenizer vocab must start with <pad>, <bos>, <eos>, <unk>'],
    [{ ...ok, vocab: [] }, 'tokenizer vocab must start with <pad>, <bos>, <eos>, <unk>'],
    [{ ...ok, vocab: [...SPECIALS, 'a', 'b', 'a'] }, 'tokenizer vocab has "a" twice (ids 4 and 6)'],
    [{ ...ok, vocab: [...SPECIALS, EOS] }, 'tokenizer vocab has "<eos>" twice (ids 2 and 4)'],
    [{ ...ok, kind: 'x'.repeat(100) }, `tokenizer kind ("${'x'.repeat(38)}…) must be 'char', 'word' or 'bpe'`],
  ])('fromJSON(%j) fails with a ModelFormatError', (json, message) => {
    expect(() => Tokenizer.fromJSON(json)).toThrow(new ModelFormatError(message));
    expect(() => Tokenizer.fromJSON(json)).toThrow(ModelFormatError);
  });

  it('fromJSON accepts the minimal vocabulary', () => {
    expect(Tokenizer.fromJSON({ kind: 'char', vocab: SPECIALS, version: 1 }).size).toBe(4);
  });
});
