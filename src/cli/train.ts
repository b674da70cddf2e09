import type { Argv, CommandModule } from 'yargs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { SYNTHETIC_TASKS, type SyntheticTaskName } from '../data/tasks.js';
import type { TokenizerKind } from '../data/tokenizer.js';
import { UsageError } from '../errors.js';
import { ARCHS, type Arch } from '../config.js';
import { DEFAULT_ARCH, recipeFor, type ModelArgs, type RecipeKey, type TrainingArgs } from '../train/defaults.js';
import type { DataSpec } from '../train/prepare-data.js';
import type { StepperKind } from '../train/stepper.js';
import { describeModel, resumeRun, startRun, type RunReporter, type RunSummary } from '../train/run.js';
import type { StepEvent, ValidationRecord } from '../train/trainer.js';
import { isDeviceBackend } from '../backend.js';
import { backendOption, nonNegativeInt, numberIn, positiveInt, positiveNumber, startBackend, useRelaxedSimd } from './options.js';
import { formatSeconds, pct, ProgressReporter } from './progress.js';
import { readRunConfig } from '../io/model-dir.js';
import { checkResumeFlags } from './resume-flags.js';
import { filmObserver } from '../train/film.js';

interface TrainArgs {
  'relaxed-simd'?: boolean;
  arch?: string;
  task?: string;
  data?: string;
  source?: string;
  target?: string;
  valid?: string;
  test?: string;
  'valid-fraction'?: number;
  tokenizer?: string;
  'vocab-size'?: number;
  'min-count'?: number;
  'max-vocab'?: number;
  lowercase?: boolean;
  'fold-accents'?: boolean;
  symbols?: number;
  lengths?: string;
  size?: number;
  out: string;
  resume: boolean;
  'd-model'?: number;
  heads?: number;
  layers?: number;
  'encoder-layers'?: number;
  'decoder-layers'?: number;
  'd-ff'?: number;
  dropout?: number;
  'max-len'?: number;
  activation?: string;
  norm?: string;
  positions?: string;
  'tie-embeddings'?: boolean;
  steps?: number;
  epochs?: number;
  'batch-size'?: number;
  lr?: number;
  warmup?: number;
  schedule?: string;
  'label-smoothing'?: number;
  'max-tokens'?: number;
  clip?: number;
  'valid-every'?: number;
  'until-exact'?: number;
  'until-bleu'?: number;
  patience?: number;
  time?: string;
  seed?: number;
  workers?: number;
  init?: string;
  stepper?: string;
  backend: string;
  json: boolean;
  'log-every'?: number;
  film: boolean;
  'film-every'?: number;
}

const TASKS = [...SYNTHETIC_TASKS, 'pt-en', 'pt', 'referent'];
/** Flags that --resume may change; everything else comes from the run's config.json. */
const RESUMABLE = new Set(['film', 'film-every', 'steps', 'until-exact', 'until-bleu', 'patience', 'valid-every', 'backend', 'out', 'resume', 'workers', 'stepper', 'relaxed-simd', 'json', 'log-every']);

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'Train a model on a task or a corpus and save it to a folder',
  builder: (y: Argv) =>
    y
      .group(['arch', 'task', 'data', 'source', 'target', 'valid', 'test', 'valid-fraction', 'tokenizer', 'vocab-size', 'min-count', 'max-vocab', 'lowercase', 'fold-accents', 'symbols', 'lengths', 'size'], 'Data:')
      .option('arch', {
        type: 'string',
        choices: ARCHS,
        describe: 'Model family: encoder-decoder (translation), decoder (GPT: continues text), encoder (BERT: masked LM, classification) [default: the task\'s]',
      })
      .option('task', {
        type: 'string',
        choices: TASKS,
        describe: 'A built-in task: copy, reverse, sort (synthetic; continued after <sep> by a decoder), pt-en (toy translation), pt (Portuguese text: LM or masked LM), referent (which container? encoder)',
      })
      .option('data', { type: 'string', describe: "Your data: 'source<TAB>target' pairs (encoder-decoder) or plain text, one example per line (decoder, encoder)" })
      .option('source', { type: 'string', describe: 'Translation pairs as two aligned files (Moses/OPUS style): the source sentences, one per line (with --target)' })
      .option('target', { type: 'string', describe: 'The target sentences, line n translating line n of --source' })
      .option('valid', { type: 'string', describe: 'Validation pairs in the same format (default: hold out --valid-fraction)' })
      .option('test', { type: 'string', describe: 'Test pairs (translation), reported once at the end and never used for a choice (default: hold out --valid-fraction of --data)' })
      .option('valid-fraction', { type: 'number', describe: 'Fraction of --data held out for validation, and for testing [default: 0.05 each, at most 1,000 pairs]' })
      .option('tokenizer', { type: 'string', choices: ['char', 'word', 'bpe'], describe: 'Tokens of --data: characters, words, or subwords learned by byte-pair encoding (no input is ever unknown; spacing restored exactly) [default: bpe]' })
      .option('vocab-size', { type: 'number', describe: 'With --tokenizer bpe: vocabulary size per language, reserved and 256 byte tokens included [default: 4000]' })
      .option('min-count', { type: 'number', describe: 'With --tokenizer word: words seen fewer times become <unk> in training, so the model learns what to do with unknown words [default: 2]' })
      .option('max-vocab', { type: 'number', describe: 'With --tokenizer word: keep at most this many tokens (the most frequent) per language' })
      .option('lowercase', { type: 'boolean', describe: 'Read both sides lowercased (smaller vocabularies, "ELA" = "ela"); translations get their usual case back' })
      .option('fold-accents', { type: 'boolean', describe: 'Read the source without accents, so "agua" and "água" are the same word' })
      .option('symbols', { type: 'number', describe: 'Synthetic tasks: distinct symbols [default: 10]' })
      .option('lengths', { type: 'string', describe: 'Synthetic tasks: sequence length N or MIN:MAX [default: 10]' })
      .option('size', { type: 'number', describe: 'pt-en, pt, referent: training examples to generate [default: 6000]' })
      .group(['out', 'resume'], 'Output:')
      .option('out', { type: 'string', demandOption: true, describe: 'Model folder to create (or continue with --resume)' })
      .option('resume', { type: 'boolean', default: false, describe: 'Continue the run saved in --out (same data, schedule and optimizer state)' })
      .group(['d-model', 'heads', 'layers', 'encoder-layers', 'decoder-layers', 'd-ff', 'dropout', 'max-len', 'activation', 'norm', 'positions', 'tie-embeddings'], 'Model (defaults depend on the task):')
      .option('d-model', { type: 'number', describe: 'Width of token vectors' })
      .option('heads', { type: 'number', describe: 'Attention heads' })
      .option('layers', { type: 'number', describe: 'Encoder and decoder layers' })
      .option('encoder-layers', { type: 'number', describe: 'Encoder layers' })
      .option('decoder-layers', { type: 'number', describe: 'Decoder layers' })
      .option('d-ff', { type: 'number', describe: 'Feed-forward hidden width' })
      .option('dropout', { type: 'number', describe: 'Dropout rate in [0, 1)' })
      .option('max-len', { type: 'number', describe: 'Longest sequence in tokens (default: fits the data, at most 128)' })
      .option('activation', { type: 'string', choices: ['relu', 'gelu'], describe: 'Feed-forward non-linearity' })
      .option('norm', { type: 'string', choices: ['pre', 'post'], describe: 'Layer norm before sublayers or after the residual add' })
      .option('positions', { type: 'string', choices: ['sinusoidal', 'learned'], describe: 'Positional encoding' })
      .option('tie-embeddings', { type: 'boolean', describe: 'Use the target embedding as the output projection' })
      .group(['steps', 'epochs', 'batch-size', 'lr', 'warmup', 'schedule', 'label-smoothing', 'clip', 'max-tokens', 'valid-every', 'until-exact', 'until-bleu', 'patience', 'time', 'seed', 'backend'], 'Training:')
      .option('steps', { type: 'number', describe: 'Optimisation steps in total' })
      .option('epochs', { type: 'number', describe: 'Passes over --data or pt-en (instead of --steps)' })
      .option('batch-size', { type: 'number', describe: 'Sentences per step' })
      .option('lr', { type: 'number', describe: 'Peak learning rate (Adam 0.9/0.98/1e-9)' })
      .option('warmup', { type: 'number', describe: 'Warm-up steps' })
      .option('schedule', { type: 'string', choices: ['noam', 'constant'], describe: 'After warm-up: decay ∝ 1/√step (noam) or stay flat' })
      .option('label-smoothing', { type: 'number', describe: 'Label smoothing in [0, 1)' })
      .option('clip', { type: 'number', describe: 'Clip gradients to this global norm (0: off)' })
      .option('max-tokens', { type: 'number', describe: 'Padded tokens (rows × longest row) each thread computes at once; a longer batch is cut into pieces whose gradients are added: the same step in less memory [default: 768]' })
      .option('valid-every', { type: 'number', describe: 'Validate and save every N steps' })
      .option('until-exact', { type: 'number', describe: 'Stop once validation exact match reaches this (0–1)' })
      .option('until-bleu', { type: 'number', describe: 'Translation: stop once validation BLEU reaches this (0–100)' })
      .option('patience', { type: 'number', describe: 'Stop after N validations in a row without a better score (BLEU for translation) [default: 3 for --data pairs, else off]' })
      .option('time', { type: 'string', describe: 'Stop after this much training time in all, e.g. 900s, 15m, 1.5h (then validate, save and test as at the last step)' })
      .option('seed', { type: 'number', describe: 'Seed for data, weights and dropout [default: 1]' })
      .option('init', { type: 'string', describe: 'Fine-tune: start from the weights (and vocabulary) of this model folder, e.g. an encoder pre-trained with --task pt' })
      .option('workers', { type: 'number', describe: `Threads computing each step (data-parallel) [default: one per core (${availableParallelism()} here) on wasm and cpu; 1 on native TensorFlow]` })
      .option('stepper', {
        type: 'string',
        choices: ['flat', 'parallel', 'device'],
        describe: 'How steps run: flat (SIMD Adam, one thread), parallel (flat Adam, batch split over --workers threads), device (tf.train.adam on the backend) [default: parallel on wasm/cpu with 2+ cores, else flat]',
      })
      .option('relaxed-simd', { type: 'boolean', default: false, describe: 'Matrix products on wasm with fused multiply-add (relaxed SIMD): ~1.3× faster products; results differ from the default in the last bits, so runs are reproducible only with the same setting' })
      .option('backend', backendOption)
      .group(['json', 'log-every', 'film', 'film-every'], 'Log:')
      .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object per logged step on stdout ({"event":"step", step, loss, tokensPerSecond, backend, …}), then each validation and the result; progress stays on stderr' })
      .option('log-every', { type: 'number', describe: 'Log every N steps with --json; a device backend reads its losses back this often [default: 10 on a device backend, else 1]' })
      .option('film', { type: 'boolean', default: false, describe: 'Record a film: the attention of one fixed input every --film-every steps, into film.jsonl (play it with: atencao attention --model DIR --film --format html --out film.html)' })
      .option('film-every', { type: 'number', describe: 'With --film: steps between frames (the film thins itself to at most 200 frames) [default: 50]' })
      .conflicts('task', 'data')
      .conflicts('task', 'source')
      .conflicts('data', 'source')
      .conflicts('data', 'target')
      .conflicts('steps', 'epochs')
      .example('$0 train --task copy --out models/copy', 'learn to copy sequences')
      .example('$0 train --task pt-en --out models/pt-en', 'toy Portuguese → English translation')
      .example('$0 train --data pairs.tsv --tokenizer word --out models/mine', 'your own corpus')
      .example('$0 train --data pairs.tsv --tokenizer bpe --vocab-size 8000 --out models/mine', 'subwords: no unknown words')
      .example('$0 train --source europarl.pt --target europarl.en --time 15m --out models/mine', 'aligned files, trained for 15 minutes')
      .example('$0 train --arch decoder --task copy --out models/gpt-copy', 'a GPT-style decoder continues "abc<sep>" with "abc"')
      .example('$0 train --arch decoder --data book.txt --out models/gpt', 'a language model of your text')
      .example('$0 train --arch encoder --task referent --out models/bert-referent', 'BERT-style classifier: which container is full?')
      .example('$0 train --out models/copy --resume --steps 5000', 'continue a run')
      .example('$0 train --task copy --out models/copy --film --film-every 10', 'record how the attention forms')
      .example('$0 train --task copy --out models/copy --backend webgpu --json --log-every 50', 'on a GPU, a JSON line every 50 steps'),
  handler: async (args) => {
    const given = explicitFlags(args);
    if (args.resume) {
      // The command that started the run, repeated with --resume: equal values are fine, changes are refused.
      const repeated = [...given].filter((f) => !RESUMABLE.has(f));
      if (repeated.length > 0) checkResumeFlags(Object.fromEntries(repeated.map((f) => [f, args[f as keyof TrainArgs]])), readRunConfig(resolve(args.out)));
    } else if (args.task === undefined && args.data === undefined && args.source === undefined && args.target === undefined) {
      throw new UsageError(`choose the data: --task ${TASKS.join('|')} or --data FILE`);
    }
    if ((args.source === undefined) !== (args.target === undefined)) throw new UsageError('--source and --target go together: the two sides of the pairs, one sentence per line');
    const training = trainingArgs(args);
    const workers = positiveInt('workers', args.workers);
    const logEvery = positiveInt('log-every', args['log-every']);
    if (args['relaxed-simd']) useRelaxedSimd();
    const info = await startBackend(args.backend);
    const progress = new ProgressReporter();
    if (args['relaxed-simd']) progress.info('matrix products: relaxed SIMD (fused multiply-add)');
    const stop = interruptFlag(progress);
    const json = args.json ? jsonLog(info.name, logEvery ?? (isDeviceBackend(info.name) ? 10 : 1)) : undefined;
    const filmEvery = positiveInt('film-every', args['film-every']) ?? 50;
    if (args['film-every'] !== undefined && !args.film) throw new UsageError('--film-every goes with --film');
    const reporter: RunReporter = {
      ...(args.film ? { observe: filmObserver({ every: filmEvery }) } : {}),
      info: (m) => progress.info(m),
      warn: (m) => progress.warn(m),
      step: (e) => {
        progress.step(e);
        json?.step(e);
      },
      stepEvery: logEvery,
      validation: (r) => {
        progress.validation(r);
        json?.validation(r);
      },
      shouldStop: stop.requested,
    };
    let summary: RunSummary;
    try {
      if (args.resume) {
        summary = await resumeRun({ out: args.out, overrides: { steps: training.steps, untilExact: training.untilExact, untilBleu: training.untilBleu, patience: training.patience, validEvery: training.validEvery, timeLimit: training.timeLimit }, backend: info.name, workers, stepper: args.stepper as StepperKind | undefined }, reporter);
      } else {
        const { arch, recipe } = chooseRecipe(args);
        const data = dataSpec(args, arch);
        const full: TrainingArgs = { ...recipe.training, ...training };
        const model = modelArgs(args, arch);
        // A translation corpus gets the model and schedule its size calls for, under the flags given.
        const given = data.kind === 'corpus' ? { given: { model, training } } : {};
        summary = await startRun({ out: args.out, arch, data, model: { ...recipe.model, ...model }, training: full, epochs: args.epochs, backend: info.name, workers, stepper: args.stepper as StepperKind | undefined, ...given }, reporter);
      }
    } finally {
      progress.done();
      stop.dispose();
    }
    report(summary, stop.signal(), json !== undefined);
    if (stop.signal() !== undefined) process.exitCode = 130;
  },
};

/** The family (given, or the task's usual one) and its defaults for the data; refuses pairs that do not go together. */
function chooseRecipe(args: TrainArgs): { arch: Arch; recipe: NonNullable<ReturnType<typeof recipeFor>> } {
  const key: RecipeKey = args.data !== undefined || args.source !== undefined ? (args.arch === undefined || args.arch === 'encoder-decoder' ? 'corpus' : 'text') : (args.task as RecipeKey);
  const arch = (args.arch as Arch | undefined) ?? DEFAULT_ARCH[key];
  const recipe = recipeFor(arch, key);
  if (recipe === undefined) {
    const fits = ARCHS.filter((a) => recipeFor(a, key) !== undefined);
    throw new UsageError(`--task ${key} does not train ${arch === 'encoder' ? 'an' : 'a'} ${arch} model (it trains: ${fits.join(', ')})`);
  }
  return { arch, recipe };
}

/** JSON lines on stdout: a step every `every` steps (and the last), each validation, then the result. */
function jsonLog(backend: string, every: number) {
  const write = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
  return {
    step(e: StepEvent) {
      if (e.step % every !== 0 && e.step !== e.steps) return;
      write({ event: 'step', step: e.step, steps: e.steps, loss: e.loss, lr: e.lr, tokensPerSecond: Math.round(e.tokensPerSecond), elapsedSeconds: Math.round(e.elapsedSeconds * 100) / 100, backend });
    },
    validation(r: ValidationRecord) {
      write({ event: 'validation', ...r, backend });
    },
    write,
  };
}

function report(s: RunSummary, signal: string | undefined, json: boolean): void {
  const r = s.result;
  const why =
    r.reason === 'target'
      ? r.last!.bleu !== undefined && s.config.training.untilBleu !== undefined && r.last!.bleu >= s.config.training.untilBleu
        ? `reached BLEU ${(100 * r.last!.bleu).toFixed(1)} on validation`
        : `reached exact match ${pct(r.last!.exactMatch)} on validation`
      : r.reason === 'plateau'
        ? `stopped early: no better validation score in ${s.config.training.patience} validations (best at step ${r.best?.step})`
      : r.reason === 'interrupted'
        ? `interrupted by ${signal ?? 'a signal'}; checkpoint saved`
        : r.reason === 'time'
          ? `used its time (--time ${formatSeconds(s.config.training.timeLimit ?? 0)})`
          : 'finished its steps';
  const t = s.test;
  const exact = t.exactMatch === undefined ? '' : `exact match ${pct(t.exactMatch)}, `;
  const what = s.config.model.arch === 'encoder' && t.exactMatch !== undefined ? 'accuracy' : 'token accuracy';
  const lines = [
    `${why} at step ${r.state.step} after ${formatSeconds(r.state.elapsedSeconds)} (${r.state.elapsedSeconds.toFixed(1)} s)`,
    `${t.split} set (${t.n} examples): ${exact}${what} ${pct(t.tokenAccuracy)}, loss ${t.loss.toFixed(3)}${t.bleu === undefined ? '' : `, BLEU ${(100 * t.bleu).toFixed(1)}`}`,
  ];
  if (s.referentAccuracy !== undefined) lines.push(`held-out container pairs: right referent in ${pct(s.referentAccuracy)}`);
  lines.push(`model (${describeModel(s.config.model)}) saved in ${s.dir}`);
  if (!json) {
    process.stdout.write(`${lines.join('\n')}\n`);
    return;
  }
  process.stderr.write(`${lines.join('\n')}\n`);
  const result = { event: 'done', reason: r.reason, step: r.state.step, elapsedSeconds: r.state.elapsedSeconds, test: t, referentAccuracy: s.referentAccuracy, dir: s.dir };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}


function dataSpec(args: TrainArgs, arch: Arch): DataSpec {
  if (args.source !== undefined && arch !== 'encoder-decoder') throw new UsageError(`--source and --target hold translation pairs: they train an encoder-decoder, not a ${arch}`);
  const file = args.data ?? args.source;
  if (file !== undefined) {
    numberIn('valid-fraction', args['valid-fraction'], 0, 1);
    if (args['valid-fraction'] !== undefined && (args['valid-fraction'] <= 0 || args['valid-fraction'] >= 1)) {
      throw new UsageError(`--valid-fraction (${args['valid-fraction']}) must be between 0 and 1`);
    }
    const kind = arch === 'encoder-decoder' ? 'corpus' : 'text';
    const tokenizer = (args.tokenizer ?? 'bpe') as TokenizerKind;
    if (args['vocab-size'] !== undefined && tokenizer !== 'bpe') throw new UsageError('--vocab-size goes with --tokenizer bpe');
    positiveInt('vocab-size', args['vocab-size']);
    for (const flag of ['min-count', 'max-vocab'] as const) {
      if (args[flag] !== undefined && tokenizer !== 'word') throw new UsageError(`--${flag} goes with --tokenizer word`);
      positiveInt(flag, args[flag]);
    }
    if ((args.lowercase !== undefined || args['fold-accents'] !== undefined) && kind !== 'corpus') throw new UsageError('--lowercase and --fold-accents go with translation pairs');
    const words = tokenizer === 'word' ? { minCount: args['min-count'] ?? 2, ...(args['max-vocab'] !== undefined ? { maxVocab: args['max-vocab'] } : {}) } : {};
    const form = { ...(args.lowercase === true ? { lowercase: true } : {}), ...(args['fold-accents'] === true ? { foldAccents: true } : {}) };
    if (args.test !== undefined && kind !== 'corpus') throw new UsageError('--test goes with a translation corpus (--arch encoder-decoder)');
    return { kind, file, ...(args.target !== undefined ? { target: args.target } : {}), valid: args.valid, ...(args.test !== undefined ? { test: args.test } : {}), validFraction: args['valid-fraction'], tokenizer, ...(args['vocab-size'] !== undefined ? { vocabSize: args['vocab-size'] } : {}), ...(kind === 'corpus' ? { ...words, ...form } : {}) } as DataSpec;
  }
  for (const flag of ['valid', 'test', 'valid-fraction', 'tokenizer', 'vocab-size', 'min-count', 'max-vocab', 'lowercase', 'fold-accents'] as const) {
    if (args[flag] !== undefined) throw new UsageError(`--${flag} goes with --data or --source/--target, not --task`);
  }
  if (args.task === 'pt-en' || args.task === 'pt' || args.task === 'referent') {
    if (args.symbols !== undefined || args.lengths !== undefined) throw new UsageError(`--symbols and --lengths go with the synthetic tasks, not ${args.task}`);
    return { kind: args.task, size: positiveInt('size', args.size) };
  }
  if (args.size !== undefined) throw new UsageError('--size goes with --task pt-en, pt or referent');
  const [minLen, maxLen] = parseLengths(args.lengths);
  return { kind: 'task', task: args.task as SyntheticTaskName, symbols: positiveInt('symbols', args.symbols), minLen, maxLen };
}

function parseLengths(text: string | undefined): [number | undefined, number | undefined] {
  if (text === undefined) return [undefined, undefined];
  const m = /^(\d+)(?::(\d+))?$/.exec(text.trim());
  if (!m) throw new UsageError(`--lengths (${text}) must be N or MIN:MAX, e.g. 10 or 5:12`);
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : Number(m[2]);
  if (min < 1 || max < min) throw new UsageError(`--lengths (${text}) needs 1 ≤ MIN ≤ MAX`);
  return [min, max];
}

function modelArgs(args: TrainArgs, arch: Arch): ModelArgs {
  const layers = positiveInt('layers', args.layers);
  if (arch !== 'encoder-decoder' && (args['encoder-layers'] !== undefined || args['decoder-layers'] !== undefined)) {
    throw new UsageError(`--encoder-layers and --decoder-layers go with --arch encoder-decoder; a ${arch} model has --layers`);
  }
  const stacks: ModelArgs =
    arch === 'encoder-decoder'
      ? { numEncoderLayers: positiveInt('encoder-layers', args['encoder-layers']) ?? layers, numDecoderLayers: positiveInt('decoder-layers', args['decoder-layers']) ?? layers }
      : { numLayers: layers };
  const out: ModelArgs = {
    ...stacks,
    dModel: positiveInt('d-model', args['d-model']),
    numHeads: positiveInt('heads', args.heads),
    dFF: positiveInt('d-ff', args['d-ff']),
    dropout: numberIn('dropout', args.dropout, 0, 1, true),
    maxLen: positiveInt('max-len', args['max-len']),
    activation: args.activation as ModelArgs['activation'],
    normPlacement: args.norm as ModelArgs['normPlacement'],
    positionalEncoding: args.positions as ModelArgs['positionalEncoding'],
    tieEmbeddings: args['tie-embeddings'],
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as ModelArgs;
}

function trainingArgs(args: TrainArgs): Partial<TrainingArgs> {
  positiveInt('epochs', args.epochs);
  const out: Partial<TrainingArgs> = {
    steps: positiveInt('steps', args.steps),
    batchSize: positiveInt('batch-size', args['batch-size']),
    lr: positiveNumber('lr', args.lr),
    warmup: nonNegativeInt('warmup', args.warmup),
    schedule: args.schedule as TrainingArgs['schedule'],
    labelSmoothing: numberIn('label-smoothing', args['label-smoothing'], 0, 1, true),
    clip: numberIn('clip', args.clip, 0, Number.MAX_VALUE),
    maxTokens: positiveInt('max-tokens', args['max-tokens']),
    validEvery: positiveInt('valid-every', args['valid-every']),
    untilExact: numberIn('until-exact', args['until-exact'], 0, 1),
    untilBleu: args['until-bleu'] === undefined ? undefined : numberIn('until-bleu', args['until-bleu'], 0, 100)! / 100,
    patience: positiveInt('patience', args.patience),
    timeLimit: args.time === undefined ? undefined : parseDuration(args.time),
    seed: nonNegativeInt('seed', args.seed),
    init: args.init,
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as Partial<TrainingArgs>;
}

/** "900", "900s", "15m", "1.5h" → seconds; anything else is a UsageError. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h)?$/.exec(text.trim());
  const seconds = m === null ? NaN : Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 's' | 'm' | 'h'];
  if (!(seconds > 0)) throw new UsageError(`--time (${text}) must be a duration such as 900s, 15m or 1.5h`);
  return seconds;
}

/** Flags the user typed (yargs also fills in aliases and defaults; this keeps only what was given). */
function explicitFlags(args: TrainArgs): Set<string> {
  // Only --resume, --backend and --workers have defaults, so any other flag with a value was typed.
  const flags = Object.keys(args).filter((k) => k !== '_' && k !== '$0' && !/[A-Z]/.test(k));
  return new Set(flags.filter((k) => args[k as keyof TrainArgs] !== undefined && k !== 'resume' && k !== 'backend' && k !== 'workers'));
}

/** SIGINT/SIGTERM ask the run to stop at the next step; a second one exits at once. */
function interruptFlag(progress: ProgressReporter) {
  let signal: string | undefined;
  const handler = (name: NodeJS.Signals) => {
    if (signal !== undefined) process.exit(130);
    signal = name;
    progress.warn(`${name}: saving a checkpoint and stopping (press Ctrl-C again to quit at once)`);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    requested: () => signal !== undefined,
    signal: () => signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
