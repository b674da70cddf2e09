import * as tf from '@tensorflow/tfjs';
import { ADD_BIAS_WASM } from './add-bias-wasm.js';
import { GEMM_RELAXED_WASM } from './gemm-relaxed-wasm.js';
import { GEMM_PACKED_RELAXED_WASM } from './gemm-packed-relaxed-wasm.js';
import { GEMM_PACKED_WASM } from './gemm-packed-wasm.js';
import { GEMM_WASM } from './gemm-wasm.js';
import { SPARSE_GEMM_WASM } from './sparse-gemm-wasm.js';
import { wasmExport, type WasmMemoryOwner } from './instance.js';
import { sumRowsKernel, sumRowsKernelRuns } from './sum-rows.js';
import { swapAxes, transposeKernel } from './transpose.js';

/**
 * A faster BatchMatMul for the wasm backend: the kernel behind every `tf.matMul` there, so the
 * layers write plain `tf.matMul(q, k, false, true)` and `tf.matMul(x, w)` and get it without knowing.
 * Every float32 product runs in gemm.wat, a SIMD kernel in the backend's own memory that holds
 * 4 × 8 blocks of the result in registers and walks B in cache-sized column panels: 35–45 GFLOP/s
 * here on the products of training, against 12–30 for the stock kernel (XNNPACK for one product, a
 * plain loop at ~3 GFLOP/s for a batch of them). Each entry is summed over k in order, as a plain
 * loop would (tests compare with plain loops).
 * - A transposed left operand (xᵀ·dy, every weight gradient) is read in place through strides.
 * - A transposed right operand (dy·Wᵀ, Q·Kᵀ) is copied transposed first (transpose.wat): the
 *   stock kernel runs transposeB at 1–2 GFLOP/s.
 * - A right-hand matrix shared by the whole batch (x (B, T, in) · W (in, out)): the batch is folded
 *   into rows, one (B·T, in)·(in, out) product, which the memory layout allows without a copy.
 * Anything else (other dtypes, incompatible broadcasts, a runtime without wasm SIMD) goes to the
 * stock kernel, with its operands untransposed.
 */

interface WasmBackendLike extends WasmMemoryOwner {
  wasm: WasmMemoryOwner['wasm'] & { _malloc(bytes: number): number; _free(offset: number): void };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object): boolean;
}

/** gemm.wat: A through strides; B and C row-major, their rows ldb and ldc bytes apart (4·N when contiguous), consecutive matrices of C strideC bytes apart. */
export type Gemm = (a: number, b: number, c: number, batch: number, m: number, k: number, n: number, rowStride: number, colStride: number, strideA: number, strideB: number, panel: number, ldb: number, ldc: number, strideC: number) => void;

/** gemm-packed.wat: both operands through strides, packed into `work`, the sum over k in chunks of `kc`. */
type PackedGemm = (a: number, b: number, c: number, batch: number, m: number, k: number, n: number, aRowStride: number, aColStride: number, bRowStride: number, bColStride: number, strideA: number, strideB: number, work: number, kc: number) => void;

const plainFor = wasmExport<Gemm>(GEMM_WASM, 'gemm');
const relaxedFor = wasmExport<Gemm>(GEMM_RELAXED_WASM, 'gemm');
const packedPlainFor = wasmExport<PackedGemm>(GEMM_PACKED_WASM, 'gemm');
const packedRelaxedFor = wasmExport<PackedGemm>(GEMM_PACKED_RELAXED_WASM, 'gemm');

/**
 * Relaxed SIMD: gemm-relaxed.wat does each multiply-add as one fused f32x4.relaxed_madd, 1.3–1.5×
 * faster here on the products of training. Off unless asked for: a fused multiply-add rounds once
 * where the plain kernel rounds twice, so results move in the last bits (and differ between CPUs
 * with and without FMA), where training is otherwise reproducible to the bit. Node 22 and later
 * (and browsers since 2023) run it as is; Node 20 keeps it behind a V8 flag, which `setRelaxedSimd`
 * turns on in the running process (Node ≥ 20.16 lets a module reach V8's flags). Also turned on
 * by ATENCAO_RELAXED_SIMD=1 in the environment; training threads follow the thread that starts them.
 */
let relaxed = false;

/** Use the relaxed-SIMD product where the runtime has it (or can turn it on); returns whether it is in use now. */
export function setRelaxedSimd(on: boolean): boolean {
  if (on && !WebAssembly.validate(GEMM_RELAXED_WASM)) enableRelaxedSimdFlag();
  relaxed = on && WebAssembly.validate(GEMM_RELAXED_WASM);
  return relaxed;
}

/** Whether products use the relaxed-SIMD kernel now. */
export function relaxedSimdInUse(): boolean {
  return relaxed;
}

/** In Node 20, V8's relaxed-SIMD flag, set before the module is compiled (nothing elsewhere). */
function enableRelaxedSimdFlag(): void {
  const node = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const v8 = node?.getBuiltinModule?.('node:v8') as { setFlagsFromString?: (flags: string) => void } | undefined;
  v8?.setFlagsFromString?.('--experimental-wasm-relaxed-simd');
}

setRelaxedSimd((globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.ATENCAO_RELAXED_SIMD === '1');

/** The product kernel in use on this backend's memory (relaxed or plain), or null without wasm SIMD. */
export const kernelFor = (backend: WasmMemoryOwner): Gemm | null => (relaxed ? relaxedFor(backend) : null) ?? plainFor(backend);

/** The packed product kernel in use (relaxed or plain), or null without wasm SIMD. */
const packedFor = (backend: WasmMemoryOwner): PackedGemm | null => (relaxed ? packedRelaxedFor(backend) : null) ?? packedPlainFor(backend);

/** Rows of B (and columns of A) packed at a time: a (256, 8) block of B is 8 KB. */
const PACK_DEPTH = 256;

/**
 * Whether a product goes to gemm-packed.wat (single products only; small batched ones, as in
 * attention, run faster unpacked):
 * - a transposed A with a long sum, which is every weight gradient xᵀ·dy of training (k = the rows
 *   of the batch): there gemm.wat reads A a cache line per k and B from beyond the L1 cache; packed,
 *   these ran 1.2–1.8× faster (microbenchmarks of the training shapes);
 * - a wide result (N ≥ 256, M·N ≥ 128K entries), such as x·W into the feed-forward layer and the
 *   gradient that comes back through its second matrix: 6–13% faster packed on operands fresh from
 *   memory (768×128×512, 256×128×512, 1024×64×256; even at 256×64×256, slower below N = 256).
 */
export function packs(transposedA: boolean, products: number, m: number, k: number, n: number): boolean {
  if (products !== 1) return false;
  return transposedA ? k >= 256 && m * n >= 16384 : n >= 256 && m * n >= 131072;
}

const size = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);

/**
 * Columns of C per panel: a (K, panel) slice of B of about 32 KB (a core's L1 cache), but at least
 * 128. Narrower panels kept B in L1 and lost more than that gained: each panel writes C in short
 * pieces a row apart, and on operands fresh from memory (as in training) panels of 128 or more ran
 * the products of training 2–9% faster than L1-sized ones (16 columns at K = 512, 32 at 256, 64 at
 * 128). The sums are the same whatever the panel.
 */
export function panelWidth(k: number): number {
  return Math.max(128, Math.floor(8192 / Math.max(k, 1) / 8) * 8);
}

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
    // Mismatched operands: the stock kernel says what tfjs says about them.
    const k = a.shape[a.shape.length - (transposeA ? 2 : 1)];
    const k2 = b.shape[b.shape.length - (transposeB ? 1 : 2)];
    if (k !== k2) return stockFunc(args);
    const copies: tf.TensorInfo[] = [];
    try {
      // Without the SIMD kernel the stock one gets untransposed operands.
      const simd = kernelFor(backend) !== null;
      const left = transposeA && !simd ? copies[copies.push(transposedCopy(a, backend)) - 1]! : a;
      const right = transposeB ? copies[copies.push(transposedCopy(b, backend)) - 1]! : b;
      return product(left, transposeA && simd, right, backend, stockFunc);
    } finally {
      for (const copy of copies) backend.disposeData(copy.dataId);
    }
  };
}

/** a (…, M, K) — stored (…, K, M) when `transposedA` — times b (…, K, N). */
function product(a: tf.TensorInfo, transposedA: boolean, b: tf.TensorInfo, backend: WasmBackendLike, stockFunc: tf.KernelFunc): tf.TensorInfo {
  const stock = () =>
    stockFunc({ inputs: { a, b }, backend: backend as unknown as tf.KernelBackend, attrs: { transposeA: transposedA, transposeB: false } }) as tf.TensorInfo;
  const [r0, r1] = a.shape.slice(-2) as [number, number];
  const [m, k] = transposedA ? [r1, r0] : [r0, r1];
  const [k2, n] = b.shape.slice(-2) as [number, number];
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  if (k !== k2) return stock();
  const batch = tf.broadcast_util.assertAndGetBroadcastShape(batchA, batchB);
  const nA = size(batchA);
  const nB = size(batchB);
  const count = size(batch);
  // Each side is either the whole batch or a single matrix used for every product.
  const fits = (side: number[], n: number) => n === 1 || tf.util.arraysEqual(side, batch);
  if (!fits(batchA, nA) || !fits(batchB, nB)) return stock();
  const outShape = [...batch, m, n];
  // An empty result needs no work (the stock kernel fails on an empty batch).
  if (count * m * n === 0) return backend.makeOutput(outShape, 'float32');
  const offA = backend.dataIdMap.get(a.dataId)?.memoryOffset;
  const offB = backend.dataIdMap.get(b.dataId)?.memoryOffset;
  if (kernelFor(backend) === null || offA === undefined || offB === undefined) return stock();
  // One right-hand matrix for the whole batch: the batch's rows are one (count·M, K) matrix.
  const fold = count > 1 && nB === 1 && nA === count && !transposedA;
  const rows = fold ? count * m : m;
  const products = fold ? 1 : count;
  const out = backend.makeOutput(outShape, 'float32');
  // makeOutput may grow the heap, but offsets stay valid.
  const offC = backend.dataIdMap.get(out.dataId)!.memoryOffset;
  multiply(backend, offA, offB, offC, products, rows, k, n, transposedA, nA === 1 ? 0 : m * k * 4, nB === 1 ? 0 : k * n * 4);
  return out;
}

/**
 * C = A·B by byte offsets in the backend's memory, the way every product of this kernel runs (so
 * kernels made of several steps that call it get the same sums): `products` matrices A (M, K) —
 * stored (K, M) when `transposedA` —, B (K, N) and C (M, N), the next matrix of A and of B
 * `strideA`/`strideB` bytes on (0: the same one for all), C contiguous. Weight gradients and wide
 * products go to gemm-packed.wat (see `packs`), the rest to gemm.wat. Needs wasm SIMD (`kernelFor` not null).
 */
export function multiply(backend: unknown, offA: number, offB: number, offC: number, products: number, m: number, k: number, n: number, transposedA: boolean, strideA: number, strideB: number): void {
  const memory = backend as WasmBackendLike;
  const [rowStride, colStride] = transposedA ? [4, m * 4] : [k * 4, 4];
  const packed = packs(transposedA, products, m, k, n) ? packedFor(memory) : null;
  if (packed === null) {
    kernelFor(memory)!(offA, offB, offC, products, m, k, n, rowStride, colStride, strideA, strideB, panelWidth(k), n * 4, n * 4, m * n * 4);
    return;
  }
  const depth = Math.min(k, PACK_DEPTH);
  const work = memory.wasm._malloc(depth * Math.ceil(n / 8) * 32 + depth * 16 + 128);
  try {
    packed(offA, offB, offC, products, m, k, n, rowStride, colStride, n * 4, 4, strideA, strideB, work, depth);
  } finally {
    memory.wasm._free(work);
  }
}

type SparseList = (a: number, m: number, k: number, rs: number, cs: number, pairs: number, starts: number) => number;
type SparsePack = (b: number, k: number, n: number, ldb: number, out: number) => void;
type SparseGemm = (pairs: number, starts: number, m: number, n: number, packed: number, k: number, c: number, ldc: number, ccs: number) => void;

const sparseListFor = wasmExport<SparseList>(SPARSE_GEMM_WASM, 'list');
const sparsePackFor = wasmExport<SparsePack>(SPARSE_GEMM_WASM, 'pack');
const sparseGemmFor = wasmExport<SparseGemm>(SPARSE_GEMM_WASM, 'gemm');

/**
 * The largest share of A's entries that may be non-zero for sparse-gemm.wat to take a product: its
 * sums run at about 0.65 of gemm.wat's speed per term kept (one row per register block), and its
 * list and packing cost about 0.07 of a dense product (512 × 512 · 512 × 128), so it is ahead below
 * about 0.6.
 */
const SPARSE_DENSITY = 0.6;

/** The fewest rows of A worth a sparse product: B is copied into blocks once per product (K·N values for M·K·N multiply-adds). */
const SPARSE_MIN_ROWS = 32;

/** Bytes of pair lists made at a time (rows of A are listed in chunks that fit). */
const SPARSE_CHUNK_BYTES = 4 << 20;

let sparseRuns = 0;

/** How many products `sparseMultiply` has taken in this thread so far (to see that a layer's products go sparse). */
export function sparseProductsRun(): number {
  return sparseRuns;
}

/**
 * C = A·B summed over A's non-zero entries only, by sparse-gemm.wat, the same bits as `multiply`
 * (see the .wat). A (M, K): A[i, k] at offA + i·rs + k·cs bytes; B (K, N), rows ldb bytes apart;
 * C[i, j] written at offC + i·ldc + j·ccs. Returns false, having written nothing, where it does not
 * pay or apply: fewer than SPARSE_MIN_ROWS rows, more than SPARSE_DENSITY of the first rows' entries non-zero, relaxed SIMD on (its
 * products round once, these twice), or no kernel; the caller then runs the dense product.
 */
export function sparseMultiply(backend: unknown, offA: number, m: number, k: number, rs: number, cs: number, offB: number, n: number, ldb: number, offC: number, ldc: number, ccs: number): boolean {
  const memory = backend as WasmBackendLike;
  const [list, pack, gemm] = [sparseListFor(memory), sparsePackFor(memory), sparseGemmFor(memory)];
  // Fewer rows than SPARSE_MIN_ROWS: copying B into blocks would cost more than the zeros save.
  if (relaxed || list === null || pack === null || gemm === null || m < SPARSE_MIN_ROWS || k * n === 0) return false;
  const chunk = Math.max(1, Math.min(m, Math.floor(SPARSE_CHUNK_BYTES / (8 * k))));
  // A's rows are the columns of a stored (K, M) matrix: listed from a transposed copy, whose rows
  // are contiguous (a third of the time of walking the columns), where the copy is not too big.
  const transpose = rs === 4 && cs === 4 * m && 4 * m * k <= SPARSE_CHUNK_BYTES ? transposeKernel(memory) : null;
  const pairsBytes = 8 * chunk * k + 4 * (chunk + 1);
  const packedBytes = Math.ceil(n / 16) * k * 64;
  const pairs = scratch(memory, pairsBytes + packedBytes + (transpose === null ? 0 : 4 * m * k));
  const [starts, packed, copy] = [pairs + 8 * chunk * k, pairs + pairsBytes, pairs + pairsBytes + packedBytes];
  if (transpose !== null) {
    transpose(offA, copy, 1, k, m, 1);
    [offA, rs, cs] = [copy, 4 * k, 4];
  }
  for (let i0 = 0; i0 < m; i0 += chunk) {
    const rows = Math.min(chunk, m - i0);
    const count = list(offA + i0 * rs, rows, k, rs, cs, pairs, starts);
    if (i0 === 0) {
      if (count > SPARSE_DENSITY * rows * k) return false;
      pack(offB, k, n, ldb, packed);
    }
    gemm(pairs, starts, rows, n, packed, k, offC + i0 * ldc, ldc, ccs);
  }
  sparseRuns++;
  return true;
}

const scratchBlocks = new WeakMap<object, { offset: number; bytes: number }>();

/**
 * A block of at least `bytes` in the backend's memory for the sparse products' lists and copies,
 * kept from one product to the next and grown by doubling: allocated per product (or grown to
 * each new size), blocks of megabytes split by the tensors allocated between them grew the heap
 * without end (to 0.5 GB over the decoding bench, whose products grow a row at a time).
 */
function scratch(memory: WasmBackendLike, bytes: number): number {
  const block = scratchBlocks.get(memory.wasm);
  if (block !== undefined && block.bytes >= bytes) return block.offset;
  if (block !== undefined) memory.wasm._free(block.offset);
  const size = Math.max(bytes, 2 * (block?.bytes ?? 0), 1 << 20);
  const grown = { offset: memory.wasm._malloc(size), bytes: size };
  scratchBlocks.set(memory.wasm, grown);
  return grown.offset;
}

/**
 * `AtencaoLinear` on wasm: x (…, in) · W (in, out) + b (out) in one kernel call — the product as
 * above, then add-bias.wat adds b to every row in place, the same one float addition per entry an
 * Add kernel makes (so the same bits as BatchMatMul then Add); with `activation: 'relu'` the same
 * pass applies ReLU as the Relu kernel does. Registered where both kernels run.
 */
export const LINEAR = 'AtencaoLinear';

/** The gradient of ReLU from its output: dy · step(y), as Step then Multiply would give it. */
export const RELU_GRAD = 'AtencaoReluGrad';

/**
 * The three gradients of `linear` in one kernel call: inputs dy (…, out), x (…, in), w (in, out)
 * and, after a ReLU, its output y; outputs dx = dz·Wᵀ (…, in), dW = xᵀ·dz (in, out) and db (out),
 * dz = dy · step(y) (or dy). Each is computed exactly as the kernels it replaces compute it.
 */
export const LINEAR_GRAD = 'AtencaoLinearGrad';

export interface LinearAttrs {
  activation: 'none' | 'relu';
  /**
   * x is mostly zeros (a ReLU's output after dropout, as the feed-forward layer's second product
   * takes it): x·W and the weight gradient xᵀ·dy then skip its zeros (`sparseMultiply`).
   */
  sparseInput?: boolean;
}

const addBiasFor = wasmExport<(c: number, bias: number, rows: number, n: number) => void>(ADD_BIAS_WASM, 'addBias');
const addBiasReluFor = wasmExport<(c: number, bias: number, rows: number, n: number) => void>(ADD_BIAS_WASM, 'addBiasRelu');
const reluGradFor = wasmExport<(dy: number, y: number, out: number, count: number) => void>(ADD_BIAS_WASM, 'reluGrad');

export function linearKernelRuns(): boolean {
  return WebAssembly.validate(GEMM_WASM) && WebAssembly.validate(ADD_BIAS_WASM) && sumRowsKernelRuns();
}

const offsetOf = (backend: WasmBackendLike, t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)?.memoryOffset;

/** x (…, in) read as (rows, in) times W (in, out) by `sparseMultiply`, or null where it does not take it. */
function sparseProduct(x: tf.TensorInfo, rows: number, w: tf.TensorInfo, backend: WasmBackendLike): tf.TensorInfo | null {
  const [inDim, outDim] = w.shape as [number, number];
  const [offX, offW] = [offsetOf(backend, x), offsetOf(backend, w)];
  if (x.dtype !== 'float32' || w.dtype !== 'float32' || offX === undefined || offW === undefined) return null;
  const y = backend.makeOutput([...x.shape.slice(0, -1), outDim], 'float32');
  if (sparseMultiply(backend, offX, rows, inDim, inDim * 4, 4, offW, outDim, outDim * 4, offsetOf(backend, y)!, outDim * 4, 4)) return y;
  backend.disposeData(y.dataId);
  return null;
}

/** The kernel, given the backend's stock BatchMatMul for products the SIMD kernel does not take. */
export function linearKernel(stockMatMul: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, w, b } = args.inputs as { x: tf.TensorInfo; w: tf.TensorInfo; b: tf.TensorInfo };
    const attrs = args.attrs as unknown as Partial<LinearAttrs> | undefined;
    const relu = attrs?.activation === 'relu';
    const backend = args.backend as unknown as WasmBackendLike;
    const [inDim, n] = w.shape as [number, number];
    const rows = size(x.shape) / Math.max(inDim, 1);
    const y = (attrs?.sparseInput === true ? sparseProduct(x, rows, w, backend) : null) ?? product(x, false, w, backend, stockMatMul);
    const epilogue = (relu ? addBiasReluFor : addBiasFor)(backend)!;
    if (rows > 0 && n > 0) epilogue(backend.dataIdMap.get(y.dataId)!.memoryOffset, backend.dataIdMap.get(b.dataId)!.memoryOffset, rows, n);
    return y;
  };
}

/** `AtencaoReluGrad` on wasm: inputs dy and y = relu(x), of the same shape. */
export const reluGradKernel: tf.KernelFunc = (args) => {
  const { dy, y } = args.inputs as { dy: tf.TensorInfo; y: tf.TensorInfo };
  const backend = args.backend as unknown as WasmBackendLike;
  const out = backend.makeOutput(y.shape, 'float32');
  const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  const count = size(y.shape);
  if (count > 0) reluGradFor(backend)!(offset(dy), offset(y), offset(out), count);
  return out;
};

/**
 * dW = xᵀ·dz (in, out) over x (rows, in) and dz (rows, out), skipping the zeros of `zeros`' operand
 * (`sparseMultiply`), or null where it does not take it. Skipping dz's zeros needs them on the
 * summed side, so it computes dzᵀ·x and writes it transposed, which is dW.
 */
function sparseWeightGradient(x: tf.TensorInfo, dz: tf.TensorInfo, rows: number, inDim: number, outDim: number, zeros: 'x' | 'dz' | null, backend: WasmBackendLike): tf.TensorInfo | null {
  const [offX, offDz] = [offsetOf(backend, x), offsetOf(backend, dz)];
  if (zeros === null || x.dtype !== 'float32' || offX === undefined || offDz === undefined) return null;
  const dw = backend.makeOutput([inDim, outDim], 'float32');
  const offDw = offsetOf(backend, dw)!;
  const done =
    zeros === 'x'
      ? sparseMultiply(backend, offX, inDim, rows, 4, inDim * 4, offDz, outDim, outDim * 4, offDw, outDim * 4, 4)
      : sparseMultiply(backend, offDz, outDim, rows, 4, outDim * 4, offX, inDim, inDim * 4, offDw, 4, outDim * 4);
  if (done) return dw;
  backend.disposeData(dw.dataId);
  return null;
}

/**
 * `AtencaoLinearGrad` on wasm: what BatchMatMul (twice, W copied transposed for the first), the
 * ReLU gradient, two Reshapes and SumRows did as six kernel calls, with the same routines in the
 * same order, so the same bits. x and dz are read as (N, in) and (N, out) in place.
 */
export function linearGradKernel(stockMatMul: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { dy, x, w, y } = args.inputs as { dy: tf.TensorInfo; x: tf.TensorInfo; w: tf.TensorInfo; y?: tf.TensorInfo };
    const sparseX = (args.attrs as unknown as Partial<LinearAttrs> | undefined)?.sparseInput === true;
    const backend = args.backend as unknown as WasmBackendLike;
    const temporaries: tf.TensorInfo[] = [];
    try {
      const dz = y === undefined ? dy : temporaries[temporaries.push(reluGradKernel({ inputs: { dy, y }, backend: args.backend, attrs: {} }) as tf.TensorInfo) - 1]!;
      const wT = temporaries[temporaries.push(transposedCopy(w, backend)) - 1]!;
      const [inDim, outDim] = w.shape as [number, number];
      const rows = size(x.shape) / Math.max(inDim, 1);
      // After a ReLU, dz is zero wherever its output was: dz·Wᵀ and the weight gradient skip those.
      const sparse = y !== undefined;
      const dx = (sparse ? sparseProduct(dz, rows, wT, backend) : null) ?? product(dz, false, wT, backend, stockMatMul);
      const dw = sparseWeightGradient(x, dz, rows, inDim, outDim, sparse ? 'dz' : sparseX ? 'x' : null, backend) ?? product({ dataId: x.dataId, shape: [rows, inDim], dtype: x.dtype }, true, { dataId: dz.dataId, shape: [rows, outDim], dtype: dz.dtype }, backend, stockMatMul);
      const db = sumRowsKernel({ inputs: { x: dz }, backend });
      return [dx, dw, db];
    } finally {
      for (const t of temporaries) backend.disposeData(t.dataId);
    }
  };
}
