import { BOS_ID, EOS_ID, PAD_ID } from '../data/tokenizer.js';
import { readCorpus, describeSkips } from '../data/corpus.js';
import type { SyntheticTaskName } from '../data/tasks.js';
import { loadModelDir } from '../infer/load.js';
import { DataError } from '../errors.js';
import { evaluate, type EvalMetrics } from './evaluate.js';
import { prepareData, type DataSpec } from './prepare-data.js';

export interface EvalRequest {
  /** A built-in task; the run's own settings are used when it is the task the model was trained on. */
  task?: SyntheticTaskName | 'pt-en' | 'pt' | 'referent';
  /** A corpus file of `source<TAB>target` lines (encoder–decoder) or a text file (the others). */
  data?: string;
}

export interface EvalReport extends EvalMetrics {
  /** What was evaluated, e.g. "copy test set". */
  on: string;
  referentAccuracy?: number;
}

interface Reporter {
  info(message: string): void;
  warn(message: string): void;
}

/** Evaluate a saved model on its own test data, a built-in task, or a corpus file. */
export async function evaluateModelDir(dir: string, request: EvalRequest, reporter: Reporter): Promise<EvalReport> {
  const loaded = await loadModelDir(dir); // the same checks as every other command that reads a model
  const { model, source, target } = loaded;
  const tokenizers = { source, target };
  const config = loaded.run;
  const arch = model.arch;
  try {
    const ids = { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID };
    if (request.data !== undefined && arch === 'encoder-decoder') {
      const corpus = readCorpus(request.data);
      const skips = describeSkips(corpus);
      if (skips !== '') reporter.warn(skips);
      const unseen = corpus.pairs.map((p) => tokenizers.source.unseen(p.source));
      const warning = tokenizers.source.unseenWarning(unseen.flat());
      if (warning !== undefined) reporter.warn(`${unseen.filter((u) => u.length > 0).length} of ${corpus.pairs.length} sources hold ${warning}`);
      const maxLen = model.config.maxLen;
      const items = corpus.pairs
        .map((p) => ({ src: tokenizers.source.encode(p.source, { eos: true }), tgt: tokenizers.target.encode(p.target) }))
        .filter((p) => p.src.length <= maxLen && p.tgt.length + 1 <= maxLen);
      if (items.length < corpus.pairs.length) reporter.warn(`skipped ${corpus.pairs.length - items.length} pairs longer than the model's maxLen (${maxLen})`);
      if (items.length === 0) throw new DataError(`${request.data} has no pairs that fit the model`);
      const metrics = await evaluate(model, items, { objective: 'seq2seq', ids, bleu: true, tokensOf: (t) => tokenizers.target.tokensOf(t), detokenize: (t) => tokenizers.target.decode(t) });
      return { ...metrics, on: request.data };
    }
    const own = config.data?.spec;
    if (own === undefined && request.task === undefined && request.data === undefined) {
      throw new DataError(`${dir}/config.json records no data; give --task or --data`);
    }
    const spec: DataSpec =
      request.data !== undefined
        ? { kind: 'text', file: request.data, valid: request.data, tokenizer: source.kind }
        : request.task === undefined
          ? own!
          : own !== undefined && sameTask(own, request.task)
            ? own
            : request.task === 'pt-en' || request.task === 'pt' || request.task === 'referent'
              ? { kind: request.task }
              : { kind: 'task', task: request.task };
    const prepared = prepareData(spec, { arch, maxLen: model.config.maxLen, seed: config.training.seed, tokenizers }, reporter);
    const items = request.data !== undefined ? prepared.valid : (prepared.test ?? prepared.valid);
    const metrics = await evaluate(model, items, { objective: prepared.objective, ids, bleu: prepared.bleu, tokensOf: (t) => tokenizers.target.tokensOf(t), detokenize: (t) => tokenizers.target.decode(t) });
    const name = spec.kind === 'task' ? spec.task : 'file' in spec ? spec.file : spec.kind;
    if (request.data !== undefined) return { ...metrics, on: request.data };
    return {
      ...metrics,
      on: `${name} ${prepared.test ? 'test' : 'validation'} set`,
      referentAccuracy: await prepared.referent?.score(model),
    };
  } finally {
    model.dispose();
  }
}

function sameTask(spec: DataSpec, task: string): boolean {
  return (spec.kind === 'task' && spec.task === task) || spec.kind === task;
}
