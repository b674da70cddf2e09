import type * as tf from '@tensorflow/tfjs';
import { wasmExport, type WasmMemoryOwner } from './instance.js';
import { SUM_ROWS_WASM } from './sum-rows-wasm.js';

/**
 * `AtencaoSumRows` on wasm: x (…, d) → (d), the sum over every leading axis (the gradient of a bias),
 * in one pass by sum-rows.wat, the rows added in order as the product ones(1, N)·x adds them. It
 * spares that product its ones vector (filled and copied in at every call) and two reshapes.
 * Registered only where wasm SIMD runs.
 */
export const SUM_ROWS = 'AtencaoSumRows';

interface WasmBackendLike extends WasmMemoryOwner {
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

type SumRows = (x: number, out: number, rows: number, d: number) => void;

const kernelFor = wasmExport<SumRows>(SUM_ROWS_WASM, 'sumRows');

export function sumRowsKernelRuns(): boolean {
  return WebAssembly.validate(SUM_ROWS_WASM);
}

export function sumRowsKernel(args: { inputs: { x?: tf.TensorInfo }; backend: unknown }): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const x = args.inputs.x!;
  const d = x.shape[x.shape.length - 1]!;
  const size = x.shape.reduce((p, s) => p * s, 1);
  const out = backend.makeOutput([d], 'float32');
  if (size > 0) kernelFor(backend)!(backend.dataIdMap.get(x.dataId)!.memoryOffset, backend.dataIdMap.get(out.dataId)!.memoryOffset, size / d, d);
  else if (d > 0) kernelFor(backend)!(0, backend.dataIdMap.get(out.dataId)!.memoryOffset, 0, d);
  return out;
}
