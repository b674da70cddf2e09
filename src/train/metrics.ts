/**
 * Evaluation metrics: on token sequences (arrays of token strings or ids), and on text as
 * sacreBLEU scores it (BLEU with the 13a tokenizer, chrF) so numbers compare with published ones.
 */

/** Fraction of pairs whose prediction equals the reference exactly. */
export function exactMatch<T>(predictions: readonly (readonly T[])[], references: readonly (readonly T[])[]): number {
  if (predictions.length === 0) return 0;
  let hits = 0;
  predictions.forEach((p, i) => {
    const r = references[i]!;
    if (p.length === r.length && p.every((t, j) => t === r[j])) hits++;
  });
  return hits / predictions.length;
}

export interface BleuResult {
  /** Corpus BLEU-4 in [0, 1]. */
  bleu: number;
  /** Clipped n-gram precisions p1 … p4. */
  precisions: number[];
  brevityPenalty: number;
  hypothesisLength: number;
  referenceLength: number;
}

/**
 * Corpus-level BLEU-4 (Papineni et al., 2002) with one reference per sentence: clipped n-gram
 * counts summed over the corpus, the geometric mean of p1…p4, times the brevity penalty
 * exp(1 − r/c) when the hypotheses are shorter than the references. No smoothing: a corpus with no
 * matching 4-gram scores 0.
 */
export function corpusBleu(hypotheses: readonly (readonly string[])[], references: readonly (readonly string[])[], maxOrder = 4): BleuResult {
  const matches = new Array<number>(maxOrder).fill(0);
  const totals = new Array<number>(maxOrder).fill(0);
  let hypLen = 0;
  let refLen = 0;
  hypotheses.forEach((hyp, i) => {
    const ref = references[i]!;
    hypLen += hyp.length;
    refLen += ref.length;
    for (let n = 1; n <= maxOrder; n++) {
      const refCounts = ngramCounts(ref, n);
      for (const [gram, count] of ngramCounts(hyp, n)) {
        matches[n - 1]! += Math.min(count, refCounts.get(gram) ?? 0);
        totals[n - 1]! += count;
      }
    }
  });
  const precisions = matches.map((m, i) => (totals[i]! > 0 ? m / totals[i]! : 0));
  const brevityPenalty = hypLen === 0 ? 0 : hypLen >= refLen ? 1 : Math.exp(1 - refLen / hypLen);
  const logMean = precisions.some((p) => p === 0)
    ? -Infinity
    : precisions.reduce((s, p) => s + Math.log(p), 0) / maxOrder;
  return { bleu: brevityPenalty * Math.exp(logMean), precisions, brevityPenalty, hypothesisLength: hypLen, referenceLength: refLen };
}

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const gram = tokens.slice(i, i + n).join('\u0001');
    counts.set(gram, (counts.get(gram) ?? 0) + 1);
  }
  return counts;
}

/**
 * sacreBLEU's default "13a" tokenizer (the one of mteval-v13a.pl, used by WMT): unescape a few
 * HTML entities, split off punctuation and symbols, split periods and commas except inside
 * numbers, and a dash after a digit; words are the result split on whitespace.
 */
export function tokenize13a(line: string): string[] {
  let s = line.replaceAll('<skipped>', '').replaceAll('-\n', '').replaceAll('\n', ' ');
  s = s.replaceAll('&quot;', '"').replaceAll('&amp;', '&').replaceAll('&lt;', '<').replaceAll('&gt;', '>');
  s = ` ${s} `;
  // ASCII symbols { | } ~ [ \ ] ^ _ ` space ! " # $ % & ( ) * + : ; < = > ? @ /
  s = s.replace(/([{-~[-` -&(-+:-@/])/g, ' $1 ');
  s = s.replace(/([^0-9])([.,])/g, '$1 $2 ');
  s = s.replace(/([.,])([^0-9])/g, ' $1 $2');
  s = s.replace(/([0-9])(-)/g, '$1 $2 ');
  return s.split(/\s+/).filter((w) => w !== '');
}

export interface SacreBleuResult {
  /** Corpus BLEU on sacreBLEU's 0–100 scale. */
  score: number;
  /** Matching n-grams of each order (1 … 4), clipped by the references. */
  counts: number[];
  /** Hypothesis n-grams of each order. */
  totals: number[];
  /** n-gram precisions in percent, after smoothing. */
  precisions: number[];
  brevityPenalty: number;
  hypothesisLength: number;
  /** Sum over sentences of the reference length closest to the hypothesis length. */
  referenceLength: number;
}

export interface SacreBleuOptions {
  /** Highest n-gram order. Default: 4. */
  maxOrder?: number;
  /** '13a' (default) or 'none' (split on whitespace only, for text tokenized already). */
  tokenize?: '13a' | 'none';
}

/** One reference per sentence, or several (all of one sentence in an array). */
export type References = readonly (string | readonly string[])[];

/**
 * Corpus BLEU computed as sacreBLEU does by default (`corpus_bleu(hyps, refs)`, tokenize 13a,
 * smooth "exp", 4-grams): detokenized strings are tokenized with `tokenize13a`; n-gram matches
 * are clipped by the most any one reference has; the reference length of a sentence is the one
 * closest to the hypothesis (the shorter on ties); an order with no match gets the precision
 * 100 / (2^k × total), k counting such orders so far. 0 when nothing matches at all.
 */
export function sacreBleu(hypotheses: readonly string[], references: References, options: SacreBleuOptions = {}): SacreBleuResult {
  const maxOrder = options.maxOrder ?? 4;
  const tokenize = options.tokenize === 'none' ? (s: string) => s.split(/\s+/).filter((w) => w !== '') : tokenize13a;
  if (hypotheses.length !== references.length) throw new RangeError(`${hypotheses.length} hypotheses but ${references.length} references`);
  const counts = new Array<number>(maxOrder).fill(0);
  const totals = new Array<number>(maxOrder).fill(0);
  let hypLen = 0;
  let refLen = 0;
  hypotheses.forEach((hypText, i) => {
    const hyp = tokenize(hypText);
    const refs = (typeof references[i] === 'string' ? [references[i] as string] : (references[i] as readonly string[])).map(tokenize);
    hypLen += hyp.length;
    refLen += closestLength(hyp.length, refs.map((r) => r.length));
    for (let n = 1; n <= maxOrder; n++) {
      const most = new Map<string, number>();
      for (const ref of refs) for (const [gram, c] of ngramCounts(ref, n)) most.set(gram, Math.max(c, most.get(gram) ?? 0));
      for (const [gram, c] of ngramCounts(hyp, n)) {
        counts[n - 1]! += Math.min(c, most.get(gram) ?? 0);
        totals[n - 1]! += c;
      }
    }
  });
  const brevityPenalty = hypLen < refLen ? (hypLen > 0 ? Math.exp(1 - refLen / hypLen) : 0) : 1;
  const precisions = new Array<number>(maxOrder).fill(0);
  const result = { counts, totals, precisions, brevityPenalty, hypothesisLength: hypLen, referenceLength: refLen };
  if (counts.every((c) => c === 0)) return { score: 0, ...result };
  let smooth = 1;
  for (let n = 0; n < maxOrder; n++) {
    if (totals[n] === 0) break; // this and the higher orders keep precision 0, so the score is 0
    if (counts[n] === 0) {
      smooth *= 2;
      precisions[n] = 100 / (smooth * totals[n]!);
    } else {
      precisions[n] = (100 * counts[n]!) / totals[n]!;
    }
  }
  const logMean = precisions.reduce((s, p) => s + (p > 0 ? Math.log(p) : -Infinity), 0) / maxOrder;
  return { score: brevityPenalty * Math.exp(logMean), ...result };
}

/** The reference length closest to the hypothesis length; the shorter one on ties. */
function closestLength(hypLength: number, refLengths: readonly number[]): number {
  let best = refLengths[0] ?? 0;
  for (const r of refLengths) {
    const d = Math.abs(r - hypLength);
    const bestD = Math.abs(best - hypLength);
    if (d < bestD || (d === bestD && r < best)) best = r;
  }
  return best;
}

export interface ChrfOptions {
  /** Character n-gram orders 1 … charOrder. Default: 6. */
  charOrder?: number;
  /** Weight of recall over precision. Default: 2. */
  beta?: number;
  /**
   * Average the F-scores of every order with 1e-16 for an empty one (chrF++.py, sacreBLEU's
   * `eps_smoothing=True`) instead of the F-score of the precisions and recalls averaged over the
   * orders both sides have (sacreBLEU's default). Default: false.
   */
  epsSmoothing?: boolean;
}

/**
 * Corpus chrF as sacreBLEU computes it by default (`corpus_chrf`, chrF2: character n-grams up
 * to 6, β = 2, no word n-grams, whitespace removed): per order, hypothesis, reference and
 * matching n-gram counts are summed over the corpus, then precision and recall are averaged
 * over the orders present on both sides and combined into an F-β score. With several
 * references, each sentence counts against the one that gives it the best score. 0–100.
 */
export function chrF(hypotheses: readonly string[], references: References, options: ChrfOptions = {}): number {
  if (hypotheses.length !== references.length) throw new RangeError(`${hypotheses.length} hypotheses but ${references.length} references`);
  const order = options.charOrder ?? 6;
  const total = new Array<number>(3 * order).fill(0);
  hypotheses.forEach((hyp, i) => {
    const refs = typeof references[i] === 'string' ? [references[i] as string] : (references[i] as readonly string[]);
    let best: number[] | undefined;
    let bestScore = -1;
    for (const ref of refs) {
      const stats = chrfStatistics(hyp, ref, order);
      const score = chrfScore(stats, order, options);
      if (score > bestScore) [best, bestScore] = [stats, score];
    }
    best?.forEach((v, j) => (total[j]! += v));
  });
  return chrfScore(total, order, options);
}

/** [hypothesis n-grams, reference n-grams, matches] for each order 1 … order, flattened. */
function chrfStatistics(hyp: string, ref: string, order: number): number[] {
  // Characters are code points; whitespace does not count.
  const h = Array.from(hyp.replace(/\s+/g, ''));
  const r = Array.from(ref.replace(/\s+/g, ''));
  const stats: number[] = [];
  for (let n = 1; n <= order; n++) {
    const hc = ngramCounts(h, n);
    const rc = ngramCounts(r, n);
    let matches = 0;
    for (const [gram, c] of hc) matches += Math.min(c, rc.get(gram) ?? 0);
    stats.push(Math.max(0, h.length - n + 1), Math.max(0, r.length - n + 1), matches);
  }
  return stats;
}

function chrfScore(stats: readonly number[], order: number, options: ChrfOptions): number {
  const factor = (options.beta ?? 2) ** 2;
  const eps = 1e-16;
  let fSum = 0;
  let precisionSum = 0;
  let recallSum = 0;
  let effective = 0;
  for (let i = 0; i < order; i++) {
    const [hyp, ref, match] = [stats[3 * i]!, stats[3 * i + 1]!, stats[3 * i + 2]!];
    const precision = hyp > 0 ? match / hyp : eps;
    const recall = ref > 0 ? match / ref : eps;
    const denominator = factor * precision + recall;
    fSum += denominator > 0 ? ((1 + factor) * precision * recall) / denominator : eps;
    if (hyp > 0 && ref > 0) {
      precisionSum += precision;
      recallSum += recall;
      effective++;
    }
  }
  if (options.epsSmoothing === true) return (100 * fSum) / order;
  if (effective === 0) return 0;
  const p = precisionSum / effective;
  const r = recallSum / effective;
  return p + r > 0 ? (100 * (1 + factor) * p * r) / (factor * p + r) : 0;
}
