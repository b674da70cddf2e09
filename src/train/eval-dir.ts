import { BOS_ID, EOS_ID, PAD_ID } from '../data/tokenizer.js';
import { readCorpus, describeSkips } from '../data/corpus.js';
import type { SyntheticTaskName } from '../data/tasks.js';
import { loadModel } from '../io/load-model.js';
import { DataError } from '../errors.js';
import { evaluate, type EvalMetrics } from './evaluate.js';
import { prepareData, type DataSpec } from './prepare-data.js';

export interface EvalRequest {
  /** A built-in task; the run's own settings are used when it is the task the model was trained on. */
  task?: SyntheticTaskName | 'pt-en';
  /** A corpus file of `source<TAB>target` lines. */
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
  const translator = await loadModel(dir); // the same checks as every other command that reads a model
  const { model, source, target } = translator;
  const tokenizers = { source, target };
  const config = translator.run!;
  try {
    const ids = { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID };
    if (request.data !== undefined) {
      const corpus = readCorpus(request.data);
      const skips = describeSkips(corpus);
      if (skips !== '') reporter.warn(skips);
      const maxLen = model.config.maxLen;
      const items = corpus.pairs
        .map((p) => ({ src: tokenizers.source.encode(p.source, { eos: true }), tgt: tokenizers.target.encode(p.target) }))
        .filter((p) => p.src.length <= maxLen && p.tgt.length + 1 <= maxLen);
      if (items.length < corpus.pairs.length) reporter.warn(`skipped ${corpus.pairs.length - items.length} pairs longer than the model's maxLen (${maxLen})`);
      if (items.length === 0) throw new DataError(`${request.data} has no pairs that fit the model`);
      const metrics = evaluate(model, items, { ids, bleu: true, tokensOf: (t) => tokenizers.target.tokensOf(t) });
      return { ...metrics, on: request.data };
    }
    const own = config.data.spec;
    const spec: DataSpec = request.task === undefined ? own : sameTask(own, request.task) ? own : request.task === 'pt-en' ? { kind: 'pt-en' } : { kind: 'task', task: request.task };
    const prepared = prepareData(spec, { maxLen: model.config.maxLen, seed: config.training.seed, tokenizers }, reporter);
    const items = prepared.test ?? prepared.valid;
    const metrics = evaluate(model, items, { ids, bleu: prepared.bleu, tokensOf: (t) => tokenizers.target.tokensOf(t) });
    const name = spec.kind === 'task' ? spec.task : spec.kind === 'pt-en' ? 'pt-en' : spec.file;
    return {
      ...metrics,
      on: `${name} ${prepared.test ? 'test' : 'validation'} set`,
      referentAccuracy: prepared.referent?.score(model),
    };
  } finally {
    translator.dispose();
  }
}

function sameTask(spec: DataSpec, task: string): boolean {
  return (spec.kind === 'task' && spec.task === task) || (spec.kind === 'pt-en' && task === 'pt-en');
}
