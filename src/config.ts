import { ConfigError } from './errors.js';
import { definedOnly } from './util/objects.js';

export type Activation = 'relu' | 'gelu';
/** How GELU is computed, named as in PyTorch's nn.GELU: 'tanh' (GPT-2's gelu_new) or 'none', exactly x·Φ(x) with erf (BERT's gelu). */
export type GeluApproximation = 'tanh' | 'none';
export type NormPlacement = 'pre' | 'post';
export type PositionalEncodingKind = 'sinusoidal' | 'learned';

/** The three model families built from the same layers. */
export type Arch = 'encoder-decoder' | 'decoder' | 'encoder';
export const ARCHS: readonly Arch[] = ['encoder-decoder', 'decoder', 'encoder'];
/** The class name each family's model layer is saved under in model.json. */
export const MODEL_CLASS_NAMES: Readonly<Record<Arch, string>> = { 'encoder-decoder': 'Transformer', decoder: 'DecoderOnly', encoder: 'EncoderOnly' };

/** What every family shares: the width and shape of its blocks. */
export interface BlockConfig {
  /** Width of every token vector carried between blocks. */
  dModel: number;
  /** Attention heads per attention layer; each head sees dModel / numHeads dimensions. */
  numHeads: number;
  /** Hidden width of the position-wise feed-forward network. */
  dFF: number;
  /** Dropout rate on attention weights, sublayer outputs and embeddings, during training only. */
  dropout: number;
  /** Longest sequence (special tokens included) the positions cover. */
  maxLen: number;
  /** Non-linearity of the feed-forward network. */
  activation: Activation;
  /** Layer norm before each sublayer ('pre', trains without warm-up tricks) or after the residual add ('post', the 2017 paper). */
  normPlacement: NormPlacement;
  /** Fixed sinusoids (the paper) or a learned position table. */
  positionalEncoding: PositionalEncodingKind;
  /** Use the (output-side) embedding matrix, transposed, as the output projection. */
  tieEmbeddings: boolean;
  /** Id of the padding token, masked out of attention and of the loss. */
  padId: number;
  // Optional fields, for checkpoints made by other tools (GPT-2, BERT); absent means the default.
  /** Added to the variance in every layer norm before the square root. Default 1e-5 (GPT-2's); BERT uses 1e-12. */
  layerNormEpsilon?: number;
  /** Multiply token embeddings by √dModel (the paper). Default true; GPT-2 and BERT add them to the positions unscaled. */
  scaleEmbeddings?: boolean;
  /** A layer norm on the embedded tokens + positions, before the first block (BERT). Default false. */
  embeddingNorm?: boolean;
  /** GELU's form when activation is 'gelu'. Default 'tanh'. */
  geluApproximation?: GeluApproximation;
}

/** Encoder–decoder (the 2017 paper): translation and other sequence-to-sequence tasks. */
export interface EncoderDecoderConfig extends BlockConfig {
  arch: 'encoder-decoder';
  /** Number of source tokens (including the special ones). */
  srcVocabSize: number;
  /** Number of target tokens (including the special ones). */
  tgtVocabSize: number;
  /** Encoder blocks (self-attention + feed-forward). */
  numEncoderLayers: number;
  /** Decoder blocks (causal self-attention + cross-attention + feed-forward). */
  numDecoderLayers: number;
}

/** Decoder only (GPT): a causal language model that continues a prompt. */
export interface DecoderConfig extends BlockConfig {
  arch: 'decoder';
  vocabSize: number;
  /** Blocks of causal self-attention + feed-forward. */
  numLayers: number;
}

/** Encoder only (BERT): bidirectional, trained as a masked LM and/or a [CLS] classifier. */
export interface EncoderConfig extends BlockConfig {
  arch: 'encoder';
  vocabSize: number;
  /** Blocks of self-attention + feed-forward. */
  numLayers: number;
  /** Classes of the [CLS] classification head; 0 builds none (masked-LM only). */
  numClasses: number;
  /** BERT's masked-LM head: dense (d, d) + activation + layer norm before the projection to the vocabulary. Default false. */
  maskedLmTransform?: boolean;
}

export type ModelConfig = EncoderDecoderConfig | DecoderConfig | EncoderConfig;
/** The encoder–decoder config (the name it had before the other families existed). */
export type TransformerConfig = EncoderDecoderConfig;

const BLOCK_DEFAULTS: BlockConfig = {
  dModel: 64,
  numHeads: 4,
  dFF: 256,
  dropout: 0.1,
  maxLen: 64,
  activation: 'relu',
  normPlacement: 'pre',
  positionalEncoding: 'sinusoidal',
  tieEmbeddings: false,
  padId: 0,
};

/**
 * The optional fields that exist for checkpoints made by other tools (GPT-2, BERT), with their
 * defaults. A resolved config leaves them out unless given, and a saved one leaves them out when
 * they hold their defaults, so the models this library trains are described as before.
 */
export const INTERCHANGE_DEFAULTS = {
  layerNormEpsilon: 1e-5,
  scaleEmbeddings: true,
  embeddingNorm: false,
  geluApproximation: 'tanh' as GeluApproximation,
  maskedLmTransform: false,
} as const;

/** The interchange fields each family accepts. */
const OPTIONAL: Readonly<Record<Arch, readonly string[]>> = {
  'encoder-decoder': ['layerNormEpsilon', 'scaleEmbeddings', 'embeddingNorm', 'geluApproximation'],
  decoder: ['layerNormEpsilon', 'scaleEmbeddings', 'embeddingNorm', 'geluApproximation'],
  encoder: ['layerNormEpsilon', 'scaleEmbeddings', 'embeddingNorm', 'geluApproximation', 'maskedLmTransform'],
};

/** An interchange field of a config, its default when absent. */
export function option<K extends keyof typeof INTERCHANGE_DEFAULTS>(config: object, key: K): (typeof INTERCHANGE_DEFAULTS)[K] {
  return ((config as Record<string, unknown>)[key] ?? INTERCHANGE_DEFAULTS[key]) as (typeof INTERCHANGE_DEFAULTS)[K];
}

/** A config without the interchange fields that hold their defaults (what model.json stores). */
export function compactConfig<C extends object>(config: C): C {
  const defaults = INTERCHANGE_DEFAULTS as Record<string, unknown>;
  return Object.fromEntries(Object.entries(config).filter(([k, v]) => v !== undefined && !(k in defaults && defaults[k] === v))) as C;
}

/** The defaults of every family, in one place. Vocabulary sizes have none: they come from the data. */
export const DEFAULTS = {
  'encoder-decoder': { ...BLOCK_DEFAULTS, numEncoderLayers: 2, numDecoderLayers: 2 },
  decoder: { ...BLOCK_DEFAULTS, numLayers: 2 },
  encoder: { ...BLOCK_DEFAULTS, numLayers: 2, numClasses: 0 },
} as const;

/** The encoder–decoder defaults (kept under their old name). */
export const DEFAULT_CONFIG: Omit<EncoderDecoderConfig, 'srcVocabSize' | 'tgtVocabSize' | 'arch'> = DEFAULTS['encoder-decoder'];

const REQUIRED = {
  'encoder-decoder': ['srcVocabSize', 'tgtVocabSize'],
  decoder: ['vocabSize'],
  encoder: ['vocabSize'],
} as const;

export type EncoderDecoderConfigInput = Partial<Omit<EncoderDecoderConfig, 'arch'>> & Pick<EncoderDecoderConfig, 'srcVocabSize' | 'tgtVocabSize'> & { arch?: 'encoder-decoder' };
export type DecoderConfigInput = Partial<Omit<DecoderConfig, 'arch'>> & Pick<DecoderConfig, 'vocabSize'> & { arch: 'decoder' };
export type EncoderConfigInput = Partial<Omit<EncoderConfig, 'arch'>> & Pick<EncoderConfig, 'vocabSize'> & { arch: 'encoder' };
/** A partial config: the architecture (default: encoder-decoder), the vocabulary sizes, any overrides. */
export type ModelConfigInput = EncoderDecoderConfigInput | DecoderConfigInput | EncoderConfigInput;
export type TransformerConfigInput = EncoderDecoderConfigInput;

/** Fill in defaults and validate; the only way a config enters the library. */
export function resolveConfig(input: EncoderDecoderConfigInput): EncoderDecoderConfig;
export function resolveConfig(input: DecoderConfigInput): DecoderConfig;
export function resolveConfig(input: EncoderConfigInput): EncoderConfig;
export function resolveConfig(input: ModelConfigInput): ModelConfig;
export function resolveConfig(input: ModelConfigInput): ModelConfig {
  if (input === null || typeof input !== 'object') {
    throw new ConfigError(`config must be an object (got ${show(input)})`);
  }
  // Configs saved before there were three families have no arch: they are encoder–decoders.
  const arch = (input as { arch?: unknown }).arch ?? 'encoder-decoder';
  oneOf('arch', arch, ARCHS);
  const defaults = DEFAULTS[arch as Arch];
  const known = new Set<string>(['arch', ...Object.keys(defaults), ...REQUIRED[arch as Arch]]);
  const unknown = Object.keys(input).filter((key) => !known.has(key) && !OPTIONAL[arch as Arch].includes(key));
  if (unknown.length > 0) {
    throw new ConfigError(`unknown ${arch} config field ${show(unknown[0])} (known: ${[...known].join(', ')})`);
  }
  const config = { ...defaults, ...definedOnly(input), arch } as ModelConfig;
  validateConfig(config);
  return config;
}

/** Throws a `ConfigError` naming the first bad field and echoing its value. */
export function validateConfig(config: ModelConfig): void {
  oneOf('arch', config.arch, ARCHS);
  const positive: string[] = ['dModel', 'numHeads', 'dFF', 'maxLen', ...layerFields(config), ...vocabFields(config)];
  for (const key of positive) {
    const value = (config as unknown as Record<string, unknown>)[key];
    if (!Number.isInteger(value) || (value as number) < 1) {
      throw new ConfigError(`${key} (${show(value)}) must be a positive integer`);
    }
  }
  const nonNegative = ['padId', ...(config.arch === 'encoder' ? ['numClasses'] : [])];
  for (const key of nonNegative) {
    const value = (config as unknown as Record<string, unknown>)[key];
    if (!Number.isInteger(value) || (value as number) < 0) {
      throw new ConfigError(`${key} (${show(value)}) must be a non-negative integer`);
    }
  }
  // Bounds before anything is allocated: a saved config is read from a file that may be hostile.
  for (const key of [...positive, ...nonNegative]) {
    const bound = CONFIG_BOUNDS[boundOf(key)];
    const value = (config as unknown as Record<string, number>)[key]!;
    if (bound !== undefined && value > bound) throw new ConfigError(`${key} (${value}) must be at most ${bound}`);
  }
  if (config.maxLen * config.dModel > MAX_POSITION_TABLE) {
    throw new ConfigError(`maxLen × dModel (${config.maxLen} × ${config.dModel}) must be at most ${MAX_POSITION_TABLE} (the size of the position table)`);
  }
  if (config.dModel % config.numHeads !== 0) {
    throw new ConfigError(`dModel (${config.dModel}) must be divisible by numHeads (${config.numHeads})`);
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
  validateInterchange(config);
  const parameters = countParameters(config);
  if (parameters > MAX_PARAMETERS) {
    throw new ConfigError(`the config builds ${parameters} weights, more than the ${MAX_PARAMETERS} (1 GiB of float32) a model may have`);
  }
  const vocabs = vocabFields(config).map((k) => (config as unknown as Record<string, number>)[k]!);
  if (vocabs.some((v) => config.padId >= v)) {
    throw new ConfigError(
      vocabs.length === 2
        ? `padId (${config.padId}) must be smaller than both vocabulary sizes (${vocabs.join(', ')})`
        : `padId (${config.padId}) must be smaller than vocabSize (${vocabs[0]})`,
    );
  }
}

/** The optional interchange fields, when present. */
function validateInterchange(config: ModelConfig): void {
  const c = config as unknown as Record<string, unknown>;
  for (const key of ['scaleEmbeddings', 'embeddingNorm', 'maskedLmTransform']) {
    if (c[key] !== undefined && typeof c[key] !== 'boolean') throw new ConfigError(`${key} (${show(c[key])}) must be true or false`);
  }
  const epsilon = c.layerNormEpsilon;
  if (epsilon !== undefined && (typeof epsilon !== 'number' || !(epsilon > 0 && epsilon <= 0.1))) {
    throw new ConfigError(`layerNormEpsilon (${show(epsilon)}) must be in (0, 0.1]`);
  }
  if (c.geluApproximation !== undefined) oneOf('geluApproximation', c.geluApproximation, ['tanh', 'none']);
}

/** Most weights a model may have: 2^28 float32 values, 1 GiB (a model read from disk is held whole in memory). */
export const MAX_PARAMETERS = 2 ** 28;
/** Most values in the position table (sinusoidal ones are not weights, but are allocated all the same): 256 MiB. */
export const MAX_POSITION_TABLE = 2 ** 26;

/** Upper bounds of the sizes in a config, far above any model this library trains, far below what exhausts memory. */
export const CONFIG_BOUNDS: Readonly<Record<string, number>> = {
  dModel: 16384,
  numHeads: 1024,
  dFF: 65536,
  maxLen: 16384,
  layers: 256,
  vocab: 2 ** 20,
  numClasses: 65536,
  padId: 2 ** 20,
};

function boundOf(key: string): string {
  if (/Layers$/.test(key)) return 'layers';
  if (/VocabSize$|^vocabSize$/.test(key)) return 'vocab';
  return key;
}

function layerFields(c: ModelConfig): string[] {
  return c.arch === 'encoder-decoder' ? ['numEncoderLayers', 'numDecoderLayers'] : ['numLayers'];
}

function vocabFields(c: ModelConfig): string[] {
  return c.arch === 'encoder-decoder' ? ['srcVocabSize', 'tgtVocabSize'] : ['vocabSize'];
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

/** A one-line summary of a config, e.g. "decoder: d 64, 4 heads, 2 layers, ff 256, maxLen 24, vocab 14". */
export function describeConfig(c: ModelConfig): string {
  const shape = `d ${c.dModel}, ${c.numHeads} heads`;
  const rest = `ff ${c.dFF}, maxLen ${c.maxLen}`;
  if (c.arch === 'encoder-decoder') {
    return `${c.arch}: ${shape}, ${c.numEncoderLayers}+${c.numDecoderLayers} layers, ${rest}, vocab ${c.srcVocabSize}/${c.tgtVocabSize}`;
  }
  const classes = c.arch === 'encoder' && c.numClasses > 0 ? `, ${c.numClasses} classes` : '';
  return `${c.arch}: ${shape}, ${c.numLayers} layer${c.numLayers === 1 ? '' : 's'}, ${rest}, vocab ${c.vocabSize}${classes}`;
}

const CONFIG_KEYS = [...new Set([...Object.values(DEFAULTS).flatMap((d) => Object.keys(d)), ...Object.values(REQUIRED).flat(), 'arch', ...Object.keys(INTERCHANGE_DEFAULTS)])];

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
 * back into camelCase ("dFf"), mapped to their config names; other keys are kept.
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
export function countParameters(c: ModelConfig): number {
  const d = c.dModel;
  const attention = 4 * d * d + 4 * d; // Wq, Wk, Wv, Wo and their biases
  const feedForward = 2 * d * c.dFF + c.dFF + d;
  const norm = 2 * d;
  const positions = c.positionalEncoding === 'learned' ? c.maxLen * d : 0;
  const finalNorm = c.normPlacement === 'pre' ? norm : 0;
  const embeddingNorm = c.embeddingNorm === true ? norm : 0;
  const selfStack = (vocab: number, layers: number) => vocab * d + positions + embeddingNorm + layers * (attention + feedForward + 2 * norm) + finalNorm;
  const output = (vocab: number) => (c.tieEmbeddings ? 0 : d * vocab) + vocab;
  if (c.arch === 'decoder') return selfStack(c.vocabSize, c.numLayers) + output(c.vocabSize);
  if (c.arch === 'encoder') {
    const classifier = c.numClasses > 0 ? d * c.numClasses + c.numClasses : 0;
    const transform = c.maskedLmTransform === true ? d * d + d + norm : 0;
    return selfStack(c.vocabSize, c.numLayers) + transform + output(c.vocabSize) + classifier;
  }
  const decoder = c.tgtVocabSize * d + positions + embeddingNorm + c.numDecoderLayers * (2 * attention + feedForward + 3 * norm) + finalNorm;
  return selfStack(c.srcVocabSize, c.numEncoderLayers) + decoder + output(c.tgtVocabSize);
}
