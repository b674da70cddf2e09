/**
 * Guards against the two ways a small model's output runs away: repeating a phrase, and going on
 * far longer than the source. Plain functions on id arrays, shared by greedy decoding and beam search.
 */

/** Default of `maxLenRatio`: outputs may be at most twice as long as their source … */
export const MAX_LEN_RATIO = 2;
/** … plus this many tokens (short sources may have longer translations). */
export const MAX_LEN_EXTRA = 10;

/**
 * The longest output allowed for a source of `sourceTokens` tokens (eos not counted):
 * ⌊ratio × sourceTokens⌋ + extra, never above `maxLen`.
 */
export function outputLimit(sourceTokens: number, maxLen: number, ratio = MAX_LEN_RATIO, extra = MAX_LEN_EXTRA): number {
  const byRatio = Number.isFinite(ratio) ? Math.floor(ratio * sourceTokens) + extra : Infinity;
  return Math.max(0, Math.min(maxLen, byRatio));
}

/**
 * Tokens that may not come next after `ids` if no n-gram is to appear twice: for every earlier
 * occurrence of the last n − 1 tokens, the token that followed it (n = 1: every token already
 * written). Empty when n < 1 or the output is shorter than n − 1 tokens.
 */
export function bannedNext(ids: readonly number[], n: number | undefined): Set<number> {
  const banned = new Set<number>();
  if (n === undefined || n < 1) return banned;
  const m = n - 1; // length of the prefix an n-gram shares with the one being completed
  if (ids.length < m) return banned;
  const start = ids.length - m;
  for (let i = 0; i + m < ids.length; i++) {
    let same = true;
    for (let j = 0; j < m && same; j++) same = ids[i + j] === ids[start + j];
    if (same) banned.add(ids[i + m]!);
  }
  return banned;
}
