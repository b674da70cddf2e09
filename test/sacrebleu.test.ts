import { describe, expect, it } from 'vitest';
import { chrF, sacreBleu, tokenize13a } from '../src/train/metrics.js';

/*
 * Published values. Each number below was printed by sacreBLEU itself and stored in its test
 * suite or documentation; the inputs are repeated here as facts to check against:
 *  - github.com/mjpost/sacrebleu, test/test_bleu.py (`test_corpus_bleu_cases`): the README
 *    example, three hypotheses against two reference streams, default settings → 48.530827;
 *    tokenize 'none' → 49.1919566; empty hypotheses → 0.0.
 *  - github.com/mjpost/sacrebleu, test/test_chrf.py: corpus chrF with char_order 6, β = 3,
 *    eps_smoothing True (`test_cases`) and False (`test_cases_effective_order`), and sentence
 *    chrF at the defaults (β = 2) with eps_smoothing True (`test_sentence_level_chrf`).
 *  - github.com/huggingface/datasets, metrics/chrf/README.md: sacreBLEU's chrF at its defaults
 *    (chrF2, eps_smoothing False) → 61.576379378113785 and 84.64214891738334.
 */

const README_HYPS = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.'];
const README_REFS = [
  ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.'],
  ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.'],
];
/** sacreBLEU takes reference streams; ours takes the references of each sentence. */
const perSentence = (streams: string[][]) => streams[0]!.map((_, i) => streams.map((s) => s[i]!));

describe('BLEU as sacreBLEU computes it', () => {
  it('the 13a tokenizer splits punctuation and symbols, but not periods and commas inside numbers', () => {
    expect(tokenize13a("Hello, world! It costs $3.50, isn't it?")).toEqual(['Hello', ',', 'world', '!', 'It', 'costs', '$', '3.50', ',', "isn't", 'it', '?']);
    expect(tokenize13a('pages 1-2 (well-known) &amp; "quoted"')).toEqual(['pages', '1', '-', '2', '(', 'well-known', ')', '&', '"', 'quoted', '"']);
    expect(tokenize13a('  a\tb  ')).toEqual(['a', 'b']);
  });

  it("matches sacreBLEU's published corpus scores", () => {
    expect(sacreBleu(README_HYPS, perSentence(README_REFS)).score).toBeCloseTo(48.530827, 6);
    expect(sacreBleu(README_HYPS, perSentence(README_REFS), { tokenize: 'none' }).score).toBeCloseTo(49.1919566, 6);
    expect(sacreBleu(['', '', ''], perSentence(README_REFS)).score).toBe(0);
  });

  it('a hand-computed case: exp smoothing of a missing 4-gram, brevity penalty, closest reference length', () => {
    // "the cat sat on the mat" vs "the cat is on the mat": matches 5/6, 3/5, 1/4, 0/3 → p4 = 100 / (2 × 3).
    const r = sacreBleu(['the cat sat on the mat'], ['the cat is on the mat']);
    expect(r.counts).toEqual([5, 3, 1, 0]);
    expect(r.totals).toEqual([6, 5, 4, 3]);
    const want = Math.exp((Math.log(500 / 6) + Math.log(60) + Math.log(25) + Math.log(100 / 6)) / 4);
    expect(r.score).toBeCloseTo(want, 10);
    // Three tokens have no 4-gram: that precision stays 0, so BLEU is 0 (sacreBLEU's default has no effective order).
    expect(sacreBleu(['a b x'], ['a b c']).score).toBe(0);
    // "a b c d" against 5 tokens: p = 100 each, BP = exp(1 − 5/4).
    expect(sacreBleu(['a b c d'], ['a b c d e']).score).toBeCloseTo(100 * Math.exp(1 - 5 / 4), 10);
    // Closest reference: lengths 3 and 5 are both 1 away from 4 → the shorter (3) counts, so no penalty.
    const tie = sacreBleu(['a b c d'], [['a b c', 'a b c d e']]);
    expect(tie.referenceLength).toBe(3);
    expect(tie.brevityPenalty).toBe(1);
    // Clipping takes the most any single reference has: "the" twice in ref 2.
    expect(sacreBleu(['the the the'], [['the cat', 'the dog the']]).counts[0]).toBe(2);
  });
});

describe('chrF as sacreBLEU computes it', () => {
  it("matches sacreBLEU's defaults (chrF2) from the published examples", () => {
    expect(chrF(['The relationship between Obama and Netanyahu is not exactly friendly.'], ['The ties between Obama and Netanyahu are not particularly friendly.'])).toBeCloseTo(61.576379378113785, 8);
    expect(
      chrF(
        ['The relationship between cats and dogs is not exactly friendly.', 'a good bookshop is just a genteel black hole that knows how to read.'],
        ['The relationship between dogs and cats is not exactly friendly.', 'A good bookshop is just a genteel Black Hole that knows how to read.'],
      ),
    ).toBeCloseTo(84.64214891738334, 8);
  });

  it("matches sacreBLEU's test cases for β = 3 with and without eps smoothing", () => {
    const eps = { beta: 3, epsSmoothing: true };
    const cases: [string[], string[], number][] = [
      [['abcdefg'], ['hijklmnop'], 0],
      [['a'], ['b'], 0],
      [[''], ['b'], 0],
      [[''], ['reference'], 0],
      [['aa'], ['ab'], 8.3333],
      [['a', 'b'], ['a', 'c'], 8.3333],
      [['a'], ['a'], 16.6667],
      [['a b c'], ['a b c'], 50],
      [['a b c'], ['abc'], 50],
      [[' risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .'], ['risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists .'], 63.36173],
      [[' Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. '], ['Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich.'], 64.1302698],
      [['Niemand hat die Absicht, eine Mauer zu errichten'], ['Niemand hat die Absicht, eine Mauer zu errichten'], 100],
    ];
    for (const [h, r, want] of cases) expect(Math.abs(chrF(h, r, eps) - want)).toBeLessThan(1e-4);
    const effective: [string[], string[], number][] = [
      [['a'], ['a'], 100],
      [[''], ['reference'], 0],
      [['a b c'], ['a b c'], 100],
      [['a b c'], ['abc'], 100],
      [[''], ['c'], 0],
      [['a', 'b'], ['a', 'c'], 50],
      [['aa'], ['ab'], 25],
    ];
    for (const [h, r, want] of effective) expect(Math.abs(chrF(h, r, { beta: 3 }) - want)).toBeLessThan(1e-4);
  });

  it("matches sacreBLEU's sentence-level chrF (β = 2, eps smoothing)", () => {
    const sentences: [string, string, number][] = [
      ['Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.', 'Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.', 39.14078509],
      ['Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.', 'A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři.', 31.22557079],
      ['Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.', 'Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli.', 57.15704367],
    ];
    for (const [h, r, want] of sentences) expect(Math.abs(chrF([h], [r], { epsSmoothing: true }) - want)).toBeLessThan(1e-4);
  });

  it('a hand-computed case: "ab" against "abc"', () => {
    // Orders 1 and 2 on both sides: p1 = 2/2, r1 = 2/3, p2 = 1/1, r2 = 1/2 → P = 1, R = 7/12; F2 = 5PR / (4P + R).
    const p = 1;
    const r = 7 / 12;
    expect(chrF(['ab'], ['abc'])).toBeCloseTo((100 * 5 * p * r) / (4 * p + r), 10);
    // Several references: each sentence takes its best.
    expect(chrF(['ab'], [['xyz', 'ab']])).toBeCloseTo(100, 10);
  });
});
