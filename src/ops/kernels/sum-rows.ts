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
type SegmentSum = (x: number, ids: number, out: number, rows: number, d: number, segments: number) => void;

const kernelFor = wasmExport<SumRows>(SUM_ROWS_WASM, 'sumRows');
const segmentSumFor = wasmExport<SegmentSum>(SUM_ROWS_WASM, 'segmentSum');

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

/**
 * UnsortedSegmentSum of float32 rows x (N, …inner) by int32 ids (N) into (segments, …inner), in the
 * backend's memory by sum-rows.wat's segmentSum: the same additions in the same order as a plain loop over the
 * rows (ids outside [0, segments) dropped, as TensorFlow drops them). Undefined where the module
 * cannot run (the caller then sums in JavaScript).
 */
export function segmentSumKernel(x: tf.TensorInfo, ids: tf.TensorInfo, segments: number, backend: unknown): tf.TensorInfo | undefined {
  const wasm = backend as WasmBackendLike;
  const kernel = segmentSumFor(wasm);
  if (kernel === null || x.dtype !== 'float32' || ids.dtype !== 'int32') return undefined;
  const rows = ids.shape.reduce((p, s) => p * s, 1);
  const innerShape = x.shape.slice(ids.shape.length);
  const inner = innerShape.reduce((p, s) => p * s, 1);
  const out = wasm.makeOutput([segments, ...innerShape], 'float32');
  const offset = (t: tf.TensorInfo) => wasm.dataIdMap.get(t.dataId)!.memoryOffset;
  if (segments * inner > 0) kernel(rows > 0 ? offset(x) : 0, rows > 0 ? offset(ids) : 0, offset(out), rows, inner, segments);
  return out;
}
