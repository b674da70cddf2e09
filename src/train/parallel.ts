import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { BATCHERS, type Example, type SpecialIds } from '../data/batching.js';
import { relaxedSimdInUse } from '../ops/kernels/batch-matmul.js';
import { TrainingError } from '../errors.js';
import type { Model, Objective } from '../model/model.js';
import type { Adam } from './adam.js';
import { combineGradients } from './adam-kernels.js';
import type { WorkerInit, WorkerMessage, WorkerReply } from './grad-worker.js';
import { WeightSync } from './params.js';
import { DEFAULT_MAX_TOKENS, shareGradient, trainableVariables, type StepResult } from './step.js';

/**
 * The default number of threads for a training step: one per core on the wasm and cpu backends,
 * which run on one thread each; one on native TensorFlow, whose kernels use every core already.
 */
export function defaultWorkers(backend: string): number {
  return backend === 'tensorflow' || backend === 'tensorflow-gpu' ? 1 : availableParallelism();
}

/**
 * Data-parallel training steps on several cores. The wasm backend runs on one thread, so the batch
 * is split: this thread computes the gradient of its share while each worker thread (its own tfjs
 * and model replica) computes another share from the same weights, all in shared memory. The
 * shares' gradients of their mean losses, weighted by their target tokens, give the gradient of
 * the whole batch's mean loss (up to float rounding), and one Adam step on the optimizer's shared
 * vectors updates the weights that every thread reads next.
 */
export class DataParallel {
  /**
   * The last `gradients` call's non-empty shares (threads) and their weights; `combined` once their
   * sum is in the first one's vector. Undefined once applied.
   */
  private pending?: { threads: number[]; coefs: number[]; combined: boolean };
  private readonly sync = new WeightSync();

  private constructor(
    private readonly model: Model,
    private readonly optimizer: Adam,
    private readonly workers: GradientWorker[],
    private readonly maxTokens: number,
  ) {}

  /**
   * Start a worker for each gradient vector of `optimizer` but the first (this thread computes
   * the first share): `new Adam(layout, options, threads)` sets how many threads train. Each
   * thread computes at most `maxTokens` padded tokens at once (see shareGradient).
   */
  static async start(model: Model, optimizer: Adam, backend: string, maxTokens = DEFAULT_MAX_TOKENS): Promise<DataParallel> {
    const { layout } = optimizer;
    const count = optimizer.grads.length;
    const workers: GradientWorker[] = [];
    try {
      for (let k = 1; k < count; k++) {
        const worker = new GradientWorker(startWorker());
        workers.push(worker);
        const init: WorkerInit = {
          kind: 'init',
          config: model.config,
          backend,
          names: [...layout.names],
          shapes: layout.shapes.map((s) => [...s]),
          memory: optimizer.memory,
          index: k,
          relaxedSimd: relaxedSimdInUse(),
        };
        const reply = await worker.request(init);
        if (reply.error !== undefined) throw new TrainingError(`a gradient worker could not start: ${reply.error}`);
      }
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
    return new DataParallel(model, optimizer, workers, maxTokens);
  }

  get size(): number {
    return this.workers.length + 1;
  }

  /**
   * Compute the shares' gradients of `items` (kept in shared memory for `update`) and return the
   * mean loss of the whole batch. `dropoutSeed` seeds share k's masks with dropoutSeed + k·2^20.
   */
  async gradients(objective: Objective, items: readonly Example[], ids: SpecialIds, labelSmoothing: number, dropoutSeed?: number): Promise<number> {
    const { layout, buffers } = this.optimizer;
    const vars = trainableVariables(this.model);
    // The weights the threads read: unchanged since the last update unless a variable was assigned.
    if (!this.sync.current(vars)) layout.gather(vars, buffers.weights);
    const count = (share: readonly Example[]) => BATCHERS[objective].targets(share, ids);
    const shares = split(items, this.size, count);
    const seedOf = (k: number) => (dropoutSeed === undefined ? undefined : dropoutSeed + k * 2 ** 20);
    const replies = Promise.all(
      this.workers.map((w, i) =>
        shares[i + 1]!.length === 0 ? Promise.resolve<WorkerReply>({ loss: 0, tokens: 0 }) : w.request({ kind: 'step', objective, items: shares[i + 1]!, ids, labelSmoothing, dropoutSeed: seedOf(i + 1), maxTokens: this.maxTokens }),
      ),
    );
    // Handled below; this keeps a worker's failure during this thread's share from going unhandled.
    replies.catch(() => undefined);
    // This thread's share, computed while the workers compute theirs.
    const own = shares[0]!;
    const ownLoss = shareGradient(this.model, objective, own, ids, labelSmoothing, seedOf(0), layout, this.optimizer.threadGradient, this.maxTokens);
    const done = await replies;
    const failed = done.find((r) => r.error !== undefined);
    if (failed) throw new TrainingError(`a gradient worker failed: ${failed.error}`);
    const tokens = [count(own), ...done.map((r) => r.tokens)];
    const total = tokens.reduce((a, b) => a + b, 0);
    if (total === 0) {
      // Nothing scored: every example is in this thread's share (see split), whose gradient and
      // loss are then 0, as on one thread.
      this.pending = { threads: [0], coefs: [1], combined: false };
      return ownLoss;
    }
    const used = tokens.flatMap((t, k) => (t > 0 ? [k] : []));
    this.pending = { threads: used, coefs: used.map((k) => tokens[k]! / total), combined: false };
    return (ownLoss * tokens[0]! + done.reduce((s, r) => s + r.loss * r.tokens, 0)) / total;
  }

  /** The gradient of the last `gradients` call (a copy), combined as `update` applies it. */
  combinedGradient(): Float32Array {
    return this.combine().slice();
  }

  /**
   * One Adam step with the last gradients; returns the global gradient norm when clipping is on.
   * It runs here: with SIMD the whole update takes ~1 ms for a million parameters, less than
   * waking the workers for a share of it.
   */
  update(clipNorm = 0): number | undefined {
    this.combine();
    const norm = this.optimizer.update(clipNorm, this.pending!.threads[0]);
    this.pending = undefined;
    const vars = trainableVariables(this.model);
    this.optimizer.layout.scatter(this.optimizer.buffers.weights, vars);
    this.sync.record(vars);
    return norm;
  }

  /** Sum the shares' gradients into the first share's vector (once) and return that vector. */
  private combine(): Float32Array {
    const pending = this.pending;
    if (pending === undefined) throw new TrainingError('no gradients to apply: call gradients() first');
    if (!pending.combined) {
      combineGradients(this.optimizer.memory, pending.threads, pending.coefs, 0, this.optimizer.layout.size);
      pending.combined = true;
    }
    return this.optimizer.grads[pending.threads[0]!]!;
  }

  /** A whole training step (the update is skipped when the loss is not finite). */
  async step(objective: Objective, items: readonly Example[], ids: SpecialIds, options: { labelSmoothing: number; clipNorm: number; dropoutSeed?: number }): Promise<StepResult> {
    const loss = await this.gradients(objective, items, ids, options.labelSmoothing, options.dropoutSeed);
    const gradNorm = Number.isFinite(loss) ? this.update(options.clipNorm) : undefined;
    return { loss, gradNorm };
  }

  async dispose(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Split examples into n contiguous shares with about the same number of scored targets. */
function split(items: readonly Example[], n: number, count: (share: readonly Example[]) => number): Example[][] {
  const total = count(items);
  const shares: Example[][] = Array.from({ length: n }, () => []);
  let acc = 0;
  for (const item of items) {
    const k = Math.min(n - 1, Math.floor((acc / Math.max(total, 1)) * n));
    shares[k]!.push(item);
    acc += count([item]);
  }
  return shares;
}

/**
 * A gradient worker thread: the compiled grad-worker.js beside this file, or, when this file runs
 * from source (tsx, vitest), grad-worker.ts through tsx. Node 20 does not apply `--import` loaders
 * to a worker's entry file, so from source the worker starts with one line of JavaScript that
 * loads grad-worker.ts with tsx's `tsImport`.
 */
function startWorker(): Worker {
  if (import.meta.url.endsWith('.ts')) {
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./grad-worker.ts', import.meta.url).href;
    return new Worker(`import(${JSON.stringify(tsx)}).then((api) => api.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}))`, { eval: true });
  }
  return new Worker(new URL('./grad-worker.js', import.meta.url));
}

/**
 * One worker thread and its replies. A worker that fails or exits rejects the request it was
 * answering and every later one with a TrainingError (so a step never waits on a dead thread).
 */
class GradientWorker {
  private failure?: string;
  private waiting?: { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void };

  constructor(private readonly worker: Worker) {
    worker.on('message', (reply: WorkerReply) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.resolve(reply);
    });
    worker.on('error', (error: Error) => this.fail(`a gradient worker stopped: ${error.message}`));
    worker.on('exit', (code: number) => this.fail(`a gradient worker exited (code ${code})`));
  }

  request(message: WorkerMessage): Promise<WorkerReply> {
    if (this.failure !== undefined) return Promise.reject(new TrainingError(this.failure));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.worker.postMessage(message);
    });
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }

  private fail(message: string): void {
    this.failure ??= message;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(new TrainingError(this.failure));
  }
}
