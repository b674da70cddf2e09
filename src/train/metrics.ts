/**
 * Evaluation metrics on token sequences (arrays of token strings or ids).
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
