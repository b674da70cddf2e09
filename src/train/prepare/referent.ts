import type { EncodedPair } from '../../data/batching.js';
import { generateReferent, REFERENT_LABELS, type ReferentCase } from '../../data/pt-en.js';
import type { DataSpec } from '../../data/spec.js';
import { CLS_ID, EOS_ID, MASK, Tokenizer, UNK_ID } from '../../data/tokenizer.js';
import type { PreparedData, PrepareOptions, Reporter } from '../prepare-data.js';
import { epochData, fitLength } from './shared.js';

/**
 * The referent classification task: which container does the adjective refer to? Each sentence
 * becomes [CLS, …words, EOS] labelled 0 ('from', the container poured from) or 1 ('into', the one
 * poured into). Training and validation sentences use the training container pairs; the test
 * split holds only the held-out pairs, so its accuracy measures agreement learnt per noun, not
 * per pair. Fine-tuning reads the sentences with the pre-trained model's vocabulary.
 */
export function prepareReferent(spec: Extract<DataSpec, { kind: 'referent' }>, options: PrepareOptions, reporter: Reporter): PreparedData {
  const corpus = generateReferent({ seed: options.seed, size: spec.size });
  // MASK is reserved as in a masked-LM vocabulary, so the same ids serve both heads of the encoder.
  const tokenizer = options.tokenizers?.source ?? Tokenizer.build('word', corpus.train.map((c) => c.source), { extraSpecials: [MASK] });
  if (options.tokenizers !== undefined) warnUnknown(corpus.train, tokenizer, reporter);
  const encode = (c: ReferentCase): EncodedPair => ({ src: [CLS_ID, ...tokenizer.encode(c.source), EOS_ID], tgt: [REFERENT_LABELS.indexOf(c.referent)] });
  const { splits, maxLen } = fitLength(
    { train: corpus.train.map(encode), valid: corpus.valid.map(encode), test: corpus.test.map(encode) },
    (p) => p.src.length,
    options.maxLen,
    reporter,
  );
  return {
    objective: 'classify',
    source: tokenizer,
    target: tokenizer,
    labels: [...REFERENT_LABELS],
    train: epochData(splits.train, options.seed),
    valid: splits.valid,
    test: splits.test,
    bleu: false,
    maxLen,
    provenance: {
      spec,
      description:
        `referent classification (from | into), seed ${options.seed}: ${splits.train.length} training sentences; ` +
        `test on ${corpus.heldOutPairs.length} held-out container pairs`,
      trainPairs: splits.train.length,
      validPairs: splits.valid.length,
      testPairs: splits.test.length,
    },
  };
}

/** Say when the vocabulary a run starts from lacks words of the task (they read as unk). */
function warnUnknown(cases: readonly ReferentCase[], tokenizer: Tokenizer, reporter: Reporter): void {
  const unknown = new Set<string>();
  for (const c of cases) {
    const tokens = tokenizer.tokenize(c.source);
    tokenizer.encode(c.source).forEach((id, i) => {
      if (id === UNK_ID) unknown.add(tokens[i]!);
    });
  }
  if (unknown.size > 0) {
    reporter.warn(`${unknown.size} words of the referent sentences are not in the vocabulary the run starts from (read as <unk>): ${[...unknown].slice(0, 10).join(', ')}`);
  }
}
