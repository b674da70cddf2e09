import type { EncodedPair } from '../../data/batching.js';
import { generatePtEn } from '../../data/pt-en.js';
import type { DataSpec } from '../../data/spec.js';
import { BOS_ID, EOS_ID, MASK, PAD_ID, Tokenizer } from '../../data/tokenizer.js';
import { DataError } from '../../errors.js';
import { mixSeed, Random } from '../../util/random.js';
import type { PreparedData, PrepareOptions, Reporter } from '../prepare-data.js';
import { prepareReferent } from './referent.js';
import { epochData, fitLength, warnIfChanged } from './shared.js';
import { portugueseSplits, textSplits } from './text.js';

/** Share of the real tokens of a sequence that the masked-LM objective predicts (BERT's 15%). */
export const MASK_RATE = 0.15;

/**
 * Data for the encoder-only model: masked-LM pre-training on Portuguese sentences of the toy
 * corpus or the lines of a user's text file, or the referent classification task.
 */
export function prepareEncoderData(spec: DataSpec, options: PrepareOptions, reporter: Reporter): PreparedData {
  if (spec.kind === 'referent') return prepareReferent(spec, options, reporter);
  if (spec.kind === 'pt' || spec.kind === 'text') return prepareMasked(spec, options, reporter);
  throw new DataError(`an encoder model trains on pt or a text file (masked LM) or on referent (classification), not '${spec.kind}'`);
}

/**
 * Corrupt a sequence [CLS, …tokens, EOS] for masked-LM training: each real token is chosen with
 * probability MASK_RATE (at least one per sequence); a chosen token becomes MASK 80% of the time,
 * a random vocabulary token 10%, and stays 10%. Returns the corrupted ids and the targets
 * (the original id where chosen, padding elsewhere).
 */
export function maskTokens(ids: readonly number[], tokenizer: Tokenizer, random: Random): EncodedPair {
  const mask = tokenizer.special(MASK);
  const src = [BOS_ID, ...ids, EOS_ID];
  const tgt = new Array<number>(src.length).fill(PAD_ID);
  const positions = ids.map((_, i) => i + 1).filter(() => random.next() < MASK_RATE);
  if (positions.length === 0 && ids.length > 0) positions.push(1 + random.int(0, ids.length - 1));
  for (const at of positions) {
    tgt[at] = src[at]!;
    const r = random.next();
    if (r < 0.8) src[at] = mask;
    else if (r < 0.9) src[at] = random.int(tokenizer.reserved, tokenizer.size - 1);
  }
  return { src, tgt };
}

function prepareMasked(spec: Extract<DataSpec, { kind: 'pt' | 'text' }>, options: PrepareOptions, reporter: Reporter): PreparedData {
  const texts = spec.kind === 'pt' ? portugueseSplits(generatePtEn({ seed: options.seed, size: spec.size })) : textSplits(spec, options.seed, reporter);
  const kind = spec.kind === 'pt' ? 'word' : spec.tokenizer;
  const sha256 = 'sha256' in texts ? texts.sha256 : undefined;
  if (spec.kind === 'text' && sha256 !== undefined) warnIfChanged(spec.file, sha256, options, reporter);
  const tokenizer = options.tokenizers?.source ?? Tokenizer.build(kind, texts.train, { extraSpecials: [MASK], vocabSize: spec.kind === 'text' ? spec.vocabSize : undefined });
  if (tokenizer.size <= tokenizer.reserved) throw new DataError('the text has no tokens to learn');
  // Plain ids here; the corruption is drawn per step (training) or once (validation, test).
  const plain = (text: string): EncodedPair => ({ src: tokenizer.encode(text), tgt: [] });
  const need = (p: EncodedPair) => p.src.length + 2;
  const test = 'test' in texts ? (texts.test as string[]).map(plain) : undefined;
  const { splits, maxLen } = fitLength({ train: texts.train.map(plain), valid: texts.valid.map(plain), test }, need, options.maxLen, reporter);
  const fixed = (items: EncodedPair[] | undefined, salt: number) => {
    const random = new Random(mixSeed(options.seed, salt));
    return items?.map((p) => maskTokens(p.src, tokenizer, random));
  };
  const epochs = epochData(splits.train!, options.seed);
  const source = spec.kind === 'pt' ? `Portuguese side of pt-en, seed ${options.seed}` : spec.file;
  return {
    objective: 'masked-lm',
    source: tokenizer,
    target: tokenizer,
    train: {
      batchAt: (step, batchSize) => {
        const random = new Random(mixSeed(options.seed ^ 0x6d61736b, step));
        return epochs.batchAt(step, batchSize).map((p) => maskTokens(p.src, tokenizer, random));
      },
      batchesPerEpoch: epochs.batchesPerEpoch,
    },
    valid: fixed(splits.valid, -1)!,
    test: fixed(splits.test, -2),
    bleu: false,
    maxLen,
    provenance: {
      spec,
      description: `masked LM on ${source}: ${splits.train!.length} training lines, ${splits.valid!.length} validation lines (${kind} tokens, ${MASK_RATE * 100}% masked)`,
      trainPairs: splits.train!.length,
      validPairs: splits.valid!.length,
      testPairs: splits.test?.length,
      ...(sha256 !== undefined ? { sha256 } : {}),
    },
  };
}
