import { describe, expect, it } from 'vitest';
import { BYTE_TOKENS, pieces, SPACE, trainBpe, BpeModel } from '../src/data/bpe.js';
import { ModelFormatError, Tokenizer, UNK_ID } from '../src/index.js';

describe('byte-pair encoding', () => {
  it('cuts text into pieces, the space before a piece kept as ▁', () => {
    expect(pieces('o copo, cheio!')).toEqual(['o', `${SPACE}copo`, ',', `${SPACE}cheio`, '!']);
    expect(pieces('a  b 3.5')).toEqual(['a', SPACE, `${SPACE}b`, `${SPACE}3`, '.', '5']);
  });

  it('learns the merges counted by hand', () => {
    // Pieces "aaab" and "▁aab": pairs (a,a) 2+1 = 3, (a,b) 2, (▁,a) 1 → merge "aa"; after it every pair is seen once.
    const learned = trainBpe(['aaab aab'], { symbols: 10, minCharCount: 1 });
    expect(learned.alphabet).toEqual(['a', 'b', SPACE]);
    expect(learned.merges).toEqual([['a', 'a']]);
    expect(new BpeModel(learned).tokenize('aaab aab')).toEqual(['aa', 'a', 'b', SPACE, 'aa', 'b']);
  });

  it('stops at the symbols asked for, and a rare character is left to bytes', () => {
    const learned = trainBpe(['the cat the hat the mat x'], { symbols: 6, minCharCount: 2 });
    expect(learned.alphabet.length + learned.merges.length).toBe(6);
    expect(learned.alphabet).not.toContain('x'); // seen once
    const model = new BpeModel(learned);
    expect(model.tokenize('x')).toEqual(['<0x78>']);
  });
});

describe('bpe tokenizer', () => {
  const corpus = [
    'Ela derramou água da jarra para o copo até que ficasse cheio.',
    'Ela derramou água da jarra para o copo até que ficasse vazia.',
    'O menino despejou o leite do balde para a caneca.',
    'Use --login "fuzzy" e o arquivo config.json (versão 2.0) — ok?',
  ];
  const tokenizer = Tokenizer.build('bpe', corpus, { vocabSize: 400 });

  it('gives back the text exactly: spacing, punctuation, dashes, quotes, numbers, accents', () => {
    for (const text of [
      ...corpus,
      'Licença Pública Mozilla 2.0, R$ 1.234,56 e 3,5% — «aspas» “curvas” ‘simples’ (parênteses) [colchetes]',
      "It's 10:30 a.m.; don't   worry…  two spaces, a tab\there.",
      'Água, ÁGUA e água: três formas.',
    ]) {
      const ids = tokenizer.encode(text);
      expect(ids).not.toContain(UNK_ID);
      expect(tokenizer.decode(ids)).toBe(text.normalize('NFC'));
    }
  });

  it('never has an unknown input: unseen characters are their UTF-8 bytes', () => {
    const text = '日本 🙂 naïve';
    const tokens = tokenizer.tokenize(text);
    // 日 is E6 97 A5 in UTF-8.
    expect(tokens.slice(0, 3)).toEqual(['<0xE6>', '<0x97>', '<0xA5>']);
    expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
  });

  it('lays out its vocabulary: reserved tokens, 256 bytes, then what it learned, within the size asked for', () => {
    expect(tokenizer.vocab.slice(4, 4 + 256)).toEqual(BYTE_TOKENS);
    expect(tokenizer.size).toBeLessThanOrEqual(400);
    expect(tokenizer.size).toBeGreaterThan(4 + 256);
    expect(Tokenizer.build('bpe', corpus, { vocabSize: 400 }).vocab).toEqual(tokenizer.vocab); // the same texts, the same vocabulary
  });

  it('saves and loads (the vocabulary must match its merges)', () => {
    const json = JSON.parse(JSON.stringify(tokenizer.toJSON()));
    const loaded = Tokenizer.fromJSON(json);
    expect(loaded.encode(corpus[3]!)).toEqual(tokenizer.encode(corpus[3]!));
    json.vocab[300] = 'something else';
    expect(() => Tokenizer.fromJSON(json)).toThrow(ModelFormatError);
    expect(() => Tokenizer.fromJSON({ ...tokenizer.toJSON(), bpe: { alphabet: ['ab'], merges: [] } })).toThrow('tokenizer bpe alphabet must hold single characters');
  });

  it('refuses a vocabulary too small for its byte tokens', () => {
    expect(() => Tokenizer.build('bpe', corpus, { vocabSize: 100 })).toThrow('vocabSize (100) must be an integer of at least 261');
  });
});
