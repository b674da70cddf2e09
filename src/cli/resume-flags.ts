import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import type { RunConfig } from '../io/model-dir.js';

/** Flags that --resume may change: how long to train and how often to validate. */
export const RESUME_CHANGES = ['steps', 'until-exact', 'until-bleu', 'patience', 'valid-every', 'time'] as const;
/** Flags about how this process runs, not what the run is: any value. */
const HOW_TO_RUN = ['backend', 'out', 'resume', 'workers', 'stepper', 'json', 'log-every'];

/**
 * The value each `train` flag had in a saved run, read from its config.json (undefined where the
 * run took a default without recording the flag's value).
 */
export function savedFlagValues(config: RunConfig): Record<string, unknown> {
  const { model, data, training } = config;
  const spec = data.spec as Record<string, unknown>;
  const layers = 'numLayers' in model ? model.numLayers : model.numEncoderLayers === model.numDecoderLayers ? model.numEncoderLayers : undefined;
  const file = (key: string) => (typeof spec[key] === 'string' ? resolve(spec[key] as string) : undefined);
  return {
    arch: model.arch ?? 'encoder-decoder',
    task: spec.kind === 'task' ? spec.task : spec.kind === 'corpus' || spec.kind === 'text' ? undefined : spec.kind,
    data: spec.target === undefined ? file('file') : undefined,
    source: spec.target === undefined ? undefined : file('file'),
    target: file('target'),
    valid: file('valid'),
    test: file('test'),
    'valid-fraction': spec.validFraction,
    tokenizer: spec.tokenizer,
    'vocab-size': spec.vocabSize,
    'min-count': spec.minCount,
    'max-vocab': spec.maxVocab,
    lowercase: spec.lowercase,
    'fold-accents': spec.foldAccents,
    symbols: spec.symbols,
    lengths: spec.minLen === undefined ? undefined : `${spec.minLen}:${spec.maxLen}`,
    size: spec.size,
    'd-model': model.dModel,
    heads: model.numHeads,
    layers,
    'encoder-layers': 'numEncoderLayers' in model ? model.numEncoderLayers : undefined,
    'decoder-layers': 'numDecoderLayers' in model ? model.numDecoderLayers : undefined,
    'd-ff': model.dFF,
    dropout: model.dropout,
    'max-len': model.maxLen,
    activation: model.activation,
    norm: model.normPlacement,
    positions: model.positionalEncoding,
    'tie-embeddings': model.tieEmbeddings,
    'batch-size': training.batchSize,
    lr: training.lr,
    warmup: training.warmup,
    schedule: training.schedule,
    'label-smoothing': training.labelSmoothing,
    clip: training.clip,
    'max-tokens': training.maxTokens,
    seed: training.seed,
    init: training.init === undefined ? undefined : resolve(training.init),
  };
}

/**
 * `train --resume` with flags repeated from the command that started the run: values equal to the
 * saved ones are accepted (re-running the same command with --resume added is the natural thing
 * to do); a changed value is refused with one line naming the flag, the value given and the
 * run's. `given` maps each flag typed (long name, no dashes) to its value.
 */
export function checkResumeFlags(given: Readonly<Record<string, unknown>>, config: RunConfig): void {
  const saved = savedFlagValues(config);
  const may = `only --${RESUME_CHANGES.join(', --').replace(/, --(?=[^,]*$)/, ' and --')} may change`;
  for (const [flag, value] of Object.entries(given)) {
    if (value === undefined || HOW_TO_RUN.includes(flag) || (RESUME_CHANGES as readonly string[]).includes(flag)) continue;
    if (flag === 'epochs') throw new UsageError(`--epochs cannot be given with --resume: the run has ${config.training.steps} steps; give --steps to train longer (${may})`);
    if (!(flag in saved)) throw new UsageError(`--resume continues the run as it was configured; ${may} (got --${flag})`);
    const have = saved[flag];
    const want = ['data', 'source', 'target', 'valid', 'test', 'init'].includes(flag) ? resolve(String(value)) : flag === 'lengths' ? normalizeLengths(String(value)) : value;
    if (want !== have) {
      const theirs = have === undefined ? 'the run used its default' : `the run has ${show(flag, have)}`;
      throw new UsageError(`--resume continues the run as it was configured: --${flag} ${show(flag, value)} differs from it (${theirs}); ${may}`);
    }
  }
}

/** "10" → "10:10", "5:12" → "5:12", as the run records lengths. */
function normalizeLengths(text: string): string {
  const m = /^\s*(\d+)(?::(\d+))?\s*$/.exec(text);
  return m === null ? text : `${Number(m[1])}:${Number(m[2] ?? m[1])}`;
}

function show(flag: string, value: unknown): string {
  return flag === 'tie-embeddings' ? String(value) : typeof value === 'string' ? value : JSON.stringify(value);
}
