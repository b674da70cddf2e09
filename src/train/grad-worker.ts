/**
 * A gradient worker for data-parallel training (see parallel.ts): it holds a replica of the model,
 * and for each step copies the current weights from shared memory, computes the gradient of the
 * mean loss on its share of the batch, and writes it back to shared memory.
 */
import * as tf from '@tensorflow/tfjs';
import { parentPort } from 'node:worker_threads';
import { setBackend, type BackendName } from '../backend.js';
import { makeBatch, targetTokens, type EncodedPair, type SpecialIds } from '../data/batching.js';
import { createTransformer, type Transformer } from '../model/transformer.js';
import { seedDropout } from '../ops/dropout.js';
import type { TransformerConfig } from '../config.js';
import { batchLoss } from './step.js';

export interface WorkerInit {
  kind: 'init';
  config: TransformerConfig;
  backend: string;
  shapes: number[][];
  weights: SharedArrayBuffer;
  grads: SharedArrayBuffer;
}

export interface WorkerStep {
  kind: 'step';
  items: EncodedPair[];
  ids: SpecialIds;
  labelSmoothing: number;
  dropoutSeed?: number;
}

export interface WorkerReply {
  loss: number;
  tokens: number;
  error?: string;
}

/** Float32 views of one shared buffer, one per weight, in the model's trainable-weight order. */
export function views(buffer: SharedArrayBuffer, shapes: readonly number[][]): Float32Array[] {
  let offset = 0;
  return shapes.map((shape) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const view = new Float32Array(buffer, offset * 4, size);
    offset += size;
    return view;
  });
}

if (parentPort !== null) {
  const port = parentPort;
  let model: Transformer | undefined;
  let weights: Float32Array[] = [];
  let grads: Float32Array[] = [];
  let shapes: number[][] = [];
  port.on('message', async (message: WorkerInit | WorkerStep) => {
    try {
      if (message.kind === 'init') {
        await setBackend(message.backend as BackendName);
        model = createTransformer(message.config);
        shapes = message.shapes;
        weights = views(message.weights, shapes);
        grads = views(message.grads, shapes);
        port.postMessage({ loss: 0, tokens: 0 } satisfies WorkerReply);
        return;
      }
      const vars = model!.trainableWeights.map((w) => w.read() as tf.Variable);
      vars.forEach((v, i) => {
        const t = tf.tensor(weights[i]!, shapes[i]);
        v.assign(t);
        t.dispose();
      });
      const batch = makeBatch(message.items, message.ids);
      seedDropout(message.dropoutSeed);
      const { value, grads: g } = tf.variableGrads(() => batchLoss(model!, batch, { labelSmoothing: message.labelSmoothing, training: true }), vars);
      seedDropout(undefined);
      vars.forEach((v, i) => grads[i]!.set(g[v.name]!.dataSync() as Float32Array));
      const loss = value.dataSync()[0]!;
      tf.dispose([value, ...Object.values(g), batch.src, batch.tgtIn, batch.tgtOut]);
      port.postMessage({ loss, tokens: targetTokens(message.items) } satisfies WorkerReply);
    } catch (error) {
      port.postMessage({ loss: NaN, tokens: 0, error: (error as Error).message } satisfies WorkerReply);
    }
  });
}
