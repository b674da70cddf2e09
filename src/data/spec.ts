import type { Arch } from '../config.js';
import type { SyntheticTaskName } from './tasks.js';
import type { TokenizerKind } from './tokenizer.js';

/**
 * Where a run's data comes from. The same spec can feed several families: a synthetic task is
 * translated (encoder–decoder) or continued after a separator (decoder), and Portuguese text is
 * continued (decoder) or unmasked (encoder).
 */
export type DataSpec =
  | { kind: 'task'; task: SyntheticTaskName; symbols?: number; minLen?: number; maxLen?: number }
  /** The toy Portuguese → English corpus (translation). */
  | { kind: 'pt-en'; size?: number }
  /** The Portuguese side of that corpus: a language model (decoder) or masked LM (encoder). */
  | { kind: 'pt'; size?: number }
  /** Which container the adjective refers to, as classification (encoder). */
  | { kind: 'referent'; size?: number }
  /** A user's corpus of 'source<TAB>target' pairs (translation). */
  /** A checkpoint imported from another tool (`atencao import`): nothing to train on again. */
  | { kind: 'import'; format: 'gpt2' | 'bert'; from: string }
  | {
      kind: 'corpus';
      /** The pairs ('source<TAB>target', Tatoeba, JSONL), or the source side when `target` is given. */
      file: string;
      /** The target side as a file of its own, aligned line by line with `file`. */
      target?: string;
      valid?: string;
      test?: string;
      validFraction?: number;
      tokenizer: TokenizerKind;
      vocabSize?: number;
      /** Word tokens: leave out words seen fewer times (they train <unk>), keep at most this many. */
      minCount?: number;
      maxVocab?: number;
      /** Both sides read lowercased; output gets its usual case back. */
      lowercase?: boolean;
      /** The source side read without accents. */
      foldAccents?: boolean;
    }
  /** A user's plain text, one example per line (decoder: language model; encoder: masked LM). */
  | { kind: 'text'; file: string; valid?: string; validFraction?: number; tokenizer: TokenizerKind; vocabSize?: number };

/** Where a run's data came from, recorded in config.json. */
export interface DataProvenance {
  spec: DataSpec;
  /** The family the data was prepared for (absent in folders saved before there were three). */
  arch?: Arch;
  description: string;
  trainPairs?: number;
  validPairs: number;
  testPairs?: number;
  /** SHA-256 of the corpus files, to notice when they change between runs. */
  sha256?: { train: string; valid?: string };
  /** Classification: the name of each class, by index. */
  labels?: string[];
}
