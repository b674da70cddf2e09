import { BOS_ID, EOS_ID, PAD_ID, SEP, UNK_ID } from '../data/tokenizer.js';
import { ConfigError, ShapeError, UsageError } from '../errors.js';
import type { Model } from '../model/model.js';
import { Random } from '../util/random.js';
import { COMMANDS_OF, requireArch, type LoadedModel } from './loaded.js';
import { sampleFrom, samplingDistribution, softmax, type SamplingOptions } from './sample.js';

export interface GenerateOptions {
  /** Most tokens to write (eos not counted). Default: as many as maxLen leaves room for. */
  maxTokens?: number;
  /** 0 (default) always writes the most probable token; above 0 samples, sharper below 1, flatter above. */
  temperature?: number;
  /** Sample from the k most probable tokens only (0 or absent: all). */
  topK?: number;
  /** Sample from the fewest most probable tokens holding probability p (absent or 1: all). */
  topP?: number;
  /** Seed of the draws: the same seed, prompt and settings give the same text. Default: a random seed (reported). */
  seed?: number;
  /** Stop when the model writes eos (default). `false` writes on, leaving eos out of the choices. */
  stopAtEos?: boolean;
  /** Use the key/value cache (default); `false` re-runs the model on the whole sequence at every step. */
  cache?: boolean;
}

/** Why generation ended: the model wrote eos, `maxTokens` were written, or the sequence filled maxLen. */
export type StopReason = 'eos' | 'maxTokens' | 'maxLen';

export interface GeneratedIds {
  /** The chosen ids, eos last when the model stopped there. */
  ids: number[];
  /** Probability of each chosen id under the distribution it was drawn from (temperature, top-k, top-p applied). */
  probabilities: number[];
  /** Probability of each chosen id under the model itself (plain softmax of its logits). */
  modelProbabilities: number[];
  stop: StopReason;
  /** The seed the draws used (absent at temperature 0, which draws nothing). */
  seed?: number;
}

export interface Generated extends GeneratedIds {
  prompt: string;
  /** The prompt's tokens as the model read them (after any cut; `<sep>` when appended). */
  promptTokens: string[];
  /** Prompt tokens the vocabulary does not have (read as unk). */
  unknown: string[];
  /** The prompt did not fit in maxLen and its start was cut. */
  truncated: boolean;
  /** The chosen tokens, aligned with `ids` (`<eos>` last when the model stopped there). */
  tokens: string[];
  /** The continuation as text (eos not included). */
  text: string;
  /** The prompt as read, followed by the continuation. */
  full: string;
}

/**
 * Continue `promptIds` (without bos; it is added) with a decoder-only model, one token per step
 * from its key/value cache: greedy at temperature 0, otherwise drawn with the seeded `Random`.
 * Pad and bos are never chosen (neither is ever a training target). The prompt plus bos must
 * leave room for at least one token (`maxLen − 2` prompt tokens at most).
 */
export async function generateIds(model: Model, promptIds: readonly number[], options: GenerateOptions = {}): Promise<GeneratedIds> {
  if (model.startGeneration === undefined) {
    throw new UsageError(`${model.arch === 'encoder' ? 'an' : 'a'} ${model.arch} model does not write text: use ${COMMANDS_OF[model.arch]}`);
  }
  const maxLen = model.config.maxLen;
  if (promptIds.length + 2 > maxLen) {
    throw new ShapeError(`a prompt of ${promptIds.length} tokens leaves no room to write in maxLen ${maxLen} (at most ${maxLen - 2})`);
  }
  if (options.maxTokens !== undefined && !(Number.isInteger(options.maxTokens) && options.maxTokens >= 1)) {
    throw new ConfigError(`maxTokens (${options.maxTokens}) must be a positive integer`);
  }
  const stopAtEos = options.stopAtEos ?? true;
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = new Random(seed);
  const sampling: SamplingOptions = {
    temperature: options.temperature ?? 0,
    topK: options.topK,
    topP: options.topP,
    exclude: stopAtEos ? [PAD_ID, BOS_ID] : [PAD_ID, BOS_ID, EOS_ID],
  };
  const generation = model.startGeneration([[BOS_ID, ...promptIds]], { cache: options.cache ?? true });
  const result: GeneratedIds = { ids: [], probabilities: [], modelProbabilities: [], stop: 'maxLen', ...(sampling.temperature! > 0 ? { seed } : {}) };
  try {
    // Tokens it may write before eos; one more step still lets the model end with eos there.
    const room = generation.capacity;
    const limit = Math.min(options.maxTokens ?? room, room);
    let last = generation.first[0]!;
    for (;;) {
      const { logits } = generation.step([last]);
      const row = Array.from(await logits.data());
      logits.dispose();
      const probs = samplingDistribution(row, sampling);
      const id = sampling.temperature === 0 ? probs.indexOf(1) : sampleFrom(probs, random);
      const written = result.ids.length;
      if (id !== EOS_ID && written === limit) {
        result.stop = options.maxTokens !== undefined && options.maxTokens <= room ? 'maxTokens' : 'maxLen';
        break;
      }
      result.ids.push(id);
      result.probabilities.push(probs[id]!);
      result.modelProbabilities.push(softmax(row)[id]!);
      if (id === EOS_ID) {
        result.stop = 'eos';
        break;
      }
      last = id;
    }
  } finally {
    generation.dispose();
  }
  return result;
}

export interface GenerateTextOptions extends GenerateOptions {
  /**
   * Models trained on a task read "input <sep>" and write the output: append `<sep>` to the prompt
   * (default: when the vocabulary has it).
   */
  sep?: boolean;
}

/**
 * Continue a text prompt with a decoder model folder: tokenize it (unknown words are reported and
 * read as unk), cut its start when it does not fit, generate, and decode. Other families are refused.
 */
export async function generateText(loaded: LoadedModel, prompt: string, options: GenerateTextOptions = {}): Promise<Generated> {
  requireArch(loaded, 'decoder', 'generate');
  const tokenizer = loaded.source;
  const tokens = tokenizer.tokenize(prompt);
  let ids = tokenizer.encode(prompt);
  const unknown = tokens.filter((_, i) => ids[i] === UNK_ID);
  if (options.sep ?? tokenizer.extraSpecials.includes(SEP)) ids.push(tokenizer.special(SEP));
  const room = loaded.model.config.maxLen - 2;
  const truncated = ids.length > room;
  if (truncated) ids = ids.slice(ids.length - room);
  const r = await generateIds(loaded.model, ids, options);
  const text = tokenizer.decode(r.ids);
  return {
    prompt,
    promptTokens: ids.map((id) => tokenizer.vocab[id]!),
    unknown,
    truncated,
    ...r,
    tokens: r.ids.map((id) => tokenizer.vocab[id]!),
    text,
    full: tokenizer.decode([...ids, ...r.ids]),
  };
}
