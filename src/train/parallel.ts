import * as tf from '@tensorflow/tfjs';
import { Worker } from 'node:worker_threads';
import { makeBatch, targetTokens, type EncodedPair, type SpecialIds } from '../data/batching.js';
import { TrainingError } from '../errors.js';
import type { Transformer } from '../model/transformer.js';
import { seedDropout } from '../ops/dropout.js';
import { views, type WorkerInit, type WorkerReply, type WorkerStep } from './grad-worker.js';
import { batchLoss } from './step.js';

/**
 * Data-parallel gradients on several cores. The wasm backend runs on one thread, so the batch is
 * split: this thread computes the gradient of its share while each worker thread (its own tfjs and
 * model replica) computes another share from the same weights, shared through memory. The shares'
 * gradients of their mean losses, weighted by their target tokens, give exactly the gradient of the
 * whole batch's mean loss (up to float rounding), so one optimizer here updates the weights.
 */
export class DataParallel {
  private constructor(
    private readonly model: Transformer,
    private readonly workers: Worker[],
    private readonly weightViews: Float32Array[],
    private readonly gradViews: Float32Array[][],
  ) {}

  /** Start `count − 1` workers (this thread is the first share). */
  static async start(model: Transformer, count: number, backend: string): Promise<DataParallel> {
    const shapes = model.trainableWeights.map((w) => w.shape as number[]);
    const floats = shapes.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
    const weights = new SharedArrayBuffer(floats * 4);
    const workers: Worker[] = [];
    const gradViews: Float32Array[][] = [];
    // The compiled worker, found the same way from src/train (tests) and dist/train.
    const source = new URL('../../dist/train/grad-worker.js', import.meta.url);
    try {
      for (let i = 1; i < count; i++) {
        const grads = new SharedArrayBuffer(floats * 4);
        const worker = new Worker(source);
        workers.push(worker);
        gradViews.push(views(grads, shapes));
        await request(worker, { kind: 'init', config: model.config, backend, shapes, weights, grads } satisfies WorkerInit);
      }
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
    return new DataParallel(model, workers, views(weights, shapes), gradViews);
  }

  get size(): number {
    return this.workers.length + 1;
  }

  /**
   * Gradients of the mean loss of `items` (keyed by variable name, as optimizer.applyGradients
   * takes them) and that loss. `dropoutSeed` seeds share k's masks with dropoutSeed + k·2^20.
   */
  async gradients(items: readonly EncodedPair[], ids: SpecialIds, labelSmoothing: number, dropoutSeed?: number): Promise<{ loss: number; grads: tf.NamedTensorMap }> {
    const vars = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    vars.forEach((v, i) => this.weightViews[i]!.set(v.dataSync() as Float32Array));
    const shares = split(items, this.size);
    const seedOf = (k: number) => (dropoutSeed === undefined ? undefined : dropoutSeed + k * 2 ** 20);
    const replies = this.workers.map((w, k) =>
      shares[k + 1]!.length === 0
        ? Promise.resolve<WorkerReply>({ loss: 0, tokens: 0 })
        : request(w, { kind: 'step', items: shares[k + 1]!, ids, labelSmoothing, dropoutSeed: seedOf(k + 1) } satisfies WorkerStep),
    );
    // This thread's share, computed while the workers compute theirs.
    const own = shares[0]!;
    const batch = makeBatch(own, ids);
    seedDropout(seedOf(0));
    const { value, grads } = tf.variableGrads(() => batchLoss(this.model, batch, { labelSmoothing, training: true }), vars);
    seedDropout(undefined);
    tf.dispose([batch.src, batch.tgtIn, batch.tgtOut]);
    const ownLoss = value.dataSync()[0]!;
    value.dispose();
    const done = await Promise.all(replies);
    const failed = done.find((r) => r.error !== undefined);
    if (failed) {
      tf.dispose(Object.values(grads));
      throw new TrainingError(`a gradient worker failed: ${failed.error}`);
    }
    const ownTokens = targetTokens(own);
    const total = ownTokens + done.reduce((n, r) => n + r.tokens, 0);
    const combined = tf.tidy(() =>
      Object.fromEntries(
        vars.map((v, i) => {
          let g = tf.mul(grads[v.name]!, ownTokens / total);
          done.forEach((r, k) => {
            if (r.tokens > 0) g = tf.add(g, tf.mul(tf.tensor(this.gradViews[k]![i]!, v.shape), r.tokens / total));
          });
          return [v.name, g];
        }),
      ),
    );
    tf.dispose(Object.values(grads));
    const loss = (ownLoss * ownTokens + done.reduce((s, r) => s + r.loss * r.tokens, 0)) / total;
    return { loss, grads: combined };
  }

  async dispose(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Split pairs into n contiguous shares with about the same number of target tokens. */
function split(items: readonly EncodedPair[], n: number): EncodedPair[][] {
  const total = targetTokens(items);
  const shares: EncodedPair[][] = Array.from({ length: n }, () => []);
  let acc = 0;
  for (const item of items) {
    const k = Math.min(n - 1, Math.floor((acc / total) * n));
    shares[k]!.push(item);
    acc += item.tgt.length + 1;
  }
  return shares;
}

function request(worker: Worker, message: WorkerInit | WorkerStep): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: WorkerReply) => {
      worker.off('error', onError);
      if (reply.error !== undefined && message.kind === 'init') reject(new TrainingError(`a gradient worker could not start: ${reply.error}`));
      else resolve(reply);
    };
    const onError = (error: Error) => {
      worker.off('message', onMessage);
      reject(new TrainingError(`a gradient worker stopped: ${error.message}`));
    };
    worker.once('message', onMessage);
    worker.once('error', onError);
    worker.postMessage(message);
  });
}
