import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TransformerConfig } from '../config.js';
import { BOS, BOS_ID, EOS, EOS_ID, PAD_ID, UNK, type Tokenizer } from '../data/tokenizer.js';
import { ModelFormatError } from '../errors.js';
import { checkpointWeightHashes, sha256 } from '../io/checkpoint.js';
import { loadModelFiles, WEIGHTS_BIN } from '../io/model-files.js';
import { readRunConfig, readTokenizers, RUN_CONFIG, TOKENIZER_JSON, type RunConfig } from '../io/model-dir.js';
import type { Transformer } from '../model/transformer.js';
import { beamSearch } from './beam.js';
import { greedyDecodeScored } from './greedy.js';

export interface TranslateOptions {
  /** Beam width; 1 (default) is greedy decoding. */
  beam?: number;
  /** Longest output in tokens. Default: the model's maxLen − 1. */
  maxLen?: number;
  /** α of the beam length penalty. Default: 0.6. */
  lengthPenalty?: number;
  /** Sentences decoded together by greedy decoding. Default: 32. */
  batchSize?: number;
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
}

export interface AttentionMaps {
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

/** A trained model with its tokenizers: translate text and look at its attention. */
export class Translator {
  constructor(
    readonly dir: string,
    readonly model: Transformer,
    readonly source: Tokenizer,
    readonly target: Tokenizer,
    readonly run: RunConfig,
  ) {}

  get config(): TransformerConfig {
    return this.model.config;
  }

  translate(text: string, options?: TranslateOptions): Translation;
  translate(texts: readonly string[], options?: TranslateOptions): Translation[];
  translate(input: string | readonly string[], options: TranslateOptions = {}): Translation | Translation[] {
    const texts = typeof input === 'string' ? [input] : input;
    const maxLen = Math.min(options.maxLen ?? this.config.maxLen - 1, this.config.maxLen - 1);
    const encoded = texts.map((t) => this.encodeSource(t));
    const ids = { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID };
    const results =
      (options.beam ?? 1) <= 1
        ? greedyDecodeScored(this.model, encoded, ids, { maxLen, batchSize: options.batchSize ?? 32 }).map((r) => ({ ...r, score: sum(r.scores) }))
        : encoded.map((src) => beamSearch(this.model, src, ids, { beam: options.beam!, maxLen, lengthPenalty: options.lengthPenalty }));
    const out = results.map((r, i): Translation => ({
      source: texts[i]!,
      output: this.target.decode(r.ids),
      tokens: this.target.tokensOf(r.ids),
      tokenScores: r.scores,
      score: r.score,
      unknown: this.unknownTokens(texts[i]!),
    }));
    return typeof input === 'string' ? out[0]! : out;
  }

  /**
   * The attention weights of every layer and head for a sentence: the model translates it (greedy),
   * then runs once more on its own output to read the encoder self-attention, the decoder's causal
   * self-attention and the cross-attention from each output position to the source.
   */
  attention(text: string, options: { output?: string } = {}): AttentionMaps {
    const src = this.encodeSource(text);
    const outIds = options.output === undefined ? greedyDecodeScored(this.model, [src], { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID }, { maxLen: this.config.maxLen - 1 })[0]!.ids : this.target.encode(options.output);
    const tgtIn = [BOS_ID, ...outIds].slice(0, this.config.maxLen);
    const maps = tf.tidy(() => {
      const enc = this.model.encode(tf.tensor2d([src], undefined, 'int32'), { returnAttention: true });
      const dec = this.model.decode(tf.tensor2d([tgtIn], undefined, 'int32'), enc.memory, enc.memoryMask, { returnAttention: true });
      const read = (ws: tf.Tensor[]) => ws.map((w) => (w.arraySync() as number[][][][])[0]!);
      return { encoder: read(enc.attention!), decoderSelf: read(dec.selfAttention!), cross: read(dec.crossAttention!) };
    });
    const sourceTokens = [...src.slice(0, -1).map((id) => this.source.vocab[id] ?? UNK), EOS];
    const written = this.target.tokensOf(outIds);
    return { sourceTokens, targetTokens: [BOS, ...written].slice(0, tgtIn.length), outputTokens: [...written, EOS].slice(0, tgtIn.length), ...maps };
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
    return this.source.tokenize(text).filter((t) => this.source.id(t) === 3);
  }
}

/**
 * Load a model folder made by `atencao train`, checking it first: every problem (missing files, an
 * unknown format version, weights that do not match the config, a truncated or damaged weights.bin,
 * weight paths that leave the folder, a missing tokenizer) is a `ModelFormatError` with one line.
 */
export async function loadModel(dir: string): Promise<Translator> {
  if (!existsSync(dir)) throw new ModelFormatError(`model folder '${dir}' not found`);
  if (!statSync(dir).isDirectory()) throw new ModelFormatError(`'${dir}' is not a folder`);
  for (const file of [RUN_CONFIG, TOKENIZER_JSON]) {
    if (!existsSync(join(dir, file))) throw new ModelFormatError(`${join(dir, file)} is missing`);
  }
  const run = readRunConfig(dir);
  const { source, target } = readTokenizers(dir);
  const model = loadModelFiles(dir);
  try {
    checkVocabulary(model.config, source, target, dir);
    checkAgainstCheckpoint(dir);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return new Translator(dir, model, source, target, run);
}

function checkVocabulary(config: TransformerConfig, source: Tokenizer, target: Tokenizer, dir: string): void {
  if (source.size !== config.srcVocabSize || target.size !== config.tgtVocabSize) {
    throw new ModelFormatError(
      `${join(dir, TOKENIZER_JSON)} has ${source.size}/${target.size} tokens but the model was built for ${config.srcVocabSize}/${config.tgtVocabSize}`,
    );
  }
}

/** If the folder keeps optimizer checkpoints, weights.bin must be one of the weights they were saved with. */
function checkAgainstCheckpoint(dir: string): void {
  const hashes = checkpointWeightHashes(dir);
  if (hashes.length === 0) return;
  if (!hashes.includes(sha256(readFileSync(join(dir, WEIGHTS_BIN))))) throw new ModelFormatError(`${join(dir, WEIGHTS_BIN)} does not match the checkpoint saved with it (damaged or replaced)`);
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
