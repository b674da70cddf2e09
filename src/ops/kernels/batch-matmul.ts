import * as tf from '@tensorflow/tfjs';
import { BATCH_MATMUL_WASM } from './batch-matmul-wasm.js';

/**
 * A faster BatchMatMul for the wasm backend for batched and for small products.
 *
 * tfjs-backend-wasm hands a single product to XNNPACK (~40 GFLOP/s here on large matrices) but runs
 * batched ones, such as the per-head products of attention (B·H small matrices), in a plain loop
 * at ~3 GFLOP/s. The kernel in batch-matmul.wat computes them with SIMD in the backend's own memory
 * at the XNNPACK rate (13× faster on (256, 32, 32)·(256, 32, 16)), each entry summed over k in
 * order (the stock loop sums blocks of 48; tests compare with plain loops). It also takes single products with at most 8 rows or a right-hand matrix
 * of at most 4,096 entries, which XNNPACK sets up slowly (2–20× faster: the row sums of bias and
 * LayerNorm gradients, one-token decoding). Anything else (large single products, transposed
 * operands, other dtypes, incompatible broadcasts, a runtime without wasm SIMD) goes to the stock
 * kernel.
 */

interface WasmBackendLike {
  wasm: { asm?: { memory?: WebAssembly.Memory } };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

type Bmm = (a: number, b: number, c: number, batch: number, m: number, k: number, n: number, strideA: number, strideB: number) => void;

/** One instance per wasm memory (a re-created backend gets its own); null where SIMD is missing. */
const instances = new WeakMap<WebAssembly.Memory, Bmm | null>();

function kernelFor(backend: WasmBackendLike): Bmm | null {
  const memory = backend.wasm.asm?.memory;
  if (memory === undefined) return null;
  let bmm = instances.get(memory);
  if (bmm === undefined) {
    try {
      const instance = new WebAssembly.Instance(new WebAssembly.Module(BATCH_MATMUL_WASM), { env: { memory } });
      bmm = instance.exports.bmm as Bmm;
    } catch {
      bmm = null;
    }
    instances.set(memory, bmm);
  }
  return bmm;
}

const size = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);

/** The wasm BatchMatMul kernel, falling back to `stockFunc` (the backend's own) where it does not apply. */
export function batchMatMul(stockFunc: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const backend = args.backend as unknown as WasmBackendLike;
    if (transposeA || transposeB || a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return stockFunc(args);
    const [m, k] = a.shape.slice(-2) as [number, number];
    const [k2, n] = b.shape.slice(-2) as [number, number];
    const batchA = a.shape.slice(0, -2);
    const batchB = b.shape.slice(0, -2);
    if (k !== k2) return stockFunc(args);
    const batch = tf.broadcast_util.assertAndGetBroadcastShape(batchA, batchB);
    const nA = size(batchA);
    const nB = size(batchB);
    const count = size(batch);
    // Each side is either the whole batch or a single matrix used for every product.
    const fits = (side: number[], n: number) => n === 1 || tf.util.arraysEqual(side, batch);
    // One product goes to XNNPACK unless it is small: a few rows, or a small right-hand matrix,
    // where XNNPACK's per-call set-up dominates (it runs (1, 512)·(512, 64) at under 1 GFLOP/s).
    const single = count < 2;
    if (!fits(batchA, nA) || !fits(batchB, nB)) return stockFunc(args);
    // An empty result needs no work (the stock kernel fails on an empty batch).
    if (count * m * n === 0) return backend.makeOutput([...batch, m, n], 'float32');
    if (single && m > 8 && k * n > 4096) return stockFunc(args);
    const bmm = kernelFor(backend);
    const offA = backend.dataIdMap.get(a.dataId)?.memoryOffset;
    const offB = backend.dataIdMap.get(b.dataId)?.memoryOffset;
    if (bmm === null || offA === undefined || offB === undefined) return stockFunc(args);
    const out = backend.makeOutput([...batch, m, n], 'float32');
    // makeOutput may grow the heap, but offsets stay valid.
    const offC = backend.dataIdMap.get(out.dataId)!.memoryOffset;
    bmm(offA, offB, offC, count, m, k, n, nA === 1 ? 0 : m * k * 4, nB === 1 ? 0 : k * n * 4);
    return out;
  };
}
