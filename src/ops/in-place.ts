import * as tf from '@tensorflow/tfjs';
import type { WasmMemoryOwner } from './kernels/instance.js';

/**
 * Copies between flat Float32Arrays and tensors that skip the engine on the wasm backend, where a
 * tensor's values sit in the backend's memory at a known offset: a read is one copy out of that
 * memory (`dataSync` makes a copy first), a write is one copy into the tensor's own memory (an
 * `assign` allocates a new tensor and frees the old one). Every step of training reads the
 * gradients and writes the weights this way. Elsewhere both fall back to the engine.
 */

interface WasmBackendLike extends WasmMemoryOwner {
  dataIdMap: { get(dataId: object): { memoryOffset: number | null; refCount: number; dtype: string } | undefined };
}

/** The float32 values of `t` in place in the wasm backend's memory, or undefined. */
function wasmView(t: tf.Tensor): { values: Float32Array; shared: boolean } | undefined {
  if (t.dtype !== 'float32' || tf.getBackend() !== 'wasm') return undefined;
  const backend = tf.backend() as unknown as WasmBackendLike;
  const entry = backend.dataIdMap?.get(t.dataId);
  const memory = backend.wasm?.asm?.memory;
  if (entry === undefined || entry.memoryOffset === null || memory === undefined) return undefined;
  return { values: new Float32Array(memory.buffer, entry.memoryOffset, t.size), shared: entry.refCount !== 1 };
}

/** Copy the values of a float32 tensor into `target` from `offset` on. */
export function readInto(t: tf.Tensor, target: Float32Array, offset: number): void {
  const view = wasmView(t);
  target.set(view === undefined ? (t.dataSync() as Float32Array) : view.values, offset);
}

/**
 * Overwrite the values of variable `v` with `values` (its size). In place on the wasm backend when
 * no other tensor shares the variable's memory; elsewhere (and then) through `assign` of a copy —
 * the cpu backend would otherwise keep `values` itself as the tensor's data.
 */
export function overwrite(v: tf.Variable, values: Float32Array): void {
  const view = wasmView(v);
  if (view !== undefined && !view.shared) {
    view.values.set(values);
    return;
  }
  const t = tf.tensor(values.slice(), v.shape);
  v.assign(t);
  t.dispose();
}
