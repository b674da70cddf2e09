import * as tf from '@tensorflow/tfjs';

/**
 * Kernels the wasm backend lacks but training needs.
 *
 * `UnsortedSegmentSum` is what the gradient of `tf.gather` (the embedding lookup) calls; without it,
 * backprop through an embedding fails on wasm. The sum runs in JavaScript over the wasm heap: it is a
 * single pass over the gradient (rows × width additions), small next to the matMuls around it.
 */

interface WasmBackendLike {
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
  if (tf.getKernel(tf.UnsortedSegmentSum, 'wasm') === undefined) {
    tf.registerKernel({
      kernelName: tf.UnsortedSegmentSum,
      backendName: 'wasm',
      kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
    });
  }
}
