import { describe, expect, it } from 'vitest';
import { learnCasing, normalizeText, restoreCase } from '../src/data/case.js';
import { Tokenizer } from '../src/data/tokenizer.js';
import { ModelFormatError } from '../src/errors.js';

const TEXTS = ['Tom likes Paris.', 'I saw Tom in Paris.', 'Mary and I are here.', 'The cat is black.', 'Where is the cat?', 'ok, the iPhone is here.'];

describe('reading text lowercased and without accents', () => {
  it('normalises as asked: NFC always, marks removed, lowercase', () => {
    const decomposed = 'A\u0301GUA'; // "ÁGUA" with a combining accent
    expect(normalizeText(decomposed, undefined)).toBe('ÁGUA');
    expect(normalizeText(decomposed, { foldAccents: true })).toBe('AGUA');
    expect(normalizeText(decomposed, { lowercase: true })).toBe('água');
    expect(normalizeText('Ação é pão', { lowercase: true, foldAccents: true })).toBe('acao e pao');
  });

  it('learns each word\'s usual case away from sentence starts, and that sentences start with a capital', () => {
    const casing = learnCasing(TEXTS, false);
    // "Tom", "Paris", "Mary" (first word, but capitalised: skipped there — it never appears elsewhere) …
    expect(casing.truecase).toEqual({ tom: 'Tom', paris: 'Paris', i: 'I', iphone: 'iPhone' });
    // 5 of 6 sentences start with a capital.
    expect(casing.capitalizeFirst).toBe(true);
    expect(learnCasing(['a b', 'c d', 'E f'], false).capitalizeFirst).toBe(false);
  });

  it('gives lowercased output its case back', () => {
    const form = { lowercase: true, truecase: { tom: 'Tom', paris: 'Paris', i: 'I' }, capitalizeFirst: true };
    expect(restoreCase('tom and i saw paris, then tomorrow.', form)).toBe('Tom and I saw Paris, then tomorrow.');
    expect(restoreCase('"the cat"', form)).toBe('"The cat"');
    expect(restoreCase('tom', { truecase: { tom: 'Tom' } })).toBe('tom'); // not lowercased: nothing to restore
  });

  for (const kind of ['word', 'bpe'] as const) {
    it(`a ${kind} tokenizer reads any case the same, restores case on output, and saves its form [${kind}]`, () => {
      const tokenizer = Tokenizer.build(kind, TEXTS, { lowercase: true, vocabSize: 320 });
      expect(tokenizer.encode('TOM LIKES PARIS.')).toEqual(tokenizer.encode('tom likes paris.'));
      expect(tokenizer.decode(tokenizer.encode('tom likes paris.'))).toBe('Tom likes Paris.');
      const again = Tokenizer.fromJSON(JSON.parse(JSON.stringify(tokenizer.toJSON())));
      expect(again.decode(again.encode('i saw tom.'))).toBe('I saw Tom.');
      expect(again.form).toEqual(tokenizer.form);
    });
  }

  it('folds accents on the input side: "agua" is "água"', () => {
    const tokenizer = Tokenizer.build('word', ['A água está fria', 'Ele bebe água'], { foldAccents: true });
    expect(tokenizer.encode('agua')).toEqual(tokenizer.encode('água'));
    expect(tokenizer.unseen('Ela bebe agua')).toEqual(['Ela']);
  });

  it('refuses a damaged saved form with one line', () => {
    const json = { ...Tokenizer.build('word', ['a b']).toJSON(), form: { lowercase: 'yes' } };
    expect(() => Tokenizer.fromJSON(json)).toThrow(ModelFormatError);
    expect(() => Tokenizer.fromJSON({ ...json, form: { lowercase: true, truecase: { a: 1 } } })).toThrow('tokenizer form.truecase must map words to strings');
  });
});
