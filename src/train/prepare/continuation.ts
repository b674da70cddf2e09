import type { EncodedPair } from '../../data/batching.js';
import { generatePtEn } from '../../data/pt-en.js';
import type { DataSpec } from '../../data/spec.js';
import { SyntheticTask } from '../../data/tasks.js';
import { SEP, Tokenizer } from '../../data/tokenizer.js';
import { DataError } from '../../errors.js';
import { mixSeed, Random } from '../../util/random.js';
import type { PreparedData, PrepareOptions, Reporter } from '../prepare-data.js';
import { epochData, fitLength, warnIfChanged } from './shared.js';
import { portugueseSplits, textSplits } from './text.js';

/** Positions a continuation example takes in a decoder-only model: bos, the prompt, the continuation. */
const need = (p: EncodedPair) => 1 + p.src.length + p.tgt.length;

/**
 * Data for the decoder-only model (causal language modelling). A synthetic task becomes a
 * continuation, "input <sep> output", scored on the output only; Portuguese sentences of the toy
 * corpus, or the lines of a user's text file, are modelled whole.
 */
export function prepareContinuation(spec: DataSpec, options: PrepareOptions, reporter: Reporter): PreparedData {
  if (spec.kind === 'task') return prepareTask(spec, options, reporter);
  if (spec.kind === 'pt' || spec.kind === 'text') return prepareText(spec, options, reporter);
  throw new DataError(`a decoder model trains on a task (copy, reverse, sort), pt or a text file, not '${spec.kind}'`);
}

function prepareTask(spec: Extract<DataSpec, { kind: 'task' }>, options: PrepareOptions, reporter: Reporter): PreparedData {
  const task = new SyntheticTask(spec.task, { symbols: spec.symbols, minLen: spec.minLen, maxLen: spec.maxLen, seed: options.seed });
  const tokenizer = options.tokenizers?.source ?? Tokenizer.build('char', [task.alphabet.join('')], { extraSpecials: [SEP] });
  const sep = tokenizer.special(SEP);
  const encode = (p: { source: string; target: string }): EncodedPair => ({ src: [...tokenizer.encode(p.source), sep], tgt: tokenizer.encode(p.target) });
  const o = task.options;
  const longest = 1 + (o.maxLen + 1) + o.maxLen; // bos, input and sep, output (its eos is only a target)
  const maxLen = options.maxLen ?? longest;
  if (longest > maxLen) throw new DataError(`sequences of length ${o.maxLen} need a decoder maxLen of at least ${longest} (got ${maxLen})`);
  const { splits } = fitLength({ valid: task.valid.map(encode), test: task.test.map(encode) }, need, maxLen, reporter);
  return {
    objective: 'lm',
    source: tokenizer,
    target: tokenizer,
    train: {
      batchAt: (step, batchSize) => {
        const random = new Random(mixSeed(options.seed, step));
        return Array.from({ length: batchSize }, () => encode(task.sample(random)));
      },
    },
    valid: splits.valid,
    test: splits.test,
    bleu: false,
    maxLen,
    provenance: {
      spec,
      description: `${spec.task} task as continuation (input <sep> output): ${o.symbols} symbols, lengths ${o.minLen}–${o.maxLen}, seed ${options.seed}`,
      validPairs: splits.valid.length,
      testPairs: splits.test.length,
    },
  };
}

function prepareText(spec: Extract<DataSpec, { kind: 'pt' | 'text' }>, options: PrepareOptions, reporter: Reporter): PreparedData {
  const texts = spec.kind === 'pt' ? portugueseSplits(generatePtEn({ seed: options.seed, size: spec.size })) : textSplits(spec, options.seed, reporter);
  const kind = spec.kind === 'pt' ? 'word' : spec.tokenizer;
  const sha256 = 'sha256' in texts ? texts.sha256 : undefined;
  if (spec.kind === 'text' && sha256 !== undefined) warnIfChanged(spec.file, sha256, options, reporter);
  const tokenizer = options.tokenizers?.source ?? Tokenizer.build(kind, texts.train, { vocabSize: spec.kind === 'text' ? spec.vocabSize : undefined });
  const encode = (text: string): EncodedPair => ({ src: [], tgt: tokenizer.encode(text) });
  const test = 'test' in texts ? (texts.test as string[]).map(encode) : undefined;
  const { splits, maxLen } = fitLength({ train: texts.train.map(encode), valid: texts.valid.map(encode), test }, need, options.maxLen, reporter);
  const source = spec.kind === 'pt' ? `Portuguese side of pt-en, seed ${options.seed}` : `${spec.file}`;
  return {
    objective: 'lm',
    source: tokenizer,
    target: tokenizer,
    train: epochData(splits.train!, options.seed),
    valid: splits.valid!,
    test: splits.test,
    bleu: false,
    maxLen,
    provenance: {
      spec,
      description: `language model on ${source}: ${splits.train!.length} training lines, ${splits.valid!.length} validation lines (${kind} tokens)`,
      trainPairs: splits.train!.length,
      validPairs: splits.valid!.length,
      testPairs: splits.test?.length,
      ...(sha256 !== undefined ? { sha256 } : {}),
    },
  };
}
