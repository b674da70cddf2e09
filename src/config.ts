import { ConfigError } from './errors.js';
import { definedOnly } from './util/objects.js';

export type Activation = 'relu' | 'gelu';
export type NormPlacement = 'pre' | 'post';
export type PositionalEncodingKind = 'sinusoidal' | 'learned';

/** Everything that decides the shape of an encoder–decoder transformer. */
export interface TransformerConfig {
  /** Number of source tokens (including the special ones). */
  srcVocabSize: number;
  /** Number of target tokens (including the special ones). */
  tgtVocabSize: number;
  /** Width of every token vector carried between blocks. */
  dModel: number;
  /** Attention heads per attention layer; each head sees dModel / numHeads dimensions. */
  numHeads: number;
  /** Encoder blocks (self-attention + feed-forward). */
  numEncoderLayers: number;
  /** Decoder blocks (causal self-attention + cross-attention + feed-forward). */
  numDecoderLayers: number;
  /** Hidden width of the position-wise feed-forward network. */
  dFF: number;
  /** Dropout rate on attention weights, sublayer outputs and embeddings, during training only. */
  dropout: number;
  /** Longest sequence (source or target, special tokens included) the positions cover. */
  maxLen: number;
  /** Non-linearity of the feed-forward network. */
  activation: Activation;
  /** Layer norm before each sublayer ('pre', trains without warm-up tricks) or after the residual add ('post', the 2017 paper). */
  normPlacement: NormPlacement;
  /** Fixed sinusoids (the paper) or a learned position table. */
  positionalEncoding: PositionalEncodingKind;
  /** Use the target embedding matrix (transposed) as the output projection; needs no separate weights. */
  tieEmbeddings: boolean;
  /** Id of the padding token, masked out of attention. */
  padId: number;
}

/** The defaults, in one place. Vocabulary sizes have none: they come from the data. */
export const DEFAULT_CONFIG: Omit<TransformerConfig, 'srcVocabSize' | 'tgtVocabSize'> = {
  dModel: 64,
  numHeads: 4,
  numEncoderLayers: 2,
  numDecoderLayers: 2,
  dFF: 256,
  dropout: 0.1,
  maxLen: 64,
  activation: 'relu',
  normPlacement: 'pre',
  positionalEncoding: 'sinusoidal',
  tieEmbeddings: false,
  padId: 0,
};

export type TransformerConfigInput = Partial<TransformerConfig> &
  Pick<TransformerConfig, 'srcVocabSize' | 'tgtVocabSize'>;

/** Fill in defaults and validate; the only way a config enters the library. */
export function resolveConfig(input: TransformerConfigInput): TransformerConfig {
  if (input === null || typeof input !== 'object') {
    throw new ConfigError(`config must be an object (got ${show(input)})`);
  }
  const known = new Set<string>([...Object.keys(DEFAULT_CONFIG), 'srcVocabSize', 'tgtVocabSize']);
  const unknown = Object.keys(input).filter((key) => !known.has(key));
  if (unknown.length > 0) {
    throw new ConfigError(`unknown config field ${show(unknown[0])} (known: ${[...known].join(', ')})`);
  }
  const config = { ...DEFAULT_CONFIG, ...definedOnly(input) } as TransformerConfig;
  validateConfig(config);
  return config;
}

const POSITIVE_INTEGERS = [
  'srcVocabSize',
  'tgtVocabSize',
  'dModel',
  'numHeads',
  'dFF',
  'maxLen',
  'numEncoderLayers',
  'numDecoderLayers',
] as const;
const NON_NEGATIVE_INTEGERS = ['padId'] as const;

/** Throws a `ConfigError` naming the first bad field and echoing its value. */
export function validateConfig(config: TransformerConfig): void {
  for (const key of POSITIVE_INTEGERS) {
    const value = config[key];
    if (!Number.isInteger(value) || value < 1) {
      throw new ConfigError(`${key} (${show(value)}) must be a positive integer`);
    }
  }
  for (const key of NON_NEGATIVE_INTEGERS) {
    const value = config[key];
    if (!Number.isInteger(value) || value < 0) {
      throw new ConfigError(`${key} (${show(value)}) must be a non-negative integer`);
    }
  }
  if (config.dModel % config.numHeads !== 0) {
    throw new ConfigError(
      `dModel (${config.dModel}) must be divisible by numHeads (${config.numHeads})`,
    );
  }
  if (config.positionalEncoding === 'sinusoidal' && config.dModel % 2 !== 0) {
    throw new ConfigError(`dModel (${config.dModel}) must be even for sinusoidal positions`);
  }
  if (typeof config.dropout !== 'number' || !(config.dropout >= 0 && config.dropout < 1)) {
    throw new ConfigError(`dropout (${show(config.dropout)}) must be in [0, 1)`);
  }
  oneOf('activation', config.activation, ['relu', 'gelu']);
  oneOf('normPlacement', config.normPlacement, ['pre', 'post']);
  oneOf('positionalEncoding', config.positionalEncoding, ['sinusoidal', 'learned']);
  if (typeof config.tieEmbeddings !== 'boolean') {
    throw new ConfigError(`tieEmbeddings (${show(config.tieEmbeddings)}) must be true or false`);
  }
  if (config.padId >= config.srcVocabSize || config.padId >= config.tgtVocabSize) {
    throw new ConfigError(
      `padId (${config.padId}) must be smaller than both vocabulary sizes ` +
        `(${config.srcVocabSize}, ${config.tgtVocabSize})`,
    );
  }
}

function oneOf(key: string, value: unknown, allowed: readonly string[]): void {
  if (!allowed.includes(value as string)) {
    throw new ConfigError(`${key} (${show(value)}) must be one of ${allowed.join(', ')}`);
  }
}

/** Render a bad value for an error message: strings quoted, everything else as JSON would. */
export function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}


const CONFIG_KEYS = [...Object.keys(DEFAULT_CONFIG), 'srcVocabSize', 'tgtVocabSize'];

/** camelCase → snake_case the way TF.js writes layer configs into model.json ("dFF" → "d_ff"). */
function pythonic(key: string): string {
  return key.replace(/(.)([A-Z][a-z0-9]+)/g, '$1_$2').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}

/** snake_case → camelCase the way TF.js reads them back ("d_ff" → "dFf"). */
function camel(key: string): string {
  return key.replace(/_+(\w|$)/g, (_, c: string) => c.toUpperCase());
}

const ALIASES = new Map<string, string>(CONFIG_KEYS.flatMap((k) => [[pythonic(k), k], [camel(pythonic(k)), k]] as [string, string][]));

/**
 * Config keys as written in model.json ("d_ff", "src_vocab_size") or as TF.js's loader turns them
 * back into camelCase ("dFf"), mapped to their `TransformerConfig` names; other keys are kept.
 */
export function normalizeConfigKeys(input: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(input).map(([k, v]) => [CONFIG_KEYS.includes(k) ? k : (ALIASES.get(k) ?? k), v]),
  );
}

/**
 * Number of weights a config builds, computed from the architecture alone (no allocation), so a
 * saved model's size can be checked before anything is created.
 */
export function countParameters(c: TransformerConfig): number {
  const d = c.dModel;
  const attention = 4 * d * d + 4 * d; // Wq, Wk, Wv, Wo and their biases
  const feedForward = 2 * d * c.dFF + c.dFF + d;
  const norm = 2 * d;
  const positions = c.positionalEncoding === 'learned' ? c.maxLen * d : 0;
  const finalNorm = c.normPlacement === 'pre' ? norm : 0;
  const encoder = c.srcVocabSize * d + positions + c.numEncoderLayers * (attention + feedForward + 2 * norm) + finalNorm;
  const decoder = c.tgtVocabSize * d + positions + c.numDecoderLayers * (2 * attention + feedForward + 3 * norm) + finalNorm;
  const output = (c.tieEmbeddings ? 0 : d * c.tgtVocabSize) + c.tgtVocabSize;
  return encoder + decoder + output;
}
