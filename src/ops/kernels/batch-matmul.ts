import * as tf from '@tensorflow/tfjs';
import { BATCH_MATMUL_WASM } from './batch-matmul-wasm.js';
import { wasmExport, type WasmMemoryOwner } from './instance.js';
import { swapAxes } from './transpose.js';

/**
 * A faster BatchMatMul for the wasm backend: the kernel behind every `tf.matMul` there, so the
 * layers write plain `tf.matMul(q, k, false, true)` and `tf.matMul(x, w)` and get it without knowing.
 *
 * - Transposed operands. The stock kernel runs transposeA/transposeB at 1–2 GFLOP/s instead of
 *   ~25; copying the operand transposed first (transpose.wat) and multiplying plainly is several
 *   times faster (Q·Kᵀ, and every product in backprop).
 * - A right-hand matrix shared by the whole batch (x (B, T, in) · W (in, out)): the batch is folded
 *   into rows, one (B·T, in)·(in, out) product, which the memory layout allows without a copy.
 * - Batched products, such as the per-head products of attention (B·H small matrices): the stock
 *   kernel hands a single product to XNNPACK (~40 GFLOP/s here on large matrices) but runs batched
 *   ones in a plain loop at ~3 GFLOP/s. The kernel in batch-matmul.wat computes them with SIMD in
 *   the backend's own memory at the XNNPACK rate (13× faster on (256, 32, 32)·(256, 32, 16)), each
 *   entry summed over k in order (the stock loop sums blocks of 48; tests compare with plain loops).
 * - Single products with at most 8 rows or a right-hand matrix of at most 4,096 entries, which
 *   XNNPACK sets up slowly (2–20× faster: the row sums of bias and LayerNorm gradients, one-token
 *   decoding), also go to the SIMD kernel.
 * Anything else (large single products, other dtypes, incompatible broadcasts, a runtime without
 * wasm SIMD) goes to the stock kernel, with its operands untransposed.
 */

interface WasmBackendLike extends WasmMemoryOwner {
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object): boolean;
}

type Bmm = (a: number, b: number, c: number, batch: number, m: number, k: number, n: number, strideA: number, strideB: number) => void;

const kernelFor = wasmExport<Bmm>(BATCH_MATMUL_WASM, 'bmm');

const size = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);

/** A copy of x (…, M, N) as (…, N, M), made by transpose.wat (the stock kernel if that is missing); the caller frees it. */
export function transposedCopy(x: tf.TensorInfo, backend: unknown): tf.TensorInfo {
  const [m, n] = x.shape.slice(-2) as [number, number];
  const outer = x.shape.slice(0, -2);
  const outShape = [...outer, n, m];
  const copy = swapAxes(x, { batch: size(outer), m, n, e: 1 }, outShape, backend);
  if (copy !== null) return copy;
  const perm = [...x.shape.keys()];
  [perm[perm.length - 2], perm[perm.length - 1]] = [perm.length - 1, perm.length - 2];
  return tf.getKernel(tf.Transpose, 'wasm')!.kernelFunc({ inputs: { x }, backend: backend as tf.KernelBackend, attrs: { perm } }) as tf.TensorInfo;
}

/** The wasm BatchMatMul kernel, falling back to `stockFunc` (the backend's own) where it does not apply. */
export function batchMatMul(stockFunc: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const backend = args.backend as unknown as WasmBackendLike;
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return stockFunc(args);
    if (!transposeA && !transposeB) return plainProduct(a, b, backend, stockFunc);
    // Mismatched operands: the stock kernel says what tfjs says about them.
    const k = a.shape[a.shape.length - (transposeA ? 2 : 1)];
    const k2 = b.shape[b.shape.length - (transposeB ? 1 : 2)];
    if (k !== k2) return stockFunc(args);
    const copies: tf.TensorInfo[] = [];
    try {
      const left = transposeA ? copies[copies.push(transposedCopy(a, backend)) - 1]! : a;
      const right = transposeB ? copies[copies.push(transposedCopy(b, backend)) - 1]! : b;
      return plainProduct(left, right, backend, stockFunc);
    } finally {
      for (const copy of copies) backend.disposeData(copy.dataId);
    }
  };
}

/** a (…, M, K) · b (…, K, N), neither transposed. */
function plainProduct(a: tf.TensorInfo, b: tf.TensorInfo, backend: WasmBackendLike, stockFunc: tf.KernelFunc): tf.TensorInfo {
  const stock = (x: tf.TensorInfo, y: tf.TensorInfo) =>
    stockFunc({ inputs: { a: x, b: y }, backend: backend as unknown as tf.KernelBackend, attrs: { transposeA: false, transposeB: false } }) as tf.TensorInfo;
  const [m, k] = a.shape.slice(-2) as [number, number];
  const [k2, n] = b.shape.slice(-2) as [number, number];
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  if (k !== k2) return stock(a, b);
  const batch = tf.broadcast_util.assertAndGetBroadcastShape(batchA, batchB);
  const nA = size(batchA);
  const nB = size(batchB);
  const count = size(batch);
  // Each side is either the whole batch or a single matrix used for every product.
  const fits = (side: number[], n: number) => n === 1 || tf.util.arraysEqual(side, batch);
  if (!fits(batchA, nA) || !fits(batchB, nB)) return stock(a, b);
  const outShape = [...batch, m, n];
  // An empty result needs no work (the stock kernel fails on an empty batch).
  if (count * m * n === 0) return backend.makeOutput(outShape, 'float32');
  // One right-hand matrix for the whole batch: the batch's rows are one (count·M, K) matrix.
  const fold = count > 1 && nB === 1 && nA === count;
  const rows = fold ? count * m : m;
  const products = fold ? 1 : count;
  // One product goes to XNNPACK unless it is small: a few rows, or a small right-hand matrix,
  // where XNNPACK's per-call set-up dominates (it runs (1, 512)·(512, 64) at under 1 GFLOP/s).
  if (products === 1 && rows > 8 && k * n > 4096) {
    const out = stock({ ...a, shape: [rows, k] }, { ...b, shape: [k, n] });
    return { ...out, shape: outShape };
  }
  const bmm = kernelFor(backend);
  const offA = backend.dataIdMap.get(a.dataId)?.memoryOffset;
  const offB = backend.dataIdMap.get(b.dataId)?.memoryOffset;
  if (bmm === null || offA === undefined || offB === undefined) return stock(a, b);
  const out = backend.makeOutput(outShape, 'float32');
  // makeOutput may grow the heap, but offsets stay valid.
  const offC = backend.dataIdMap.get(out.dataId)!.memoryOffset;
  bmm(offA, offB, offC, products, rows, k, n, nA === 1 ? 0 : m * k * 4, nB === 1 ? 0 : k * n * 4);
  return out;
}
