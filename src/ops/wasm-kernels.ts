import * as tf from '@tensorflow/tfjs';
import { batchMatMul, LINEAR, LINEAR_GRAD, linearGradKernel, linearKernel, linearKernelRuns, RELU_GRAD, reluGradKernel } from './kernels/batch-matmul.js';
import { transpose } from './kernels/transpose.js';
import { DROPOUT, DROPOUT_MASK, dropoutKernel, dropoutKernelRuns, dropoutMaskKernel } from './kernels/dropout-mask.js';
import { dropoutMask } from './dropout.js';
import { installLeanSaves } from './lean-saves.js';
import { registerCrossEntropyKernels } from './kernels/cross-entropy.js';
import { segmentSumKernel, SUM_ROWS, sumRowsKernel, sumRowsKernelRuns } from './kernels/sum-rows.js';
import { LAYER_NORM, LAYER_NORM_GRAD, layerNormGradKernel, layerNormKernel, layerNormKernelsRun } from './kernels/layer-norm.js';
import { ATTENTION, ATTENTION_GRAD, attentionGradKernel, attentionKernel, attentionKernelsRun } from './kernels/attention.js';

/**
 * Kernels the wasm backend lacks but training needs.
 *
 * `UnsortedSegmentSum` is what the gradient of `tf.gather` (the embedding lookup) calls; without it,
 * backprop through an embedding fails on wasm. Float32 rows are summed in the backend's memory by
 * sum-rows.wat (segmentSum); other dtypes, or a runtime without wasm SIMD, sum in JavaScript with
 * the same additions in the same order.
 */

interface WasmBackendLike {
  incRef(dataId: object): void;
  typedArrayFromHeap(info: tf.TensorInfo): tf.backend_util.TypedArray;
  readSync(dataId: object): tf.backend_util.BackendValues;
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: tf.backend_util.BackendValues): tf.TensorInfo;
}

function unsortedSegmentSum(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const x = args.inputs.x!;
  const segmentIds = args.inputs.segmentIds!;
  const numSegments = (args.attrs as { numSegments: number }).numSegments;
  const summed = segmentSumKernel(x, segmentIds, numSegments, backend);
  if (summed !== undefined) return summed;
  const values = backend.readSync(x.dataId) as Float32Array | Int32Array;
  const ids = backend.readSync(segmentIds.dataId) as Int32Array;
  // x is (N, …inner) with N = ids.length; the output is (numSegments, …inner).
  const rows = ids.length;
  const inner = rows === 0 ? 0 : values.length / rows;
  const out = x.dtype === 'int32' ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
  for (let r = 0; r < rows; r++) {
    const id = ids[r]!;
    if (id < 0 || id >= numSegments) continue; // TensorFlow drops out-of-range ids too
    const src = r * inner;
    const dst = id * inner;
    for (let j = 0; j < inner; j++) out[dst + j] += values[src + j]!;
  }
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  return backend.makeOutput(outShape, x.dtype, undefined, out);
}

/** Register the missing wasm kernels (idempotent; harmless before the wasm backend loads). */
export function registerWasmKernels(): void {
  registerCrossEntropyKernels();
  if (tf.getKernel(SUM_ROWS, 'wasm') === undefined && sumRowsKernelRuns()) {
    tf.registerKernel({ kernelName: SUM_ROWS, backendName: 'wasm', kernelFunc: sumRowsKernel as unknown as tf.KernelFunc });
  }
  if (tf.getKernel(LAYER_NORM, 'wasm') === undefined && layerNormKernelsRun()) {
    tf.registerKernel({ kernelName: LAYER_NORM, backendName: 'wasm', kernelFunc: layerNormKernel as unknown as tf.KernelFunc });
    tf.registerKernel({ kernelName: LAYER_NORM_GRAD, backendName: 'wasm', kernelFunc: layerNormGradKernel as unknown as tf.KernelFunc });
  }
  if (tf.getKernel(ATTENTION, 'wasm') === undefined && attentionKernelsRun()) {
    tf.registerKernel({ kernelName: ATTENTION, backendName: 'wasm', kernelFunc: attentionKernel as unknown as tf.KernelFunc });
    tf.registerKernel({ kernelName: ATTENTION_GRAD, backendName: 'wasm', kernelFunc: attentionGradKernel as unknown as tf.KernelFunc });
  }
  if (tf.getKernel(DROPOUT_MASK, 'wasm') === undefined) {
    tf.registerKernel({ kernelName: DROPOUT_MASK, backendName: 'wasm', kernelFunc: ((args: Parameters<typeof dropoutMaskKernel>[0]) => dropoutMaskKernel(args, dropoutMask)) as unknown as tf.KernelFunc });
  }
  if (tf.getKernel(DROPOUT, 'wasm') === undefined && dropoutKernelRuns()) {
    tf.registerKernel({ kernelName: DROPOUT, backendName: 'wasm', kernelFunc: dropoutKernel as unknown as tf.KernelFunc });
  }
  if (tf.getKernel(tf.UnsortedSegmentSum, 'wasm') === undefined) {
    tf.registerKernel({
      kernelName: tf.UnsortedSegmentSum,
      backendName: 'wasm',
      kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
    });
  }
}

/**
 * Identity that shares the input's data instead of copying it, as the cpu and WebGL backends do
 * (tensors are immutable; a variable's assign swaps in new data rather than writing in place).
 * The engine clones every tensor it saves for backprop, ~600 of them per training step, and the
 * stock wasm kernel copies each one.
 */
function identity(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const x = args.inputs.x!;
  (args.backend as WasmBackendLike).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/**
 * Gather along axis 0 (the embedding lookup) as row copies. The stock wasm kernel takes ~0.75 ms
 * to gather 512 rows of 64 floats, ten times a one-hot matMul; row copies take a few microseconds.
 * Other axes, batch dimensions and out-of-range ids go to the stock kernel.
 */
function gatherRows(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }, stock: tf.KernelFunc): tf.TensorInfo | tf.TensorInfo[] {
  const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
  const backend = args.backend as WasmBackendLike;
  if ((axis !== 0 && axis !== -x.shape.length) || batchDims !== 0 || x.dtype !== 'float32' || indices.dtype !== 'int32' || x.shape.length < 1) return stock(args as never);
  const rows = x.shape[0]!;
  const ids = backend.typedArrayFromHeap(indices) as Int32Array;
  for (let i = 0; i < ids.length; i++) if (!(ids[i]! >= 0 && ids[i]! < rows)) return stock(args as never);
  const inner = x.shape.slice(1).reduce((a, b) => a * b, 1);
  const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], 'float32');
  // Views taken after makeOutput, which may grow (and so replace) the heap.
  const table = backend.typedArrayFromHeap(x) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  const at = backend.typedArrayFromHeap(indices) as Int32Array;
  for (let i = 0; i < at.length; i++) dst.set(table.subarray(at[i]! * inner, (at[i]! + 1) * inner), i * inner);
  return out;
}

/** Replace a stock wasm kernel once (idempotent). */
function override(name: string, make: (stock: tf.KernelFunc) => tf.KernelFunc): void {
  const stock = tf.getKernel(name, 'wasm');
  if (stock === undefined || (stock as { atencao?: boolean }).atencao) return;
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...stock, kernelFunc: make(stock.kernelFunc), stockFunc: stock.kernelFunc, atencao: true } as tf.KernelConfig);
}

/**
 * Replace stock wasm kernels with faster ones: call once the wasm backend's package has loaded
 * (its kernels are registered then); idempotent.
 */
export function registerWasmOverrides(): void {
  installLeanSaves();
  const stockMatMul = tf.getKernel(tf.BatchMatMul, 'wasm');
  if (tf.getKernel(LINEAR, 'wasm') === undefined && stockMatMul !== undefined && linearKernelRuns()) {
    // Products the SIMD kernel does not take go to the stock kernel (kept by the override below).
    const stock = (stockMatMul as { stockFunc?: tf.KernelFunc }).stockFunc ?? stockMatMul.kernelFunc;
    tf.registerKernel({ kernelName: LINEAR, backendName: 'wasm', kernelFunc: linearKernel(stock) });
    tf.registerKernel({ kernelName: RELU_GRAD, backendName: 'wasm', kernelFunc: reluGradKernel });
    tf.registerKernel({ kernelName: LINEAR_GRAD, backendName: 'wasm', kernelFunc: linearGradKernel(stock) });
  }
  override(tf.BatchMatMul, batchMatMul);
  override(tf.Transpose, transpose);
  override(tf.Identity, (stock) => (args) => ((args.inputs as { x: tf.TensorInfo }).x.dtype === 'string' ? stock(args) : identity(args as never)));
  // A cast to the dtype a tensor has already (float32 → float32 in every Multiply and RealDiv
  // gradient) shares it too; the stock kernel copies it.
  override(tf.Cast, (stock) => (args) => {
    const x = (args.inputs as { x: tf.TensorInfo }).x;
    return x.dtype !== 'string' && x.dtype === (args.attrs as { dtype: tf.DataType }).dtype ? identity(args as never) : stock(args);
  });
  override(tf.GatherV2, (stock) => (args) => gatherRows(args as never, stock));
}
