import { definedOnly } from '../util/objects.js';
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describeConfig, type Arch, type ModelConfig } from '../config.js';
import { AtencaoError, ModelFormatError, UsageError, WriteError } from '../errors.js';
import { restoreOptimizer, saveCheckpoint, type TrainingState } from '../io/checkpoint.js';
import { writeFileAtomic } from '../io/atomic.js';
import { lockFolder, type FolderLock } from '../io/lock.js';
import { MODEL_JSON } from '../io/model-files.js';
import { readRunConfig, readMetrics, readTokenizers, writeMetrics, writeRunConfig, writeTokenizers, RUN_CONFIG, FORMAT_VERSION, type RunConfig } from '../io/model-dir.js';
import { createModel } from '../model/create.js';
import { loadModelFiles } from '../model/load-files.js';
import type { Model } from '../model/model.js';
import { evaluate, type EvalMetrics } from './evaluate.js';
import { initFrom } from './init.js';
import { evaluationOf, modelConfigFor, prepareData, type DataSpec, type PreparedData } from './prepare-data.js';
import { defaultWorkers } from './parallel.js';
import { createStepper, type Stepper, type StepperKind } from './stepper.js';
import { loopOptions, train, type StepEvent, type TrainResult, type ValidationRecord } from './trainer.js';
import type { ModelArgs, TrainingArgs } from './defaults.js';
import { fitCorpus, scheduleFor } from './fit.js';
import { measureStepSeconds, planLine } from './plan.js';
import { BEST_DIR, BestKeeper } from './best.js';

export interface RunOptions {
  out: string;
  /** The model family. Default: encoder-decoder. */
  arch?: Arch;
  data: DataSpec;
  model: ModelArgs;
  training: TrainingArgs;
  /** Train for this many passes over the data instead of `training.steps` (finite data only). */
  epochs?: number;
  /** Name of the backend in use, recorded with the run. */
  backend: string;
  /** Threads computing each step's gradients (data-parallel); default: defaultWorkers(backend). */
  workers?: number;
  /** How steps are computed; default: the backend's (see createStepper). */
  stepper?: StepperKind;
  /**
   * The settings the user gave. When present, a translation corpus gets its model and schedule from
   * its size (`fitCorpus`, `--time` sizing the steps at the measured speed) with these on top;
   * `model` and `training` apply to every other kind of data.
   */
  given?: { model: ModelArgs; training: Partial<TrainingArgs> };
}

export interface ResumeOptions {
  out: string;
  /** Values given on the command line that may change on resume. */
  overrides: Partial<Pick<TrainingArgs, 'steps' | 'untilExact' | 'untilBleu' | 'patience' | 'validEvery' | 'timeLimit'>>;
  backend: string;
  workers?: number;
  stepper?: StepperKind;
}

export interface RunReporter {
  info(message: string): void;
  warn(message: string): void;
  step?(event: StepEvent): void;
  /** Report steps at least every this many (a device stepper's losses are read then; default 10). */
  stepEvery?: number;
  validation?(record: ValidationRecord): void;
  /** Polled before each step; true stops training after a checkpoint. */
  shouldStop?(): boolean;
  /**
   * Called once before the first step with the model being trained, its folder and its data; the
   * function it returns is awaited after every step (a recorder of the model as it learns).
   */
  observe?(context: { model: Model; dir: string; prepared: PreparedData }): ((step: number) => Promise<void>) | undefined;
}

export interface RunSummary {
  dir: string;
  result: TrainResult;
  /** Metrics on the held-out test set (synthetic tasks and pt-en) or the validation set (corpora). */
  test: EvalMetrics & { split: 'test' | 'valid'; step: number };
  /** For pt-en: fraction of held-out container pairs whose referent noun the model writes correctly. */
  referentAccuracy?: number;
  config: RunConfig;
}

/** Start a new run in `out` (refusing to overwrite an existing model). */
export async function startRun(options: RunOptions, reporter: RunReporter): Promise<RunSummary> {
  const dir = resolve(options.out);
  checkParents(dir, options.out);
  if (existsSync(join(dir, MODEL_JSON)) || existsSync(join(dir, RUN_CONFIG))) {
    throw new UsageError(`${options.out} already holds a model; add --resume to continue it, or choose another --out`);
  }
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`--out ${options.out} is a file, not a folder`);
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new UsageError(`--out ${options.out} already exists and holds other files; choose a new folder`);
  const arch = options.arch ?? 'encoder-decoder';
  // Paths are recorded absolute, so a resume or an eval from another folder finds the same files.
  options = { ...options, data: absoluteSpec(options.data), training: { ...options.training, ...(options.training.init === undefined ? {} : { init: resolve(options.training.init) }) } };
  // Fine-tuning reads the data with the pre-trained model's vocabulary, so its ids mean the same.
  const tokenizers = options.training.init === undefined ? undefined : readTokenizers(resolve(options.training.init));
  const prepared = prepareData(options.data, { arch, maxLen: (options.given?.model ?? options.model).maxLen, seed: options.training.seed, tokenizers }, reporter);
  let modelArgs = options.model;
  let training = { ...options.training };
  const workers = options.workers ?? defaultWorkers(options.backend);
  let secondsPerStep: number | undefined;
  if (options.given !== undefined && prepared.corpusSize !== undefined) {
    // A user's corpus: the model and schedule its size calls for, under what the user gave.
    const given = options.given;
    const byData = fitCorpus(prepared.corpusSize);
    // A width given without a feed-forward width keeps the usual ratio of 4.
    const ff = given.model.dModel !== undefined && given.model.dFF === undefined ? { dFF: 4 * given.model.dModel } : {};
    modelArgs = { ...byData.model, ...ff, ...given.model };
    training = { ...byData.training, ...given.training, ...(options.training.init === undefined ? {} : { init: options.training.init }) };
    const measureConfig = modelConfigFor(arch, modelArgs, prepared);
    secondsPerStep = await measureStepSeconds(measureConfig, prepared, training, { backend: options.backend, threads: workers, kind: options.stepper });
    // Warm-up and validation sized to the steps: given, or as many as fit in a time budget (validations take about a tenth).
    const perEpoch = prepared.train.batchesPerEpoch?.(training.batchSize) ?? 1;
    const steps =
      given.training.steps ??
      (options.epochs !== undefined
        ? options.epochs * perEpoch
        : training.timeLimit !== undefined
          ? fitCorpus(prepared.corpusSize, { seconds: 0.9 * training.timeLimit, secondsPerStep }).training.steps
          : training.steps);
    const { seed, labelSmoothing, clip, patience, lr, timeLimit, untilBleu } = training;
    training = { ...scheduleFor(steps, lr), seed, labelSmoothing, clip, patience, ...definedOnly({ timeLimit, untilBleu }), ...given.training, ...(options.training.init === undefined ? {} : { init: options.training.init }) };
  }
  if (options.epochs !== undefined) {
    const perEpoch = prepared.train.batchesPerEpoch?.(training.batchSize);
    if (perEpoch === undefined) throw new UsageError('--epochs needs a finite data set (pt-en or --data); synthetic tasks use --steps');
    training.steps = options.epochs * perEpoch;
    reporter.info(`${options.epochs} epochs of ${perEpoch} batches: ${training.steps} steps`);
  }
  const model = createModel(modelConfigFor(arch, modelArgs, prepared), { seed: options.training.seed });
  if (training.init !== undefined) {
    try {
      const copied = initFrom(model, training.init);
      reporter.info(`initialised ${copied.weights} of ${model.trainableWeights.length} weights (${copied.parameters.toLocaleString('en')} parameters) from ${training.init}`);
    } catch (error) {
      model.dispose();
      throw error;
    }
  }
  const config: RunConfig = {
    formatVersion: FORMAT_VERSION,
    createdAt: new Date().toISOString(),
    model: model.config,
    data: prepared.provenance,
    training,
    backend: options.backend,
  };
  let stepper: Stepper;
  try {
    stepper = await createStepper(model, { lr: training.lr, backend: options.backend, threads: workers, kind: options.stepper, maxTokens: training.maxTokens });
  } catch (error) {
    model.dispose();
    throw error;
  }
  const start: TrainingState = { step: 0, elapsedSeconds: 0, tokensSeen: 0 };
  // The folder appears complete or not at all: it is assembled beside its final name, then renamed.
  const partial = `${dir}.partial-${process.pid}`;
  let lock: FolderLock | undefined;
  try {
    mkdirSync(dirname(dir), { recursive: true });
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial);
    lock = lockFolder(partial); // held from the folder's first file to the run's end
    writeTokenizers(partial, prepared.source, prepared.target);
    writeRunConfig(partial, config);
    writeMetrics(partial, []);
    await saveCheckpoint(partial, model, stepper.optimizer, start);
    if (existsSync(dir)) rmdirSync(dir); // an empty folder the user made for it
    renameSync(partial, dir);
    lock.moved(dir);
  } catch (error) {
    lock?.release();
    try {
      rmSync(partial, { recursive: true, force: true });
    } catch {
      // Nothing was created (the parent is unusable): nothing to clean up.
    }
    await stepper.dispose();
    model.dispose();
    if (error instanceof AtencaoError) throw error;
    const code = (error as { code?: string }).code;
    throw new WriteError(`cannot create ${options.out}: ${code === 'ENOTEMPTY' ? 'it is not empty' : (error as Error).message}`, { cause: error });
  }
  reporter.info(`model: ${model.countTrainableParams().toLocaleString('en')} parameters, ${describeModel(model.config)}`);
  if (stepper.description !== 'flat Adam, 1 thread') reporter.info(`steps: ${stepper.description}`);
  if (secondsPerStep !== undefined) reporter.info(planLine(training, prepared, secondsPerStep));
  try {
    return await runLoop(dir, model, stepper, prepared, config, start, [], reporter);
  } finally {
    lock.release();
  }
}

/** Continue a run from its last checkpoint: same data, schedule, optimizer state and dropout stream. */
export async function resumeRun(options: ResumeOptions, reporter: RunReporter): Promise<RunSummary> {
  const dir = resolve(options.out);
  if (!existsSync(join(dir, MODEL_JSON)) || !existsSync(join(dir, RUN_CONFIG))) {
    throw new UsageError(`${options.out} is not a model folder made by 'atencao train' (no ${MODEL_JSON} or ${RUN_CONFIG}); nothing to resume`);
  }
  // One writer at a time: a second run on the folder would overwrite the first one's checkpoints.
  const lock = lockFolder(dir, 'resume training in');
  try {
    return await resumeLocked(dir, options, reporter);
  } finally {
    lock.release();
  }
}

async function resumeLocked(dir: string, options: ResumeOptions, reporter: RunReporter): Promise<RunSummary> {
  const stored = readRunConfig(dir);
  checkTrainingRecord(stored.training, join(dir, RUN_CONFIG));
  const config: RunConfig = { ...stored, training: { ...stored.training, ...definedOnly(options.overrides) }, backend: options.backend };
  const { source, target } = readTokenizers(dir);
  const arch = config.model.arch ?? 'encoder-decoder';
  const prepared = prepareData(config.data.spec, { arch, maxLen: config.model.maxLen, seed: config.training.seed, tokenizers: { source, target }, expect: config.data }, reporter);
  const model = loadModelFiles(dir);
  const workers = options.workers ?? defaultWorkers(options.backend);
  let stepper: Stepper;
  let start: TrainingState;
  try {
    stepper = await createStepper(model, { lr: config.training.lr, backend: options.backend, threads: workers, kind: options.stepper, maxTokens: config.training.maxTokens });
  } catch (error) {
    model.dispose();
    throw error;
  }
  try {
    start = await restoreOptimizer(dir, stepper.optimizer);
  } catch (error) {
    await stepper.dispose();
    model.dispose();
    throw error;
  }
  const metrics = readMetrics(dir).filter((m) => m.step <= start.step);
  writeRunConfig(dir, config);
  reporter.info(`resuming at step ${start.step} of ${config.training.steps}`);
  return runLoop(dir, model, stepper, prepared, config, start, metrics, reporter);
}

/** A resumed run reads every training setting from config.json: each must be there, with a usable value. */
function checkTrainingRecord(training: Partial<TrainingArgs>, path: string): void {
  const fields: [keyof TrainingArgs, (v: unknown) => boolean][] = [
    ['steps', (v) => Number.isSafeInteger(v) && (v as number) > 0],
    ['batchSize', (v) => Number.isSafeInteger(v) && (v as number) > 0],
    ['lr', (v) => typeof v === 'number' && v > 0],
    ['warmup', (v) => Number.isSafeInteger(v) && (v as number) >= 0],
    ['schedule', (v) => v === 'noam' || v === 'constant'],
    ['labelSmoothing', (v) => typeof v === 'number' && v >= 0 && v < 1],
    ['clip', (v) => typeof v === 'number' && v >= 0],
    ['validEvery', (v) => Number.isSafeInteger(v) && (v as number) > 0],
    ['seed', (v) => Number.isSafeInteger(v) && (v as number) >= 0],
  ];
  for (const [field, ok] of fields) {
    if (!ok(training[field])) throw new ModelFormatError(`${path}: training.${field} (${JSON.stringify(training[field]) ?? 'missing'}) is not a usable value, so the run cannot be resumed`);
  }
  if (training.maxTokens !== undefined && !(Number.isSafeInteger(training.maxTokens) && training.maxTokens > 0)) {
    throw new ModelFormatError(`${path}: training.maxTokens (${JSON.stringify(training.maxTokens)}) is not a usable value, so the run cannot be resumed`);
  }
}

/** `--out a/b/c` where a or a/b is a file: one line now, not a failed mkdir later. */
function checkParents(dir: string, out: string): void {
  for (let parent = dirname(dir); parent !== dirname(parent); parent = dirname(parent)) {
    if (!existsSync(parent)) continue;
    if (!statSync(parent).isDirectory()) throw new UsageError(`--out ${out}: ${parent} is a file, not a folder`);
    return;
  }
}

/** A data spec with its file paths made absolute. */
export function absoluteSpec(spec: DataSpec): DataSpec {
  if (spec.kind !== 'corpus' && spec.kind !== 'text') return spec;
  return {
    ...spec,
    file: resolve(spec.file),
    ...(spec.valid === undefined ? {} : { valid: resolve(spec.valid) }),
    ...('test' in spec && spec.test !== undefined ? { test: resolve(spec.test) } : {}),
    ...('target' in spec && spec.target !== undefined ? { target: resolve(spec.target) } : {}),
  };
}

async function runLoop(
  dir: string,
  model: Model,
  stepper: Stepper,
  prepared: PreparedData,
  config: RunConfig,
  start: TrainingState,
  metrics: ValidationRecord[],
  reporter: RunReporter,
): Promise<RunSummary> {
  const t = config.training;
  const evalOptions = evaluationOf(prepared);
  try {
    const afterStep = reporter.observe?.({ model, dir, prepared });
    const best = new BestKeeper(dir, model);
    const result = await train(
      model,
      stepper,
      loopOptions(t, { data: prepared.train, valid: prepared.valid, evaluation: evalOptions, start, readLossEvery: reporter.stepEvery }),
      {
        onStep: (e) => reporter.step?.(e),
        onValidation: (r) => {
          metrics.push(r);
          reporter.validation?.(r);
        },
        checkpoint: async (state) => {
          await saveCheckpoint(dir, model, stepper.optimizer, state);
          writeMetrics(dir, metrics);
        },
        shouldStop: () => reporter.shouldStop?.() === true,
        ...(afterStep === undefined ? {} : { afterStep }),
        // Finite data: the best validation's weights are kept in best/, and tested at the end.
        ...(prepared.train.batchesPerEpoch === undefined ? {} : { onBest: (r: ValidationRecord) => best.save(r.step) }),
      },
    );
    const testedStep = best.restore(result.state.step, reporter);
    const testSet = prepared.test ?? prepared.valid;
    const test = { ...(await evaluate(model, testSet, evalOptions)), split: prepared.test ? ('test' as const) : ('valid' as const), step: testedStep };
    const referentAccuracy = prepared.referent ? await prepared.referent.score(model) : undefined;
    const state = result.state;
    writeFileAtomic(join(dir, 'evaluation.json'), `${JSON.stringify({ ...test, weights: testedStep === state.step ? 'last' : `best (${BEST_DIR}/)`, trainedSteps: state.step, elapsedSeconds: state.elapsedSeconds, referentAccuracy }, null, 2)}\n`);
    return { dir, result, test, referentAccuracy, config };
  } finally {
    await stepper.dispose();
    model.dispose();
  }
}

export function describeModel(c: ModelConfig): string {
  return describeConfig(c);
}

