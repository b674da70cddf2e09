import { expect, it } from 'vitest';
import { CONTAINERS, SEED_PAIRS, generatePtEn, referentSentence, toTsv } from '../src/data/pt-en.js';
import type { Pair } from '../src/data/types.js';
import { DataError } from '../src/errors.js';

const corpus = generatePtEn();
const all = [...corpus.train, ...corpus.valid, ...corpus.test];

// Written by hand from a Portuguese dictionary, independent of the generator's own table.
const GENDER: Record<string, 'f' | 'm'> = { jarra: 'f', garrafa: 'f', xícara: 'f', copo: 'm', balde: 'm', frasco: 'm' };
const ENGLISH: Record<string, string> = { jarra: 'jug', garrafa: 'bottle', xícara: 'cup', copo: 'glass', balde: 'bucket', frasco: 'flask' };

const REFERENT_PT =
  /^(?:Ela|Ele|A menina|O menino|A mulher|O homem) \S+ \S+ (da|do) (\S+) para (a|o) (\S+) até que ficasse (cheio|cheia|vazio|vazia)\.$/;
const REFERENT_EN = /^(?:She|He|The girl|The boy|The woman|The man) \S+ \S+ from the (\S+) into the (\S+) until the (\S+) was (full|empty)\.$/;

interface Parsed {
  from: string;
  into: string;
  fromGender: 'f' | 'm';
  intoGender: 'f' | 'm';
  adjectiveGender: 'f' | 'm';
  fromEn: string;
  intoEn: string;
  referentEn: string;
  says: 'full' | 'empty';
}

const isReferent = (p: Pair) => p.source.includes('até que ficasse');

/** Read a referent pair back from its strings alone. */
function parse(p: Pair): Parsed {
  const pt = REFERENT_PT.exec(p.source);
  const en = REFERENT_EN.exec(p.target);
  if (!pt || !en) throw new Error(`not a well-formed referent pair: ${p.source} | ${p.target}`);
  const [, contraction, from, article, into, adjective] = pt as unknown as string[];
  const [, fromEn, intoEn, referentEn, says] = en as unknown as string[];
  return {
    from: from!,
    into: into!,
    fromGender: contraction === 'da' ? 'f' : 'm',
    intoGender: article === 'a' ? 'f' : 'm',
    adjectiveGender: adjective!.endsWith('a') ? 'f' : 'm',
    fromEn: fromEn!,
    intoEn: intoEn!,
    referentEn: referentEn!,
    says: says as 'full' | 'empty',
  };
}

const pairKey = (a: string, b: string) => [a, b].sort().join('+');

function expectDataError(fn: () => unknown, message: string): void {
  expect(fn).toThrow(DataError);
  expect(fn).toThrow(message);
}

it('builds the two seed pairs verbatim and puts both in the training split', () => {
  expect(SEED_PAIRS.map(({ source, target }) => ({ source, target }))).toEqual([
    {
      source: 'Ela derramou água da jarra para o copo até que ficasse cheio.',
      target: 'She poured water from the jug into the glass until the glass was full.',
    },
    {
      source: 'Ela derramou água da jarra para o copo até que ficasse vazia.',
      target: 'She poured water from the jug into the glass until the jug was empty.',
    },
  ]);
  expect(SEED_PAIRS[0]).toMatchObject({ from: 'jarra', into: 'copo', fromEn: 'jug', intoEn: 'glass', adjective: 'cheio', referent: 'into', referentEn: 'glass' });
  expect(SEED_PAIRS[1]).toMatchObject({ adjective: 'vazia', referent: 'from', referentEn: 'jug' });
  for (const seed of SEED_PAIRS) expect(corpus.train).toContainEqual({ source: seed.source, target: seed.target });
});

it('is deterministic for a seed and changes with the seed', () => {
  const options = { seed: 3, size: 400, validSize: 50, testSize: 100 };
  const a = generatePtEn(options);
  expect(generatePtEn(options)).toEqual(a);
  expect(generatePtEn({ ...options, seed: 4 }).train).not.toEqual(a.train);
  expect(generatePtEn()).toEqual(corpus);
});

it('has the requested sizes and never repeats a source sentence within or across splits', () => {
  expect([corpus.train.length, corpus.valid.length, corpus.test.length]).toEqual([6000, 300, 500]);
  const small = generatePtEn({ size: 40, validSize: 7, testSize: 9 });
  expect([small.train.length, small.valid.length, small.test.length]).toEqual([40, 7, 9]);
  for (const c of [corpus, small]) {
    const sources = [...c.train, ...c.valid, ...c.test].map((p) => p.source);
    expect(new Set(sources).size).toBe(sources.length);
  }
});

it('gives every referent sentence two genders and an adjective agreeing with its referent', () => {
  const referents = all.filter(isReferent);
  expect(referents.length).toBeGreaterThan(3000);
  for (const p of referents) {
    const s = parse(p);
    expect(s.fromGender).not.toBe(s.intoGender);
    // Full describes the container poured into, empty the one poured from.
    expect(s.adjectiveGender).toBe(s.says === 'full' ? s.intoGender : s.fromGender);
    expect(s.referentEn).toBe(s.says === 'full' ? s.intoEn : s.fromEn);
    for (const [noun, nounEn, gender] of [[s.from, s.fromEn, s.fromGender], [s.into, s.intoEn, s.intoGender]] as const) {
      if (noun in GENDER) {
        expect(gender).toBe(GENDER[noun]);
        expect(nounEn).toBe(ENGLISH[noun]);
      }
    }
  }
});

it('says full and empty about equally often in training', () => {
  const says = corpus.train.filter(isReferent).map((p) => parse(p).says);
  const full = says.filter((s) => s === 'full').length / says.length;
  expect(full).toBeGreaterThan(0.45);
  expect(full).toBeLessThan(0.55);
});

it('keeps held-out container pairs out of training and validation referent sentences', () => {
  const trainedPairs = new Set(
    [...corpus.train, ...corpus.valid].filter(isReferent).map((p) => {
      const s = parse(p);
      return pairKey(s.from, s.into);
    }),
  );
  expect(corpus.heldOutReferent.length).toBeGreaterThanOrEqual(50);
  const testSources = new Set(corpus.test.map((p) => p.source));
  const heldOutKeys = new Set<string>();
  for (const c of corpus.heldOutReferent) {
    expect(testSources.has(c.source)).toBe(true);
    const s = parse(c);
    expect(trainedPairs.has(pairKey(s.from, s.into))).toBe(false);
    expect([c.from, c.into, c.fromEn, c.intoEn, c.referentEn]).toEqual([s.from, s.into, s.fromEn, s.intoEn, s.referentEn]);
    expect(c.referent).toBe(s.says === 'full' ? 'into' : 'from');
    expect(c.source.endsWith(` ${c.adjective}.`)).toBe(true);
    heldOutKeys.add(pairKey(c.from, c.into));
  }
  // Several distinct pairs are held out, and the test split also has referent sentences of trained pairs.
  expect(heldOutKeys.size).toBeGreaterThanOrEqual(5);
  const testReferents = corpus.test.filter(isReferent);
  expect(testReferents.length).toBeGreaterThan(corpus.heldOutReferent.length);
  // Every test referent sentence of an unseen pair is listed, and only those.
  const unseen = testReferents.filter((p) => !trainedPairs.has(pairKey(parse(p).from, parse(p).into)));
  expect(unseen.map((p) => p.source)).toEqual(corpus.heldOutReferent.map((c) => c.source));
});

it('builds referent sentences by hand with the right contractions and referent', () => {
  expect(referentSentence({ from: 'garrafa', into: 'balde', referent: 'from' })).toEqual({
    source: 'Ela derramou água da garrafa para o balde até que ficasse vazia.',
    target: 'She poured water from the bottle into the bucket until the bottle was empty.',
    from: 'garrafa',
    into: 'balde',
    fromEn: 'bottle',
    intoEn: 'bucket',
    adjective: 'vazia',
    referent: 'from',
    referentEn: 'bottle',
  });
  const intoJug = referentSentence({ from: 'balde', into: 'jarra', referent: 'into' });
  expect([intoJug.source, intoJug.target]).toEqual([
    'Ela derramou água do balde para a jarra até que ficasse cheia.',
    'She poured water from the bucket into the jug until the jug was full.',
  ]);
  const man = referentSentence({ subject: 'O homem', verb: 'despejou', liquid: 'leite', from: 'copo', into: 'xícara', referent: 'from' });
  expect([man.source, man.target]).toEqual([
    'O homem despejou leite do copo para a xícara até que ficasse vazio.',
    'The man tipped milk from the glass into the cup until the glass was empty.',
  ]);
});

it('uses gendered articles, contractions and agreement in every sentence', () => {
  const text = all.map((p) => p.source).join('\n');
  expect(text).toContain('do balde');
  expect(text).toContain('para a jarra');
  expect(text).toMatch(/\bno copo\b/);
  expect(text).toMatch(/\bna jarra\b/);
  for (const p of all) {
    expect(p.source).not.toMatch(/(?:^|\s)(?:de|em) (?:a|o)\s/i);
    expect(p.source).not.toMatch(/(?:^|\s)(?:a|da|na) (?:copo|balde|frasco)\b/i);
    expect(p.source).not.toMatch(/(?:^|\s)(?:o|do|no) (?:jarra|garrafa|xícara)\b/i);
    expect(p.source).not.toMatch(/\b(?:copo|balde|frasco)(?: está)? (?:cheia|vazia|limpa|suja|pequena)\b/);
    expect(p.source).not.toMatch(/(?:jarra|garrafa|xícara)(?: está)? (?:cheio|vazio|limpo|sujo|pequeno)\b/);
  }
  for (const p of all) {
    const m = /^(?:A|O) (\S+) está (\S+)\.$/.exec(p.source);
    if (m && m[1]! in ENGLISH) expect(p.target).toMatch(new RegExp(`^The ${ENGLISH[m[1]!]} is \\S+\\.$`));
  }
});

it('writes lowercase words separated by single spaces, with a full stop attached to the last', () => {
  for (const p of all) {
    for (const s of [p.source, p.target]) {
      expect(s).toMatch(/^[A-ZÁ-Ú][^\s.]*(?: [^\sA-Z.]+)*\.$/u);
      expect(s.slice(1)).toBe(s.slice(1).toLowerCase());
    }
  }
});

it('fills about half of training with plain sentences that cover every container', () => {
  const plain = corpus.train.filter((p) => !isReferent(p));
  expect(plain.length / corpus.train.length).toBeGreaterThanOrEqual(0.3);
  expect(CONTAINERS).toHaveLength(16);
  expect(CONTAINERS.filter((c) => c.gender === 'f')).toHaveLength(8);
  expect(new Set(CONTAINERS.map((c) => c.en)).size).toBe(16);
  for (const noun of Object.keys(GENDER)) expect(CONTAINERS).toContainEqual({ pt: noun, en: ENGLISH[noun], gender: GENDER[noun] });
  const plainWords = new Set(plain.flatMap((p) => p.source.replace('.', '').split(' ')));
  for (const c of CONTAINERS) expect(plainWords.has(c.pt)).toBe(true);
  // Even a tiny corpus shows every container once in a plain training sentence.
  const tinyPlain = generatePtEn({ size: 40, validSize: 1, testSize: 1 }).train.filter((p) => !isReferent(p));
  const tinyWords = new Set(tinyPlain.flatMap((p) => p.source.replace('.', '').split(' ')));
  for (const c of CONTAINERS) expect(tinyWords.has(c.pt)).toBe(true);
});

it('rejects bad options with messages that name the value', () => {
  expectDataError(() => generatePtEn({ size: 0 }), 'size (0) must be a positive integer');
  expectDataError(() => generatePtEn({ validSize: -1 }), 'validSize (-1) must be a positive integer');
  expectDataError(() => generatePtEn({ testSize: 1.5 }), 'testSize (1.5) must be a positive integer');
  expectDataError(() => generatePtEn({ seed: -2 }), 'seed (-2) must be a non-negative integer');
  expectDataError(() => generatePtEn({ size: 1 }), 'size (1) must be at least 2, to hold both seed pairs');
  // Plain sentences: 5760 poured-into + 2880 filled + 2880 drank + 1920 washed… + 96 + 96 "está" = 13632;
  // size 100000 asks for 50000 + 150 + 250 of them, over 3/4 of that.
  expectDataError(
    () => generatePtEn({ size: 100_000 }),
    'the options need 50400 distinct plain sentences, more than 10224 (3/4 of the 13632 the grammar can make); lower size, validSize or testSize',
  );
  expectDataError(
    () => referentSentence({ from: 'copa', into: 'copo', referent: 'into' }),
    "unknown container 'copa' (choose one of: jarra, garrafa, xícara, panela, tigela, caneca, lata, chaleira, copo, balde, pote, jarro, barril, tanque, frasco, cálice)",
  );
  expectDataError(
    () => referentSentence({ from: 'jarra', into: 'garrafa', referent: 'into' }),
    "containers 'jarra' and 'garrafa' have the same gender (f), so the adjective could refer to either; pick one feminine and one masculine container",
  );
  expectDataError(
    () => referentSentence({ subject: 'Eu', from: 'jarra', into: 'copo', referent: 'into' }),
    "unknown subject 'Eu' (choose one of: Ela, Ele, A menina, O menino, A mulher, O homem)",
  );
});

it('writes TSV with one source<TAB>target line per pair', () => {
  const pairs = [
    { source: 'O copo está cheio.', target: 'The glass is full.' },
    { source: 'Ele lavou o balde.', target: 'He washed the bucket.' },
  ];
  expect(toTsv(pairs)).toBe('O copo está cheio.\tThe glass is full.\nEle lavou o balde.\tHe washed the bucket.\n');
  expect(toTsv([])).toBe('');
  expectDataError(() => toTsv([{ source: 'a\tb', target: 'c' }]), 'contains a tab or newline');
  const lines = toTsv(corpus.train).split('\n');
  expect(lines.pop()).toBe('');
  expect(lines).toHaveLength(corpus.train.length);
  expect(lines[0]!.split('\t')).toEqual([corpus.train[0]!.source, corpus.train[0]!.target]);
});
