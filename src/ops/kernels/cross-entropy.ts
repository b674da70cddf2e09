import * as tf from '@tensorflow/tfjs';
import { ADD_BIAS_WASM } from './add-bias-wasm.js';
import { transposedCopy } from './batch-matmul.js';
import { CROSS_ENTROPY_WASM } from './cross-entropy-wasm.js';
import { wasmExport } from './instance.js';
import { Temporaries, type WasmTensorMemory } from './temporaries.js';
import { SUM_ROWS_WASM } from './sum-rows-wasm.js';

/**
 * `AtencaoProjectedCrossEntropy` on wasm: the loss of ops/projected-cross-entropy.ts and its
 * gradients in one kernel call, in place of the ~35 kernel calls per chunk of rows that the tf ops
 * take (slice, product, bias, max, subtract, exp, sum, log, one-hot, the loss, the softmax, the
 * gradient of the logits, its three products and sums, and the sums across chunks).
 * Inputs h (N, d), w (d, V) — or (V, d) with `transposed` —, b (V), ids (N) int32, weights (N)
 * (each row's share of the mean); attrs labelSmoothing, transposed, chunkRows, scale →
 * [loss (), dh (N, d), dw (w's shape), db (V)], the gradients those of scale · loss.
 *
 * The rows go through in the same chunks as the tf ops take them, because the chunks fix the order
 * of the sums across them: loss = ((0 + s₀) + s₁) + …, dw = (gw₀ + gw₁) + …, db likewise, dh the
 * chunks' rows one after another. Within a chunk every product is the BatchMatMul kernel that
 * tf.matMul runs for it (the same routing, so the same sums), exp and log are the backend's own
 * Exp and Log kernels, the bias is added by add-bias.wat and the column sums of the logits'
 * gradient taken by sum-rows.wat (as the AtencaoLinear and AtencaoSumRows kernels do), and the rest
 * is cross-entropy.wat, which makes the float operations of the tf ops one by one: the results are
 * the tf ops' to the bit.
 */
export const PROJECTED_CROSS_ENTROPY = 'AtencaoProjectedCrossEntropy';

export interface CrossEntropyAttrs {
  /** ε: the target distribution is (1 − ε)·onehot + ε/V where ε > 0. */
  labelSmoothing: number;
  /** w is (V, d), used as its transpose. */
  transposed: boolean;
  /** Rows per chunk. */
  chunkRows: number;
  /** The gradients are those of scale · loss. */
  scale: number;
}

interface WasmBackendLike extends WasmTensorMemory {
  typedArrayFromHeap(info: tf.TensorInfo): tf.backend_util.TypedArray;
}

type Stats = (z: number, ids: number, rows: number, v: number, smooth: number, max: number, zt: number, mean: number) => void;
type Shift = (z: number, by: number, a: number, rows: number, v: number) => void;
type RowSums = (x: number, rows: number, v: number, out: number) => void;
type Loss = (max: number, logSum: number, zt: number, mean: number, w: number, lse: number, rows: number, smooth: number, keep: number, spread: number) => number;
type Grad = (p: number, ids: number, w: number, rows: number, v: number, scale: number, on: number, off: number) => void;
type AddInto = (dst: number, src: number, count: number) => void;
/** add-bias.wat's addBias (c, bias, rows, n) and sum-rows.wat's sumRows (x, out, rows, d). */
type AddBias = (c: number, bias: number, rows: number, n: number) => void;
type SumRows = (x: number, out: number, rows: number, d: number) => void;

const functions = {
  stats: wasmExport<Stats>(CROSS_ENTROPY_WASM, 'stats'),
  shift: wasmExport<Shift>(CROSS_ENTROPY_WASM, 'shift'),
  rowSums: wasmExport<RowSums>(CROSS_ENTROPY_WASM, 'rowSums'),
  loss: wasmExport<Loss>(CROSS_ENTROPY_WASM, 'loss'),
  grad: wasmExport<Grad>(CROSS_ENTROPY_WASM, 'grad'),
  addInto: wasmExport<AddInto>(CROSS_ENTROPY_WASM, 'addInto'),
  addBias: wasmExport<AddBias>(ADD_BIAS_WASM, 'addBias'),
  sumRows: wasmExport<SumRows>(SUM_ROWS_WASM, 'sumRows'),
};

/** The wasm functions above, instantiated on this backend's memory. */
function wasmOn(backend: WasmBackendLike) {
  return {
    stats: functions.stats(backend)!,
    shift: functions.shift(backend)!,
    rowSums: functions.rowSums(backend)!,
    loss: functions.loss(backend)!,
    grad: functions.grad(backend)!,
    addInto: functions.addInto(backend)!,
    addBias: functions.addBias(backend)!,
    sumRows: functions.sumRows(backend)!,
  };
}

/** Whether this runtime can run the kernel (wasm SIMD). */
export function crossEntropyKernelRuns(): boolean {
  return [CROSS_ENTROPY_WASM, ADD_BIAS_WASM, SUM_ROWS_WASM].every((bytes) => WebAssembly.validate(bytes));
}

/** Register the kernel on wasm where it runs (idempotent; harmless before the wasm backend loads). */
export function registerCrossEntropyKernels(): void {
  if (tf.getKernel(PROJECTED_CROSS_ENTROPY, 'wasm') === undefined && crossEntropyKernelRuns()) {
    tf.registerKernel({ kernelName: PROJECTED_CROSS_ENTROPY, backendName: 'wasm', kernelFunc: crossEntropyKernel as unknown as tf.KernelFunc });
  }
}

interface KernelArgs {
  inputs: Record<string, tf.TensorInfo | undefined>;
  backend: unknown;
  attrs?: Record<string, unknown>;
}

/** Tensors made on one backend's memory, freed together unless kept. */
class Heap extends Temporaries<WasmBackendLike> {
  /** Copies `floats` floats from byte offset `from` to `to` (views taken now: allocations may grow the heap). */
  copy(to: number, from: number, floats: number): void {
    const heap = new Uint8Array((this.backend.wasm.asm!.memory as WebAssembly.Memory).buffer);
    heap.copyWithin(to, from, from + floats * 4);
  }
}

/** A kernel of the backend, run on TensorInfos of its memory (no engine call, nothing recorded). */
function stock(name: string, backend: WasmBackendLike): (inputs: tf.NamedTensorInfoMap, attrs?: tf.NamedAttrMap) => tf.TensorInfo {
  const kernel = tf.getKernel(name, 'wasm')!.kernelFunc;
  return (inputs, attrs = {}) => kernel({ inputs, backend: backend as unknown as tf.KernelBackend, attrs }) as tf.TensorInfo;
}

export function crossEntropyKernel(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as WasmBackendLike;
  const { h, w, b, ids, weights } = args.inputs as { h: tf.TensorInfo; w: tf.TensorInfo; b: tf.TensorInfo; ids: tf.TensorInfo; weights: tf.TensorInfo };
  const { labelSmoothing: eps, transposed, chunkRows, scale } = args.attrs as unknown as CrossEntropyAttrs;
  const [rows, d] = h.shape as [number, number];
  const vocab = w.shape[transposed ? 0 : 1]!;
  const [matMul, exp, log] = [stock(tf.BatchMatMul, backend), stock(tf.Exp, backend), stock(tf.Log, backend)];
  const product = (a: tf.TensorInfo, transposeA: boolean, bt: tf.TensorInfo) => matMul({ a, b: bt }, { transposeA, transposeB: false });
  const { stats, shift, rowSums, loss, grad, addInto, addBias, sumRows } = wasmOn(backend);
  const heap = new Heap(backend);
  const whole = new Heap(backend); // lives across the chunks
  // The scalars of the tf ops, as their float32 tensors hold them: (1 − ε) and ε from
  // tf.mul(·, 1 − ε) and tf.mul(·, ε), the target q from tf.add(tf.mul(onehot, 1 − ε), ε / V).
  const smooth = eps > 0;
  const keep = Math.fround(1 - eps);
  const spread = Math.fround(eps);
  const share = Math.fround(eps / vocab);
  const [on, off] = smooth ? [Math.fround(Math.fround(1 * keep) + share), Math.fround(Math.fround(0 * keep) + share)] : [1, 0];
  const outputs: tf.TensorInfo[] = []; // freed if anything fails
  const output = (t: tf.TensorInfo) => (outputs.push(t), t);
  try {
    // W as (d, V) for the logits and as (V, d) for dh = g·Wᵀ: the input and its transposed copy,
    // the copy BatchMatMul makes of a transposed right operand (here once, not once a chunk).
    const wT = whole.track(transposedCopy(w, backend));
    const [wLogits, wBack] = transposed ? [wT, w] : [w, wT];
    const value = output(backend.makeOutput([], 'float32'));
    // One chunk's dh is the whole; more are copied in one after another, as tf.concat puts them.
    let dh = rows > chunkRows ? output(backend.makeOutput([rows, d], 'float32')) : undefined;
    let dw: tf.TensorInfo | undefined;
    let db: tf.TensorInfo | undefined;
    let sum = 0; // the running loss, from tf.scalar(0)
    for (let r0 = 0; r0 < rows; r0 += chunkRows) {
      const n = Math.min(chunkRows, rows - r0);
      const at = (t: tf.TensorInfo, row: number, width: number) => heap.at(t) + row * width * 4;
      // Logits z = h·W + b (n, V).
      const hc = heap.temporary([n, d]);
      heap.copy(heap.at(hc), at(h, r0, d), n * d);
      const z = heap.track(product(hc, false, wLogits));
      addBias(heap.at(z), heap.at(b), n, vocab);
      // lse = max + log Σ exp(z − max) (n); the target's logit; the mean logit.
      const [max, zt, mean, lse, total] = [0, 0, 0, 0, 0].map(() => heap.temporary([n])) as [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo, tf.TensorInfo, tf.TensorInfo];
      stats(heap.at(z), at(ids, r0, 1), n, vocab, smooth ? 1 : 0, heap.at(max), heap.at(zt), heap.at(mean));
      const a = heap.temporary([n, vocab]);
      shift(heap.at(z), heap.at(max), heap.at(a), n, vocab);
      const e = heap.track(exp({ x: a }));
      rowSums(heap.at(e), n, vocab, heap.at(total));
      const logTotal = heap.track(log({ x: total }));
      sum = Math.fround(sum + loss(heap.at(max), heap.at(logTotal), heap.at(zt), heap.at(mean), at(weights, r0, 1), heap.at(lse), n, smooth ? 1 : 0, keep, spread));
      // g = (softmax(z) − q)·(weight·scale) (n, V), in place of the softmax exp(z − lse).
      shift(heap.at(z), heap.at(lse), heap.at(a), n, vocab);
      const g = heap.track(exp({ x: a }));
      grad(heap.at(g), at(ids, r0, 1), at(weights, r0, 1), n, vocab, Math.fround(scale), on, off);
      // gw = hᵀ·g (d, V), or gᵀ·h (V, d) for a transposed W; gb = the column sums of g; dh = g·Wᵀ (n, d).
      const gw = heap.track(transposed ? product(g, true, hc) : product(hc, true, g));
      const gb = heap.temporary([vocab]);
      sumRows(heap.at(g), heap.at(gb), n, vocab);
      const dhc = heap.track(product(g, false, wBack));
      const kept: tf.TensorInfo[] = [];
      if (dh === undefined) kept.push((dh = output(dhc)));
      else heap.copy(at(dh, r0, d), heap.at(dhc), n * d);
      if (dw === undefined || db === undefined) {
        kept.push((dw = output(gw)), (db = output(gb)));
      } else {
        addInto(heap.at(dw), heap.at(gw), vocab * d);
        addInto(heap.at(db), heap.at(gb), vocab);
      }
      heap.free(kept);
    }
    (backend.typedArrayFromHeap(value) as Float32Array)[0] = sum;
    return [value, dh!, dw!, db!];
  } catch (error) {
    for (const t of outputs) backend.disposeData(t.dataId);
    throw error;
  } finally {
    heap.free();
    whole.free();
  }
}
