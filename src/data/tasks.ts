import { DataError } from '../errors.js';
import { definedOnly } from '../util/objects.js';
import { Random } from '../util/random.js';
import type { Pair } from './types.js';

export const SYNTHETIC_TASKS = ['copy', 'reverse', 'sort'] as const;
export type SyntheticTaskName = (typeof SYNTHETIC_TASKS)[number];

/** Symbols are single characters, so sequences print compactly and the char tokenizer fits them. */
export const SYMBOLS = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';

export interface SyntheticOptions {
  /** How many distinct symbols (2 … 62). Default: 10. */
  symbols?: number;
  /** Shortest sequence. Default: 10. */
  minLen?: number;
  /** Longest sequence. Default: 10. */
  maxLen?: number;
  /** Seed of the held-out sets. Default: 1. */
  seed?: number;
  /** Held-out test sequences. Default: 1000. */
  testSize?: number;
  /** Held-out validation sequences (the early stop looks at these, so not too few). Default: 1000. */
  validSize?: number;
}

/** The target of a synthetic task for a source sequence. */
export function solve(task: SyntheticTaskName, source: string): string {
  const chars = [...source];
  if (task === 'copy') return source;
  if (task === 'reverse') return chars.reverse().join('');
  return chars.sort((a, b) => SYMBOLS.indexOf(a) - SYMBOLS.indexOf(b)).join('');
}

/**
 * A synthetic sequence task: a fixed held-out validation and test set, and an endless stream of
 * training sequences that never repeats a held-out one.
 */
export class SyntheticTask {
  readonly name: SyntheticTaskName;
  readonly options: Required<SyntheticOptions>;
  readonly alphabet: string[];
  readonly valid: Pair[];
  readonly test: Pair[];
  private readonly heldOut: Set<string>;

  constructor(name: SyntheticTaskName, options: SyntheticOptions = {}) {
    if (!(SYNTHETIC_TASKS as readonly string[]).includes(name)) {
      throw new DataError(`unknown task '${String(name)}' (choose one of: ${SYNTHETIC_TASKS.join(', ')})`);
    }
    this.name = name;
    const o = { symbols: 10, minLen: 10, maxLen: 10, seed: 1, testSize: 1000, validSize: 1000, ...definedOnly(options) };
    checkInt('symbols', o.symbols, 2, SYMBOLS.length);
    checkInt('minLen', o.minLen, 1, 10_000);
    checkInt('maxLen', o.maxLen, o.minLen, 10_000);
    checkInt('testSize', o.testSize, 1, 1_000_000);
    checkInt('validSize', o.validSize, 1, 1_000_000);
    this.options = o;
    this.alphabet = [...SYMBOLS.slice(0, o.symbols)];
    let space = 0;
    for (let len = o.minLen; len <= o.maxLen && space < 1e12; len++) space += o.symbols ** len;
    if (o.testSize + o.validSize > space / 2) {
      throw new DataError(
        `${name} with ${o.symbols} symbols and lengths ${o.minLen}–${o.maxLen} has only ${space} distinct sequences, ` +
          `too few to hold out ${o.testSize + o.validSize}; use more symbols, longer sequences or smaller held-out sets`,
      );
    }
    const random = new Random(o.seed);
    this.heldOut = new Set();
    this.test = this.drawUnique(random, o.testSize);
    this.valid = this.drawUnique(random, o.validSize);
  }

  /** A training pair drawn with `random`, never one of the held-out sequences. */
  sample(random: Random): Pair {
    for (;;) {
      const source = this.randomSequence(random);
      if (!this.heldOut.has(source)) return { source, target: solve(this.name, source) };
    }
  }

  private drawUnique(random: Random, count: number): Pair[] {
    const pairs: Pair[] = [];
    while (pairs.length < count) {
      const source = this.randomSequence(random);
      if (this.heldOut.has(source)) continue;
      this.heldOut.add(source);
      pairs.push({ source, target: solve(this.name, source) });
    }
    return pairs;
  }

  private randomSequence(random: Random): string {
    const len = random.int(this.options.minLen, this.options.maxLen);
    let s = '';
    for (let i = 0; i < len; i++) s += this.alphabet[random.int(0, this.alphabet.length - 1)];
    return s;
  }
}

function checkInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new DataError(`${name} (${value}) must be an integer from ${min} to ${max}`);
  }
}

