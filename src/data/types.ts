/** One training example: a source sentence and its target. */
export interface Pair {
  source: string;
  target: string;
}

/** Train / validation / test splits of pairs. */
export interface Splits {
  train: Pair[];
  valid: Pair[];
  test: Pair[];
}
