import { definedOnly } from '../util/objects.js';
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { TransformerConfig } from '../config.js';
import { BOS_ID, EOS_ID, PAD_ID } from '../data/tokenizer.js';
import { AtencaoError, UsageError, WriteError } from '../errors.js';
import { restoreOptimizer, saveCheckpoint, type TrainingState } from '../io/checkpoint.js';
import { writeFileAtomic } from '../io/atomic.js';
import { loadModelFiles, MODEL_JSON } from '../io/model-files.js';
import { readRunConfig, readMetrics, readTokenizers, writeMetrics, writeRunConfig, writeTokenizers, RUN_CONFIG, FORMAT_VERSION, type RunConfig } from '../io/model-dir.js';
import { createTransformer } from '../model/transformer.js';
import { evaluate, type EvalMetrics, type EvalOptions } from './evaluate.js';
import { prepareData, type DataSpec, type PreparedData } from './prepare-data.js';
import { Adam } from './adam.js';
import { ParamLayout } from './params.js';
import { DataParallel, defaultWorkers } from './parallel.js';
import { trainableVariables } from './step.js';
import { train, type StepEvent, type TrainResult, type ValidationRecord } from './trainer.js';
import type { ModelArgs, TrainingArgs } from './defaults.js';

export interface RunOptions {
  out: string;
  data: DataSpec;
  model: ModelArgs;
  training: TrainingArgs;
  /** Train for this many passes over the data instead of `training.steps` (finite data only). */
  epochs?: number;
  /** Name of the backend in use, recorded with the run. */
  backend: string;
  /** Threads computing each step's gradients (data-parallel); default: defaultWorkers(backend). */
  workers?: number;
}

export interface ResumeOptions {
  out: string;
  /** Values given on the command line that may change on resume. */
  overrides: Partial<Pick<TrainingArgs, 'steps' | 'untilExact' | 'validEvery'>>;
  backend: string;
  workers?: number;
}

export interface RunReporter {
  info(message: string): void;
  warn(message: string): void;
  step?(event: StepEvent): void;
  validation?(record: ValidationRecord): void;
  /** Polled before each step; true stops training after a checkpoint. */
  shouldStop?(): boolean;
}

export interface RunSummary {
  dir: string;
  result: TrainResult;
  /** Metrics on the held-out test set (synthetic tasks and pt-en) or the validation set (corpora). */
  test: EvalMetrics & { split: 'test' | 'valid' };
  /** For pt-en: fraction of held-out container pairs whose referent noun the model writes correctly. */
  referentAccuracy?: number;
  config: RunConfig;
}

/** Start a new run in `out` (refusing to overwrite an existing model). */
export async function startRun(options: RunOptions, reporter: RunReporter): Promise<RunSummary> {
  const dir = resolve(options.out);
  if (existsSync(join(dir, MODEL_JSON)) || existsSync(join(dir, RUN_CONFIG))) {
    throw new UsageError(`${options.out} already holds a model; add --resume to continue it, or choose another --out`);
  }
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`--out ${options.out} is a file, not a folder`);
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new UsageError(`--out ${options.out} already exists and holds other files; choose a new folder`);
  const prepared = prepareData(options.data, { maxLen: options.model.maxLen, seed: options.training.seed }, reporter);
  const training = { ...options.training };
  if (options.epochs !== undefined) {
    const perEpoch = prepared.train.batchesPerEpoch?.(training.batchSize);
    if (perEpoch === undefined) throw new UsageError('--epochs needs a finite data set (pt-en or --data); synthetic tasks use --steps');
    training.steps = options.epochs * perEpoch;
    reporter.info(`${options.epochs} epochs of ${perEpoch} batches: ${training.steps} steps`);
  }
  const modelConfig = {
    ...options.model,
    srcVocabSize: prepared.source.size,
    tgtVocabSize: prepared.target.size,
    maxLen: options.model.maxLen ?? prepared.maxLen,
    padId: PAD_ID,
  };
  const model = createTransformer(modelConfig, { seed: options.training.seed });
  const config: RunConfig = {
    formatVersion: FORMAT_VERSION,
    createdAt: new Date().toISOString(),
    model: model.config,
    data: prepared.provenance,
    training,
    backend: options.backend,
  };
  const workers = options.workers ?? defaultWorkers(options.backend);
  const optimizer = createOptimizer(model, training.lr, workers);
  const start: TrainingState = { step: 0, elapsedSeconds: 0, tokensSeen: 0 };
  // The folder appears complete or not at all: it is assembled beside its final name, then renamed.
  const partial = `${dir}.partial-${process.pid}`;
  try {
    mkdirSync(dirname(dir), { recursive: true });
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial);
    writeTokenizers(partial, prepared.source, prepared.target);
    writeRunConfig(partial, config);
    writeMetrics(partial, []);
    await saveCheckpoint(partial, model, optimizer, start);
    if (existsSync(dir)) rmdirSync(dir); // an empty folder the user made for it
    renameSync(partial, dir);
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    optimizer.dispose();
    model.dispose();
    if (error instanceof AtencaoError) throw error;
    const code = (error as { code?: string }).code;
    throw new WriteError(`cannot create ${options.out}: ${code === 'ENOTEMPTY' ? 'it is not empty' : (error as Error).message}`, { cause: error });
  }
  reporter.info(`model: ${model.countTrainableParams().toLocaleString('en')} parameters, ${describeModel(model.config)}`);
  return runLoop(dir, model, optimizer, prepared, config, start, [], reporter, workers);
}

/** Continue a run from its last checkpoint: same data, schedule, optimizer state and dropout stream. */
export async function resumeRun(options: ResumeOptions, reporter: RunReporter): Promise<RunSummary> {
  const dir = resolve(options.out);
  if (!existsSync(join(dir, MODEL_JSON)) || !existsSync(join(dir, RUN_CONFIG))) {
    throw new UsageError(`${options.out} is not a model folder made by 'atencao train' (no ${MODEL_JSON} or ${RUN_CONFIG}); nothing to resume`);
  }
  const stored = readRunConfig(dir);
  const config: RunConfig = { ...stored, training: { ...stored.training, ...definedOnly(options.overrides) }, backend: options.backend };
  const { source, target } = readTokenizers(dir);
  const prepared = prepareData(config.data.spec, { maxLen: config.model.maxLen, seed: config.training.seed, tokenizers: { source, target }, expect: config.data }, reporter);
  const model = loadModelFiles(dir);
  const workers = options.workers ?? defaultWorkers(options.backend);
  const optimizer = createOptimizer(model, config.training.lr, workers);
  const start = await restoreOptimizer(dir, optimizer);
  const metrics = readMetrics(dir).filter((m) => m.step <= start.step);
  writeRunConfig(dir, config);
  reporter.info(`resuming at step ${start.step} of ${config.training.steps}`);
  return runLoop(dir, model, optimizer, prepared, config, start, metrics, reporter, workers);
}

/** Adam(β 0.9/0.98, ε 1e-9), the optimizer of every run. */
function createOptimizer(model: ReturnType<typeof createTransformer>, lr: number, threads: number): Adam {
  return new Adam(ParamLayout.of(trainableVariables(model)), { learningRate: lr, beta1: 0.9, beta2: 0.98, epsilon: 1e-9 }, threads);
}

async function runLoop(
  dir: string,
  model: ReturnType<typeof createTransformer>,
  optimizer: Adam,
  prepared: PreparedData,
  config: RunConfig,
  start: TrainingState,
  metrics: ValidationRecord[],
  reporter: RunReporter,
  workers: number,
): Promise<RunSummary> {
  const t = config.training;
  let parallel: DataParallel | undefined;
  const evalOptions: EvalOptions = {
    ids: { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID },
    bleu: prepared.bleu,
    tokensOf: (ids) => prepared.target.tokensOf(ids),
  };
  try {
    if (workers > 1) {
      parallel = await DataParallel.start(model, optimizer, config.backend);
      reporter.info(`computing gradients on ${workers} threads`);
    }
    const result = await train(
      model,
      optimizer,
      prepared.train,
      prepared.valid,
      evalOptions,
      {
        steps: t.steps,
        batchSize: t.batchSize,
        schedule: { lr: t.lr, warmup: t.warmup, kind: t.schedule },
        labelSmoothing: t.labelSmoothing,
        clipNorm: t.clip,
        validEvery: t.validEvery,
        untilExact: t.untilExact,
        seed: t.seed,
        parallel,
      },
      start,
      {
        onStep: (e) => reporter.step?.(e),
        onValidation: (r) => {
          metrics.push(r);
          reporter.validation?.(r);
        },
        checkpoint: async (state) => {
          await saveCheckpoint(dir, model, optimizer, state);
          writeMetrics(dir, metrics);
        },
        shouldStop: () => reporter.shouldStop?.() === true,
      },
    );
    const testSet = prepared.test ?? prepared.valid;
    const test = { ...evaluate(model, testSet, evalOptions), split: prepared.test ? ('test' as const) : ('valid' as const) };
    const referentAccuracy = prepared.referent ? prepared.referent.score(model) : undefined;
    const state = result.state;
    writeFileAtomic(join(dir, 'evaluation.json'), `${JSON.stringify({ step: state.step, elapsedSeconds: state.elapsedSeconds, ...test, referentAccuracy }, null, 2)}\n`);
    return { dir, result, test, referentAccuracy, config };
  } finally {
    await parallel?.dispose();
    optimizer.dispose();
    model.dispose();
  }
}

export function describeModel(c: TransformerConfig): string {
  return `d ${c.dModel}, ${c.numHeads} heads, ${c.numEncoderLayers}+${c.numDecoderLayers} layers, ff ${c.dFF}, vocab ${c.srcVocabSize}/${c.tgtVocabSize}, maxLen ${c.maxLen}`;
}

