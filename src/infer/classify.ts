import * as tf from '@tensorflow/tfjs';
import { referentNouns } from '../data/pt-en.js';
import { CLS_ID, EOS_ID, MASK, PAD_ID, UNK, UNK_ID, type Tokenizer } from '../data/tokenizer.js';
import { ModelFormatError, UsageError } from '../errors.js';
import type { Batch } from '../model/model.js';
import { requireArch, type LoadedModel } from './loaded.js';

/** How an encoder labelled one sentence. */
export interface Classification {
  text: string;
  /** The most probable class. */
  label: string;
  /** Probability of every class, by name (softmax of the [CLS] classifier's logits). */
  probabilities: Record<string, number>;
  /** Referent models: the container the label points to, as written in the sentence. */
  noun?: string;
  /** Words the model does not know (read as unk). */
  unknown: string[];
  /** The sentence was longer than the model's maxLen and was cut. */
  truncated: boolean;
}

export interface MaskCandidate {
  token: string;
  id: number;
  probability: number;
}

/** The model's guesses for one masked position. */
export interface MaskPrediction {
  /** Position among the tokens the model read (0 is [CLS]). */
  position: number;
  /** Most probable words first; probabilities are of the whole softmax, so they need not sum to 1. */
  candidates: MaskCandidate[];
}

export interface FillMaskResult {
  text: string;
  /** The tokens as the model read them: [CLS] (<bos>), the words with <mask>, <eos>. */
  tokens: string[];
  /** One prediction per [MASK] that fits in the model's maxLen, in order. */
  masks: MaskPrediction[];
  /** The text with each predicted [MASK] replaced by its most probable word. */
  filled: string;
  unknown: string[];
  truncated: boolean;
}

export interface FillMaskOptions {
  /** Candidates per mask. Default: 5. */
  topK?: number;
}

/** How a mask is written in text given to `fillMask`. */
const MASK_PATTERN = /\[MASK\]|<mask>/;

/** Label one sentence with an encoder classifier (a model trained with classes, e.g. --task referent). */
export async function classifyText(loaded: LoadedModel, text: string): Promise<Classification> {
  return (await classifyTexts(loaded, [text]))[0]!;
}

/**
 * Label sentences with an encoder classifier, `batchSize` at a time (padding does not change
 * the result). A folder of another family, or an encoder without classes, is refused in one line.
 */
export async function classifyTexts(loaded: LoadedModel, texts: readonly string[], options: { batchSize?: number } = {}): Promise<Classification[]> {
  requireArch(loaded, 'encoder', 'classify');
  const labels = classLabels(loaded);
  const tokenizer = loaded.source;
  const maxLen = loaded.model.config.maxLen;
  const inputs = texts.map((t) => encoderIds(tokenizer, t, maxLen));
  const batchSize = options.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`batchSize (${batchSize}) must be a positive integer`);
  const probabilities: number[][] = [];
  for (let start = 0; start < inputs.length; start += batchSize) {
    const rows = inputs.slice(start, start + batchSize).map((x) => x.ids);
    const ids = padded(rows);
    const batch: Batch = { kind: 'classify', ids, labels: tf.zeros([rows.length], 'int32') };
    let p: tf.Tensor;
    try {
      p = tf.tidy(() => tf.softmax(loaded.model.score(batch).logits)); // (B, C)
    } finally {
      tf.dispose([batch.ids, batch.labels]);
    }
    probabilities.push(...((await p.array()) as number[][]));
    p.dispose();
  }
  const referent = loaded.run.data?.spec.kind === 'referent';
  return texts.map((text, i) => {
    const p = probabilities[i]!;
    const best = p.indexOf(Math.max(...p));
    const label = labels[best]!;
    const nouns = referent ? referentNouns(text) : undefined;
    const noun = nouns !== undefined && (label === 'from' || label === 'into') ? nouns[label] : undefined;
    return {
      text,
      label,
      probabilities: Object.fromEntries(labels.map((l, c) => [l, p[c]!])),
      ...(noun !== undefined ? { noun } : {}),
      unknown: unknownWords(tokenizer, text),
      truncated: inputs[i]!.truncated,
    };
  });
}

/**
 * Predict the words hidden behind each "[MASK]" in a text with an encoder's masked-LM head (any
 * encoder has one). All masks are predicted at once, each seeing the others as masks. Candidates
 * are vocabulary words: reserved tokens (padding, <unk>, <mask>, …) are never proposed.
 */
export async function fillMask(loaded: LoadedModel, text: string, options: FillMaskOptions = {}): Promise<FillMaskResult> {
  requireArch(loaded, 'encoder', 'fill-mask');
  const topK = options.topK ?? 5;
  if (!Number.isInteger(topK) || topK < 1) throw new UsageError(`topK (${topK}) must be a positive integer`);
  const tokenizer = loaded.source;
  const maskId = tokenizer.special(MASK);
  if (!MASK_PATTERN.test(text)) throw new UsageError(`the text has no [MASK] to fill: ${JSON.stringify(text)}`);
  const { ids, truncated } = encoderIds(tokenizer, text, loaded.model.config.maxLen);
  const positions = ids.flatMap((id, i) => (id === maskId ? [i] : []));
  if (positions.length === 0) throw new UsageError(`every [MASK] lies beyond the model's ${loaded.model.config.maxLen} tokens`);
  const candidateIds = tokenizer.vocab.map((_, id) => id).filter((id) => id >= tokenizer.reserved);
  const k = Math.min(topK, candidateIds.length);
  const batch: Batch = { kind: 'masked-lm', ids: tf.tensor2d([ids], [1, ids.length], 'int32'), targets: tf.zeros([1, ids.length], 'int32') };
  let probs: tf.Tensor;
  try {
    probs = tf.tidy(() => {
      const logits = loaded.model.score(batch).logits; // (1, T, V)
      const atMasks = tf.gather(tf.squeeze(logits, [0]), positions); // (M, V)
      return tf.softmax(atMasks);
    });
  } finally {
    tf.dispose([batch.ids, batch.targets]);
  }
  const rows = (await probs.array()) as number[][];
  probs.dispose();
  const masks = positions.map((position, m) => {
    const p = rows[m]!;
    const candidates = [...candidateIds]
      .sort((a, b) => p[b]! - p[a]! || a - b)
      .slice(0, k)
      .map((id) => ({ token: tokenizer.vocab[id]!, id, probability: p[id]! }));
    return { position, candidates };
  });
  const pieces = text.split(MASK_PATTERN);
  const filled = pieces.map((piece, i) => (i === 0 ? piece : `${masks[i - 1]?.candidates[0]?.token ?? '[MASK]'}${piece}`)).join('');
  return { text, tokens: ids.map((id) => tokenizer.vocab[id] ?? UNK), masks, filled, unknown: unknownWords(tokenizer, text.split(MASK_PATTERN).join(' ')), truncated };
}

/** The class names of an encoder classifier; an encoder without classes is refused, pointing to fill-mask. */
function classLabels(loaded: LoadedModel): string[] {
  const config = loaded.model.config;
  const classes = config.arch === 'encoder' ? config.numClasses : 0;
  if (classes === 0) {
    throw new UsageError(
      `${loaded.dir} is a masked language model without classes: use 'atencao fill-mask', or fine-tune it to classify (atencao train --arch encoder --task referent --init ${loaded.dir})`,
    );
  }
  const labels = loaded.labels ?? Array.from({ length: classes }, (_, c) => `class ${c}`);
  if (labels.length !== classes) throw new ModelFormatError(`${loaded.dir} names ${labels.length} classes but its classifier has ${classes}`);
  return labels;
}

/**
 * An encoder's input: [CLS], the text's ids — each "[MASK]" (or "<mask>") as the mask token, the
 * pieces between them encoded as words — and eos, cut to maxLen keeping eos.
 */
export function encoderIds(tokenizer: Tokenizer, text: string, maxLen: number): { ids: number[]; truncated: boolean } {
  const pieces = text.split(MASK_PATTERN);
  const mask = pieces.length > 1 ? tokenizer.special(MASK) : -1;
  const body = pieces.flatMap((piece, i) => (i === 0 ? tokenizer.encode(piece) : [mask, ...tokenizer.encode(piece)]));
  const room = Math.max(0, maxLen - 2);
  return { ids: [CLS_ID, ...body.slice(0, room), EOS_ID], truncated: body.length > room };
}

/** Rows of ids padded into one (B, T) int32 tensor. */
function padded(rows: readonly number[][]): tf.Tensor2D {
  const t = Math.max(...rows.map((r) => r.length));
  const values = new Int32Array(rows.length * t).fill(PAD_ID);
  rows.forEach((r, i) => values.set(r, i * t));
  return tf.tensor2d(values, [rows.length, t], 'int32');
}

function unknownWords(tokenizer: Tokenizer, text: string): string[] {
  return tokenizer.unseen(text);
}
