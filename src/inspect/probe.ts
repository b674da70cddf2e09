import * as tf from '@tensorflow/tfjs';
import type { Arch } from '../config.js';
import { readReferent } from '../data/pt-en.js';
import { BOS_ID, EOS, EOS_ID, MASK, PAD_ID, UNK, UNK_ID, type Tokenizer } from '../data/tokenizer.js';
import { DataError, UsageError } from '../errors.js';
import { encoderIds } from '../infer/classify.js';
import { greedyDecodeScored } from '../infer/greedy.js';
import type { LoadedModel } from '../infer/loaded.js';
import type { TraceInput } from './trace.js';

/**
 * One input as a model reads it, and the decision the causal tools measure on it: the
 * difference between the logits of the right and the wrong answer at one output position
 * (equal to the difference of their log-probabilities).
 */
export interface Probe {
  arch: Arch;
  text: string;
  /** The ids the model reads: the source (ending with eos), or the sequence. */
  ids: number[];
  /** Encoder–decoder: the decoder input, bos then the translation. */
  targetIds?: number[];
  /** Tokens of `ids`. */
  inputTokens: string[];
  /** Encoder–decoder: tokens of `targetIds`. */
  targetTokens?: string[];
  /** What each position of the output stack predicts (an encoder–decoder's written words, a decoder's next tokens). */
  outputTokens: string[];
  /** The decision, when the text is a sentence of the referent construction (or one was given). */
  decision?: Decision;
}

export interface Decision {
  /** Score classes ([CLS] classifier) rather than tokens. */
  classes: boolean;
  /** Output position the decision is read at (tokens). */
  position: number;
  right: number;
  wrong: number;
  rightLabel: string;
  wrongLabel: string;
  /** One line: what is compared where. */
  description: string;
}

export interface ProbeOptions {
  /** Encoder–decoder: the decoder input to use (bos + ids) instead of the greedy translation. */
  targetIds?: number[];
  /** Read the decision (ablate, patch): the text must be a sentence of the referent construction. */
  decide?: boolean;
  /** Compare these two words (or class names) instead of the referent construction's. */
  right?: string;
  wrong?: string;
}

/**
 * Prepare a text for the tools. With `decide`, the decision of the family on a referent sentence
 * ("… da jarra para o copo até que ficasse cheio."):
 * - encoder–decoder: glass vs jug where it writes the noun after "until the";
 * - decoder: the adjective vs its other gender (cheio vs cheia) where it writes the adjective;
 * - encoder with a classifier: the referent's class vs the other one (into vs from);
 * - encoder without one: the adjective masked, its form vs the other gender.
 */
export async function prepareProbe(loaded: LoadedModel, text: string, options: ProbeOptions = {}): Promise<Probe> {
  const { model, source, target } = loaded;
  const maxLen = model.config.maxLen;
  const reading = options.decide === true && options.right === undefined ? readReferent(text) : undefined;
  if (model.arch === 'encoder-decoder') {
    const encoded = source.encode(text, { eos: true });
    const ids = encoded.length <= maxLen ? encoded : [...encoded.slice(0, maxLen - 1), EOS_ID];
    let targetIds = options.targetIds;
    if (targetIds === undefined) {
      const [best] = await greedyDecodeScored(loaded.model as never, [ids], { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID }, { maxLen: maxLen - 1 });
      targetIds = [BOS_ID, ...best!.ids].slice(0, maxLen);
    }
    const targetTokens = tokens(target, targetIds);
    const outputTokens = [...targetTokens.slice(1), EOS];
    const probe: Probe = { arch: model.arch, text, ids, targetIds, inputTokens: tokens(source, ids), targetTokens, outputTokens };
    if (options.decide !== true) return probe;
    // The noun after "until the" (or the first of the two given words' position).
    const position = targetTokens.findIndex((t, i) => i >= 2 && targetTokens[i - 1] === 'the' && targetTokens[i - 2] === 'until');
    if (position < 1) throw new DataError(`the translation '${target.decode(targetIds)}' has no "until the <noun>" to read the decision at`);
    const at = position - 1; // the decoder position that writes targetTokens[position]
    const [right, wrong] = words(target, options.right ?? reading!.referentEn, options.wrong ?? reading!.otherEn);
    return { ...probe, decision: { classes: false, position: at, right, wrong, rightLabel: target.vocab[right]!, wrongLabel: target.vocab[wrong]!, description: `logit(${target.vocab[right]}) − logit(${target.vocab[wrong]}) where it writes the noun after "until the"` } };
  }
  if (model.arch === 'decoder') {
    const all = source.encode(text);
    let body = all;
    let decision: Decision | undefined;
    if (options.decide === true) {
      // Read up to the adjective: the last position predicts it.
      const adjective = options.right ?? reading!.adjective;
      const cut = source.tokenize(text).lastIndexOf(adjective);
      if (cut < 1) throw new DataError(`'${text}' has no '${adjective}' after other words to read the decision at`);
      body = all.slice(0, cut);
      const [right, wrong] = words(source, adjective, options.wrong ?? reading!.otherGender);
      decision = { classes: false, position: body.length, right, wrong, rightLabel: source.vocab[right]!, wrongLabel: source.vocab[wrong]!, description: `logit(${source.vocab[right]}) − logit(${source.vocab[wrong]}) where it writes the adjective` };
    }
    const ids = [BOS_ID, ...body].slice(0, maxLen);
    const inputTokens = tokens(source, ids);
    return { arch: model.arch, text, ids, inputTokens, outputTokens: [...inputTokens.slice(1), '?'], ...(decision ? { decision } : {}) };
  }
  // Encoder.
  const config = model.config;
  const classes = config.arch === 'encoder' && config.numClasses > 0;
  if (options.decide === true && classes) {
    const labels = loaded.labels ?? [];
    const rightLabel = options.right ?? reading!.referent;
    const wrongLabel = options.wrong ?? (reading!.referent === 'into' ? 'from' : 'into');
    const [right, wrong] = [labels.indexOf(rightLabel), labels.indexOf(wrongLabel)];
    if (right < 0 || wrong < 0) throw new UsageError(`the classifier's classes are ${labels.join(', ')}: no '${right < 0 ? rightLabel : wrongLabel}'`);
    const { ids } = encoderIds(source, text, maxLen);
    const inputTokens = tokens(source, ids);
    return { arch: model.arch, text, ids, inputTokens, outputTokens: inputTokens, decision: { classes: true, position: 0, right, wrong, rightLabel, wrongLabel, description: `the classifier's margin, logit(${rightLabel}) − logit(${wrongLabel})` } };
  }
  let read = text;
  let decision: Decision | undefined;
  if (options.decide === true) {
    const adjective = options.right ?? reading!.adjective;
    const at = text.lastIndexOf(adjective);
    if (at < 0) throw new DataError(`'${text}' has no '${adjective}' to mask`);
    read = `${text.slice(0, at)}[MASK]${text.slice(at + adjective.length)}`;
    const [right, wrong] = words(source, adjective, options.wrong ?? reading!.otherGender);
    const position = encoderIds(source, read, maxLen).ids.indexOf(source.special(MASK));
    decision = { classes: false, position, right, wrong, rightLabel: source.vocab[right]!, wrongLabel: source.vocab[wrong]!, description: `logit(${source.vocab[right]}) − logit(${source.vocab[wrong]}) at the masked adjective` };
  }
  const { ids } = encoderIds(source, read, maxLen);
  const inputTokens = tokens(source, ids);
  return { arch: model.arch, text: read, ids, inputTokens, outputTokens: inputTokens, ...(decision ? { decision } : {}) };
}

/** The input tensors of a probe; the caller disposes them (`disposeInput`). */
export function probeInput(probe: Probe): TraceInput {
  const row = (ids: number[]) => tf.tensor2d([ids], [1, ids.length], 'int32');
  return {
    ids: row(probe.ids),
    ...(probe.targetIds ? { targetIds: row(probe.targetIds) } : {}),
    ...(probe.decision?.classes ? { classes: true } : {}),
  };
}

export function disposeInput(input: TraceInput): void {
  tf.dispose([input.ids, ...(input.targetIds ? [input.targetIds] : [])]);
}

/** The decision's value from a run's logits: logit(right) − logit(wrong) at its position (row 0). */
export async function decisionValue(logits: tf.Tensor, decision: Decision): Promise<number> {
  const row = tf.tidy(() => (decision.classes ? logits.slice([0, 0], [1, -1]) : logits.slice([0, decision.position, 0], [1, 1, -1])).reshape([-1]));
  const values = await row.data();
  row.dispose();
  return values[decision.right]! - values[decision.wrong]!;
}

function tokens(tokenizer: Tokenizer, ids: readonly number[]): string[] {
  return ids.map((id) => tokenizer.vocab[id] ?? UNK);
}

function words(tokenizer: Tokenizer, right: string, wrong: string): [number, number] {
  const ids = [tokenizer.id(right), tokenizer.id(wrong)] as [number, number];
  const missing = [right, wrong].find((w, i) => ids[i] === UNK_ID);
  if (missing !== undefined) throw new UsageError(`'${missing}' is not in the model's vocabulary`);
  return ids;
}
