import { basename } from 'node:path';
import type { EncodedPair } from '../../data/batching.js';
import type { DataSpec } from '../../data/spec.js';
import { generatePtEn, type ReferentCase } from '../../data/pt-en.js';
import { SyntheticTask } from '../../data/tasks.js';
import { BOS_ID, EOS_ID, PAD_ID, Tokenizer } from '../../data/tokenizer.js';
import type { Pair } from '../../data/types.js';
import { DataError } from '../../errors.js';
import { greedyDecode } from '../../infer/greedy.js';
import type { Model } from '../../model/model.js';
import { mixSeed, Random } from '../../util/random.js';
import type { PreparedData, PrepareOptions, Reporter } from '../prepare-data.js';
import { corpusThreeSplits, encodeAll, epochData, readAlignedPairs, readPairs, warnIfChanged } from './shared.js';

/**
 * Data for the encoder–decoder: source → target pairs. A synthetic task maps its input to its
 * output, pt-en translates the toy corpus, a user's TSV corpus translates its pairs.
 */
export function prepareSeq2Seq(spec: DataSpec, options: PrepareOptions, reporter: Reporter): PreparedData {
  if (spec.kind === 'task') return prepareTask(spec, options);
  if (spec.kind === 'pt-en') return preparePtEn(spec, options, reporter);
  if (spec.kind === 'corpus') return prepareCorpus(spec, options, reporter);
  throw new DataError(`an encoder-decoder model trains on a task, pt-en or a TSV corpus, not '${spec.kind}'`);
}

function prepareTask(spec: Extract<DataSpec, { kind: 'task' }>, options: PrepareOptions): PreparedData {
  const task = new SyntheticTask(spec.task, { symbols: spec.symbols, minLen: spec.minLen, maxLen: spec.maxLen, seed: options.seed });
  const alphabet = task.alphabet.join('');
  const source = options.tokenizers?.source ?? Tokenizer.build('char', [alphabet]);
  const target = options.tokenizers?.target ?? Tokenizer.build('char', [alphabet]);
  const encode = (p: Pair): EncodedPair => ({ src: source.encode(p.source, { eos: true }), tgt: target.encode(p.target) });
  const maxLen = options.maxLen ?? task.options.maxLen + 1;
  if (task.options.maxLen + 1 > maxLen) {
    throw new DataError(`sequences of length ${task.options.maxLen} need a model maxLen of at least ${task.options.maxLen + 1} (got ${maxLen})`);
  }
  const o = task.options;
  return {
    objective: 'seq2seq',
    source,
    target,
    train: {
      batchAt: (step, batchSize) => {
        const random = new Random(mixSeed(options.seed, step));
        return Array.from({ length: batchSize }, () => encode(task.sample(random)));
      },
    },
    valid: task.valid.map(encode),
    test: task.test.map(encode),
    bleu: false,
    maxLen,
    provenance: {
      spec,
      description: `${spec.task} task: ${o.symbols} symbols, lengths ${o.minLen}–${o.maxLen}, seed ${options.seed}`,
      validPairs: task.valid.length,
      testPairs: task.test.length,
    },
  };
}

function preparePtEn(spec: Extract<DataSpec, { kind: 'pt-en' }>, options: PrepareOptions, reporter: Reporter): PreparedData {
  const corpus = generatePtEn({ seed: options.seed, size: spec.size });
  const source = options.tokenizers?.source ?? Tokenizer.build('word', corpus.train.map((p) => p.source));
  const target = options.tokenizers?.target ?? Tokenizer.build('word', corpus.train.map((p) => p.target));
  const encoded = encodeAll({ train: corpus.train, valid: corpus.valid, test: corpus.test }, source, target, options.maxLen, reporter);
  const referentCases = corpus.heldOutReferent;
  return {
    objective: 'seq2seq',
    source,
    target,
    train: epochData(encoded.train, options.seed),
    valid: encoded.valid,
    test: encoded.test,
    bleu: true,
    maxLen: encoded.maxLen,
    provenance: {
      spec,
      description: `pt-en toy translation, seed ${options.seed}: ${corpus.train.length} training pairs`,
      trainPairs: encoded.train.length,
      validPairs: encoded.valid.length,
      testPairs: encoded.test!.length,
    },
    referent: {
      cases: referentCases,
      score: (model) => referentAccuracy(model, referentCases, source, target),
    },
  };
}

function prepareCorpus(spec: Extract<DataSpec, { kind: 'corpus' }>, options: PrepareOptions, reporter: Reporter): PreparedData {
  // Aligned files: the training "file" is the pair of them; --valid and --test files are pairs.
  const read = (file: string) => (spec.target !== undefined && file === spec.file ? readAlignedPairs(spec.file, spec.target) : readPairs(file));
  const { train, valid, test, sha256 } = corpusThreeSplits({ train: spec.file, valid: spec.valid, test: spec.test }, spec.validFraction, options.seed, reporter, read);
  warnIfChanged(spec.file, sha256, options, reporter);
  const shared = { vocabSize: spec.vocabSize, minCount: spec.minCount, maxVocab: spec.maxVocab, lowercase: spec.lowercase };
  const source = options.tokenizers?.source ?? Tokenizer.build(spec.tokenizer, train.map((p) => p.source), { ...shared, foldAccents: spec.foldAccents });
  const target = options.tokenizers?.target ?? Tokenizer.build(spec.tokenizer, train.map((p) => p.target), shared);
  const encoded = encodeAll({ train, valid, test }, source, target, options.maxLen, reporter);
  reporter.info(`${basename(spec.file)}: ${encoded.train.length} training, ${encoded.valid.length} validation and ${encoded.test!.length} test pairs; vocabularies ${source.size} → ${target.size} (${spec.tokenizer})`);
  return {
    objective: 'seq2seq',
    source,
    target,
    train: epochData(encoded.train, options.seed),
    valid: encoded.valid,
    test: encoded.test,
    bleu: true,
    maxLen: encoded.maxLen,
    corpusSize: { pairs: encoded.train.length, meanTargetTokens: encoded.train.reduce((n, p) => n + p.tgt.length + 1, 0) / encoded.train.length },
    provenance: {
      spec,
      description: `${basename(spec.file)}: ${encoded.train.length} training, ${encoded.valid.length} validation, ${encoded.test!.length} test pairs (${spec.tokenizer} tokens)`,
      trainPairs: encoded.train.length,
      validPairs: encoded.valid.length,
      testPairs: encoded.test!.length,
      sha256,
    },
  };
}

/** Fraction of referent sentences whose greedy translation says "until the <right noun>". */
export async function referentAccuracy(model: Model, cases: readonly ReferentCase[], source: Tokenizer, target: Tokenizer): Promise<number> {
  if (cases.length === 0) return 0;
  const outputs = await greedyDecode(model as Required<Pick<Model, 'startGeneration'>>, cases.map((c) => source.encode(c.source, { eos: true })), { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID }, { maxLen: model.config.maxLen - 1 });
  let right = 0;
  outputs.forEach((ids, i) => {
    const tokens = target.tokensOf(ids);
    const at = tokens.findIndex((t, j) => t === 'until' && tokens[j + 1] === 'the');
    if (at >= 0 && tokens[at + 2] === cases[i]!.referentEn) right++;
  });
  return right / cases.length;
}

