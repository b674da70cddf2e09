import type * as tf from '@tensorflow/tfjs';
import type { WasmMemoryOwner } from './instance.js';

/** What the kernels made of several steps need of the wasm backend. */
export interface WasmTensorMemory extends WasmMemoryOwner {
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object): boolean;
}

/**
 * The intermediate tensors of a kernel made of several steps (attention, cross-entropy), made on
 * one backend's memory and freed together, whatever happens in between.
 */
export class Temporaries<B extends WasmTensorMemory = WasmTensorMemory> {
  private readonly made: tf.TensorInfo[] = [];

  constructor(readonly backend: B) {}

  /** The byte offset of a tensor of this backend. */
  at(t: tf.TensorInfo): number {
    return this.backend.dataIdMap.get(t.dataId)!.memoryOffset;
  }

  /** A new float32 tensor, freed by `free` unless kept. */
  temporary(shape: number[]): tf.TensorInfo {
    return this.track(this.backend.makeOutput(shape, 'float32'));
  }

  /** Free `t` with the temporaries. */
  track(t: tf.TensorInfo): tf.TensorInfo {
    this.made.push(t);
    return t;
  }

  /** Free every temporary but `keep`. */
  free(keep: tf.TensorInfo[] = []): void {
    for (const t of this.made) if (!keep.includes(t)) this.backend.disposeData(t.dataId);
    this.made.length = 0;
  }
}
