import { ConfigError } from '../errors.js';
import type { Random } from '../util/random.js';

/**
 * Choosing the next token from a row of logits: pure functions on plain arrays, so each step of
 * the recipe can be checked by hand. The order is the usual one: leave out tokens that may never
 * be written, divide by the temperature, softmax, keep the k most probable (top-k), keep the
 * smallest set of most probable tokens holding probability p (top-p, "nucleus"), renormalise,
 * draw.
 */
export interface SamplingOptions {
  /**
   * Divides the logits before the softmax: below 1 sharpens the distribution, above 1 flattens it;
   * 0 always takes the most probable token (greedy). Default: 1.
   */
  temperature?: number;
  /** Keep only the k most probable tokens (0 or absent: all). */
  topK?: number;
  /** Keep the fewest most probable tokens whose probabilities add up to at least p (1 or absent: all). */
  topP?: number;
  /** Token ids never chosen (probability 0), e.g. pad and bos. */
  exclude?: readonly number[];
}

/** Softmax of a row, computed stably (the maximum is subtracted first); -Infinity gives probability 0. */
export function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  if (max === -Infinity) throw new ConfigError('every token is excluded: nothing left to choose from');
  const e = logits.map((x) => Math.exp(x - max));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / total);
}

/** Index of the largest value; ties go to the lowest index (like tf.argMax). */
export function argmax(row: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** Ids ordered by probability, most probable first; ties keep the lower id first. */
function ranked(probs: readonly number[]): number[] {
  return probs.map((_, i) => i).sort((a, b) => probs[b]! - probs[a]! || a - b);
}

function renormalise(probs: readonly number[]): number[] {
  const total = probs.reduce((a, b) => a + b, 0);
  return probs.map((p) => p / total);
}

/** Keep the k most probable tokens (ties: the lower ids) and renormalise; k ≥ the row length keeps all. */
export function topK(probs: readonly number[], k: number): number[] {
  if (!Number.isInteger(k) || k < 1) throw new ConfigError(`topK (${k}) must be a positive integer`);
  if (k >= probs.length) return [...probs];
  const keep = new Set(ranked(probs).slice(0, k));
  return renormalise(probs.map((p, i) => (keep.has(i) ? p : 0)));
}

/**
 * Nucleus: walk the tokens from the most probable down, adding up their probabilities, and stop at
 * the first token that brings the sum to p or more; keep those tokens and renormalise. The most
 * probable token is always kept.
 */
export function topP(probs: readonly number[], p: number): number[] {
  if (!(p > 0 && p <= 1)) throw new ConfigError(`topP (${p}) must be in (0, 1]`);
  if (p === 1) return [...probs];
  const keep = new Set<number>();
  let sum = 0;
  for (const id of ranked(probs)) {
    keep.add(id);
    sum += probs[id]!;
    // Sums of rounded probabilities may fall a hair short of a p they reach exactly.
    if (sum >= p * (1 - 1e-12)) break;
  }
  return renormalise(probs.map((q, i) => (keep.has(i) ? q : 0)));
}

/**
 * The distribution the next token is drawn from, given the model's logits for it. With
 * temperature 0 all the mass is on the most probable allowed token.
 */
export function samplingDistribution(logits: readonly number[], options: SamplingOptions = {}): number[] {
  const temperature = options.temperature ?? 1;
  if (!(Number.isFinite(temperature) && temperature >= 0)) throw new ConfigError(`temperature (${temperature}) must be a number ≥ 0`);
  const excluded = new Set(options.exclude ?? []);
  const allowed = logits.map((x, i) => (excluded.has(i) ? -Infinity : x));
  if (temperature === 0) {
    if (allowed.every((x) => x === -Infinity)) throw new ConfigError('every token is excluded: nothing left to choose from');
    const best = argmax(allowed);
    return allowed.map((_, i) => (i === best ? 1 : 0));
  }
  let probs = softmax(allowed.map((x) => x / temperature));
  if (options.topK !== undefined && options.topK > 0) probs = topK(probs, options.topK);
  if (options.topP !== undefined) probs = topP(probs, options.topP);
  return probs;
}

/**
 * Draw an id from a distribution with one uniform number: the first id whose cumulative
 * probability exceeds it. Ids of probability 0 are never drawn.
 */
export function sampleFrom(probs: readonly number[], random: Random): number {
  const u = random.next();
  let sum = 0;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i]! <= 0) continue;
    sum += probs[i]!;
    last = i;
    if (u < sum) return i;
  }
  if (last < 0) throw new ConfigError('cannot sample from a distribution with no probability mass');
  return last; // u fell in the rounding gap above the last cumulative sum
}
