import { resolveConfig, type DecoderConfig, type EncoderConfig } from '../config.js';
import { ModelFormatError } from '../errors.js';

/** The checkpoint families atencao reads, and the atencao family each becomes. */
export const HF_FAMILIES = { gpt2: 'decoder', bert: 'encoder' } as const;
export type HfFamily = keyof typeof HF_FAMILIES;

export const SUPPORTED = "gpt2 (GPT-2, imported as a decoder) and bert (BERT, imported as an encoder)";

export interface HfModel {
  family: HfFamily;
  /** The atencao config the checkpoint maps onto. */
  config: DecoderConfig | EncoderConfig;
  /** Hugging Face's own vocabulary size (the embedding rows in the file). */
  hfVocabSize: number;
  /** BERT: rows of the token-type table (only type 0 is used). */
  typeVocabSize?: number;
  /** Whether the checkpoint's output projection is the token embedding. */
  tied: boolean;
}

type Json = Record<string, unknown>;

/**
 * Map a Hugging Face config.json onto an atencao config, refusing anything this library cannot
 * compute the same way (another architecture, relative positions, cross-attention, an unknown
 * activation) with one line. The sizes go through `resolveConfig`, so its bounds apply before a
 * weight is read.
 */
export function readHfConfig(json: unknown, source: string): HfModel {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelFormatError(`${source} is not a JSON object`);
  const c = json as Json;
  const type = c.model_type;
  if (type !== 'gpt2' && type !== 'bert') {
    throw new ModelFormatError(`${source} describes a ${typeof type === 'string' ? `'${type}'` : 'model of unknown type'} checkpoint; atencao imports ${SUPPORTED}`);
  }
  try {
    return type === 'gpt2' ? gpt2(c, source) : bert(c, source);
  } catch (error) {
    if (error instanceof ModelFormatError) throw error;
    throw new ModelFormatError(`${source}: ${(error as Error).message}`, { cause: error });
  }
}

function gpt2(c: Json, source: string): HfModel {
  const d = int(c, 'n_embd', source);
  const activation = c.activation_function ?? 'gelu_new';
  const gelu = GELUS[activation as string];
  if (gelu === undefined) throw new ModelFormatError(`${source}: activation_function ${JSON.stringify(activation)} is not one of ${Object.keys(GELUS).join(', ')}`);
  refuseIf(c.add_cross_attention === true, source, 'add_cross_attention (a GPT-2 with cross-attention)');
  refuseIf(c.scale_attn_weights === false, source, 'scale_attn_weights false');
  refuseIf(c.scale_attn_by_inverse_layer_idx === true, source, 'scale_attn_by_inverse_layer_idx');
  const hfVocabSize = int(c, 'vocab_size', source);
  const tied = c.tie_word_embeddings !== false;
  const config = resolveConfig({
    arch: 'decoder',
    // Three more ids than GPT-2's: atencao's pad and unk (GPT-2 has neither) and bos, a copy of <|endoftext|>.
    vocabSize: hfVocabSize + 3,
    numLayers: int(c, 'n_layer', source),
    dModel: d,
    numHeads: int(c, 'n_head', source),
    dFF: c.n_inner == null ? 4 * d : int(c, 'n_inner', source),
    maxLen: int(c, c.n_positions !== undefined ? 'n_positions' : 'n_ctx', source),
    dropout: 0.1,
    activation: gelu.activation,
    ...(gelu.approximation === 'none' ? { geluApproximation: 'none' as const } : {}),
    normPlacement: 'pre',
    positionalEncoding: 'learned',
    tieEmbeddings: tied,
    padId: 0,
    layerNormEpsilon: num(c, 'layer_norm_epsilon', source, 1e-5),
    scaleEmbeddings: false,
  });
  return { family: 'gpt2', config, hfVocabSize, tied };
}

function bert(c: Json, source: string): HfModel {
  const activation = c.hidden_act ?? 'gelu';
  const gelu = GELUS[activation as string];
  if (gelu === undefined) throw new ModelFormatError(`${source}: hidden_act ${JSON.stringify(activation)} is not one of ${Object.keys(GELUS).join(', ')}`);
  refuseIf(c.position_embedding_type !== undefined && c.position_embedding_type !== 'absolute', source, `position_embedding_type ${JSON.stringify(c.position_embedding_type)} (only absolute positions)`);
  refuseIf(c.is_decoder === true || c.add_cross_attention === true, source, 'is_decoder / add_cross_attention');
  const hfVocabSize = int(c, 'vocab_size', source);
  const tied = c.tie_word_embeddings !== false;
  const config = resolveConfig({
    arch: 'encoder',
    vocabSize: hfVocabSize,
    numLayers: int(c, 'num_hidden_layers', source),
    dModel: int(c, 'hidden_size', source),
    numHeads: int(c, 'num_attention_heads', source),
    dFF: int(c, 'intermediate_size', source),
    maxLen: int(c, 'max_position_embeddings', source),
    dropout: 0.1,
    activation: gelu.activation,
    ...(gelu.approximation === 'none' ? { geluApproximation: 'none' as const } : {}),
    normPlacement: 'post',
    positionalEncoding: 'learned',
    tieEmbeddings: tied,
    padId: 0,
    numClasses: 0,
    layerNormEpsilon: num(c, 'layer_norm_eps', source, 1e-12),
    scaleEmbeddings: false,
    embeddingNorm: true,
    maskedLmTransform: true,
  });
  return { family: 'bert', config, hfVocabSize, typeVocabSize: int(c, 'type_vocab_size', source, 2), tied };
}

/** Hugging Face activation names → atencao's activation and GELU form. */
const GELUS: Record<string, { activation: 'relu' | 'gelu'; approximation: 'tanh' | 'none' }> = {
  gelu_new: { activation: 'gelu', approximation: 'tanh' },
  gelu_pytorch_tanh: { activation: 'gelu', approximation: 'tanh' },
  gelu: { activation: 'gelu', approximation: 'none' },
  relu: { activation: 'relu', approximation: 'tanh' },
};

function refuseIf(condition: boolean, source: string, what: string): void {
  if (condition) throw new ModelFormatError(`${source}: ${what} is not supported; atencao imports ${SUPPORTED} as Hugging Face defines them`);
}

function int(c: Json, key: string, source: string, fallback?: number): number {
  const v = c[key] ?? fallback;
  if (!Number.isSafeInteger(v) || (v as number) < 1) throw new ModelFormatError(`${source}: ${key} (${JSON.stringify(v) ?? 'missing'}) must be a positive integer`);
  return v as number;
}

function num(c: Json, key: string, source: string, fallback: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelFormatError(`${source}: ${key} (${JSON.stringify(v)}) must be a number`);
  return v;
}
