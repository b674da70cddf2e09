import * as tf from '@tensorflow/tfjs';
import type { TransformerConfig } from '../config.js';
import { BOS, BOS_ID, EOS, EOS_ID, PAD_ID, UNK, UNK_ID, type Tokenizer } from '../data/tokenizer.js';
import type { RunConfig } from '../io/model-dir.js';
import type { Transformer } from '../model/transformer.js';
import { beamSearchBatch } from './beam.js';
import { greedyDecodeScored } from './greedy.js';
import { MAX_LEN_RATIO, outputLimit } from './guard.js';

export interface TranslateOptions {
  /** Beam width; 1 (default) is greedy decoding. */
  beam?: number;
  /** Longest output in tokens. Default: the model's maxLen − 1. */
  maxLen?: number;
  /** α of the beam length penalty. Default: 0.6. */
  lengthPenalty?: number;
  /** Sentences decoded together (beam search: each with `beam` rows in the model's batch). Default: 32. */
  batchSize?: number;
  /** No n-gram of this many tokens may appear twice in an output (off when absent or 0). */
  noRepeatNgram?: number;
  /**
   * Outputs stop after ⌊ratio × source tokens⌋ + 10 tokens (eos not counted), so a
   * looping output ends early. Default: 2 (`MAX_LEN_RATIO`); `Infinity` leaves only `maxLen`.
   */
  maxLenRatio?: number;
}

export interface Translation {
  source: string;
  output: string;
  /** Output tokens (without bos/eos). */
  tokens: string[];
  /** Log-probability of each output token, then of eos when it was produced. */
  tokenScores: number[];
  /** Sum of the token log-probabilities (beam: divided by the length penalty). */
  score: number;
  /** Source tokens the model does not know (read as unk). */
  unknown: string[];
  /** The source was longer than the model's maxLen and was cut. */
  truncated: boolean;
}

export interface AttentionMaps {
  /** The translation the maps belong to (greedy, or the output given). */
  output: string;
  /** Source tokens as the encoder saw them (eos included). */
  sourceTokens: string[];
  /** Decoder input tokens: bos then the output tokens. */
  targetTokens: string[];
  /** What the model wrote: the output tokens then eos (row i of the decoder maps predicts token i). */
  outputTokens: string[];
  /** [layer][head][query][key] weights. */
  encoder: number[][][][];
  decoderSelf: number[][][][];
  cross: number[][][][];
}

/**
 * A trained model with its tokenizers: translate text and look at its attention. Free of Node
 * APIs, so the browser page uses it as it is; `loadModel` (infer/load.ts) builds one from a folder.
 */
export class Translator {
  constructor(
    readonly dir: string,
    readonly model: Transformer,
    readonly source: Tokenizer,
    readonly target: Tokenizer,
    /** How the model was trained (config.json), when known. */
    readonly run?: RunConfig,
  ) {}

  get config(): TransformerConfig {
    return this.model.config;
  }

  translate(text: string, options?: TranslateOptions): Promise<Translation>;
  translate(texts: readonly string[], options?: TranslateOptions): Promise<Translation[]>;
  async translate(input: string | readonly string[], options: TranslateOptions = {}): Promise<Translation | Translation[]> {
    const texts = typeof input === 'string' ? [input] : input;
    const maxLen = Math.min(options.maxLen ?? this.config.maxLen - 1, this.config.maxLen - 1);
    const encoded = texts.map((t) => this.encodeSource(t));
    const ids = { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID };
    // Source tokens without eos; a cut source counts as written.
    const maxLens = encoded.map((src) => outputLimit(src.length - 1, maxLen, options.maxLenRatio ?? MAX_LEN_RATIO));
    const decoding = { maxLen, maxLens, batchSize: options.batchSize ?? 32, noRepeatNgram: options.noRepeatNgram };
    const results: { ids: number[]; scores: number[]; score: number }[] =
      (options.beam ?? 1) <= 1
        ? (await greedyDecodeScored(this.model, encoded, ids, decoding)).map((r) => ({ ...r, score: sum(r.scores) }))
        : await beamSearchBatch(this.model, encoded, ids, { ...decoding, beam: options.beam!, lengthPenalty: options.lengthPenalty });
    const out = results.map((r, i): Translation => ({
      source: texts[i]!,
      output: this.target.decode(r.ids),
      tokens: this.target.tokensOf(r.ids),
      tokenScores: r.scores,
      score: r.score,
      unknown: this.unknownTokens(texts[i]!),
      truncated: this.source.encode(texts[i]!, { eos: true }).length > this.config.maxLen,
    }));
    return typeof input === 'string' ? out[0]! : out;
  }

  /**
   * The attention weights of every layer and head for a sentence: the model translates it (greedy),
   * then runs once more on its own output to read the encoder self-attention, the decoder's causal
   * self-attention and the cross-attention from each output position to the source.
   */
  async attention(text: string, options: { output?: string } = {}): Promise<AttentionMaps> {
    const src = this.encodeSource(text);
    const outIds =
      options.output === undefined
        ? (await greedyDecodeScored(this.model, [src], { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID }, { maxLen: this.config.maxLen - 1 }))[0]!.ids
        : this.target.encode(options.output);
    const tgtIn = [BOS_ID, ...outIds].slice(0, this.config.maxLen);
    const src2d = tf.tensor2d([src], [1, src.length], 'int32');
    const tgt2d = tf.tensor2d([tgtIn], [1, tgtIn.length], 'int32');
    const weights = this.model.attention({ ids: src2d, targetIds: tgt2d });
    tf.dispose([src2d, tgt2d]);
    const maps = { encoder: await readFirstRow(weights.encoder), decoderSelf: await readFirstRow(weights.decoder), cross: await readFirstRow(weights.cross) };
    const sourceTokens = [...src.slice(0, -1).map((id) => this.source.vocab[id] ?? UNK), EOS];
    const written = this.target.tokensOf(outIds);
    return { output: this.target.decode(outIds), sourceTokens, targetTokens: [BOS, ...written].slice(0, tgtIn.length), outputTokens: [...written, EOS].slice(0, tgtIn.length), ...maps };
  }

  dispose(): void {
    this.model.dispose();
  }

  /** Source ids ending with eos, cut to the model's maxLen. */
  private encodeSource(text: string): number[] {
    const ids = this.source.encode(text, { eos: true });
    return ids.length <= this.config.maxLen ? ids : [...ids.slice(0, this.config.maxLen - 1), EOS_ID];
  }

  private unknownTokens(text: string): string[] {
    return this.source.unseen(text);
  }
}

/** (B, H, Tq, Tk) per layer → [layer][head][query][key] of the first sentence; disposes the tensors. */
export async function readFirstRow(layers: tf.Tensor[] = []): Promise<number[][][][]> {
  try {
    return await Promise.all(layers.map(async (w) => ((await w.array()) as number[][][][])[0]!));
  } finally {
    tf.dispose(layers);
  }
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
