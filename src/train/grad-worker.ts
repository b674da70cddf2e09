/**
 * A gradient worker for data-parallel training (see parallel.ts): it holds a replica of the model,
 * and for each step copies the current weights from shared memory, computes the gradient of the
 * mean loss on its share of the batch and writes it to its gradient vector in shared memory.
 */
import { parentPort } from 'node:worker_threads';
import { setBackend, type BackendName } from '../backend.js';
import type { ModelConfig } from '../config.js';
import { BATCHERS, type Example, type SpecialIds } from '../data/batching.js';
import { createModel } from '../model/create.js';
import { setRelaxedSimd } from '../ops/kernels/batch-matmul.js';
import type { Model, Objective } from '../model/model.js';
import { threadGradient, weightVector, type AdamMemory, type ThreadGradient } from './adam-kernels.js';
import { ParamLayout } from './params.js';
import { shareGradient, trainableVariables } from './step.js';

export interface WorkerInit {
  kind: 'init';
  config: ModelConfig;
  backend: string;
  names: string[];
  shapes: number[][];
  /** The optimizer's shared vectors (weights, moments, gradients); this worker writes gradient `index`. */
  memory: AdamMemory;
  index: number;
  /** Whether matrix products use the relaxed-SIMD kernel, as on the thread that started this one. */
  relaxedSimd: boolean;
}

export interface WorkerStep {
  kind: 'step';
  objective: Objective;
  items: Example[];
  ids: SpecialIds;
  labelSmoothing: number;
  dropoutSeed?: number;
  /** Padded tokens computed at once (see shareGradient). */
  maxTokens: number;
}

export type WorkerMessage = WorkerInit | WorkerStep;

export interface WorkerReply {
  loss: number;
  tokens: number;
  error?: string;
}

if (parentPort !== null) {
  const port = parentPort;
  let model: Model | undefined;
  let layout: ParamLayout | undefined;
  let weights: Float32Array | undefined;
  let grad: ThreadGradient | undefined;
  port.on('message', async (message: WorkerMessage) => {
    try {
      if (message.kind === 'init') {
        setRelaxedSimd(message.relaxedSimd);
        await setBackend(message.backend as BackendName);
        model = createModel(message.config);
        layout = new ParamLayout(message.names, message.shapes);
        weights = weightVector(message.memory);
        grad = threadGradient(message.memory, message.index);
        port.postMessage({ loss: 0, tokens: 0 } satisfies WorkerReply);
      } else {
        layout!.scatter(weights!, trainableVariables(model!));
        const loss = shareGradient(model!, message.objective, message.items, message.ids, message.labelSmoothing, message.dropoutSeed, layout!, grad!, message.maxTokens);
        port.postMessage({ loss, tokens: BATCHERS[message.objective].targets(message.items, message.ids) } satisfies WorkerReply);
      }
    } catch (error) {
      port.postMessage({ loss: NaN, tokens: 0, error: (error as Error).message } satisfies WorkerReply);
    }
  });
}
