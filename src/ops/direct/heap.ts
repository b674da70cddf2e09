import * as tf from '@tensorflow/tfjs';
import { kernelFor as gemmFor, panelWidth, type Gemm } from '../kernels/batch-matmul.js';
import { wasmExport, type WasmMemoryOwner } from '../kernels/instance.js';
import { LAYER_NORM_WASM } from '../kernels/layer-norm-wasm.js';

/**
 * The wasm backend's memory seen from JavaScript, for code that computes on tensors without going
 * through the engine one operation at a time: where a tensor's values sit (a byte offset), fresh
 * Float32Array views on the memory, uninitialised tensors to write into, and the hand-written
 * kernels (matrix product, layer norm) that run on offsets in that memory.
 */

interface WasmBackendLike extends WasmMemoryOwner {
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

/** y, x̂ (rows, d) and r (rows) from x (rows, d), γ, β (d): layer-norm.wat's forward pass. */
type LayerNormForward = (x: number, gamma: number, beta: number, y: number, xhat: number, rstd: number, rows: number, d: number, eps: number) => void;

const layerNormFor = wasmExport<LayerNormForward>(LAYER_NORM_WASM, 'forward');

export class WasmHeap {
  private view: Float32Array;

  private constructor(
    private readonly backend: WasmBackendLike,
    private readonly memory: WebAssembly.Memory,
    private readonly gemmKernel: Gemm,
    private readonly layerNormKernel: LayerNormForward,
  ) {
    this.view = new Float32Array(memory.buffer);
  }

  /** The heap of the active backend when it is wasm and runs the SIMD kernels; null otherwise. */
  static active(): WasmHeap | null {
    if (tf.getBackend() !== 'wasm') return null;
    const backend = tf.backend() as unknown as WasmBackendLike;
    const memory = backend.wasm?.asm?.memory;
    const gemm = gemmFor(backend);
    const layerNorm = layerNormFor(backend);
    if (memory === undefined || gemm === null || layerNorm === null) return null;
    return new WasmHeap(backend, memory, gemm, layerNorm);
  }

  /** Whether this heap is still the active backend's (a backend can be re-created). */
  get current(): boolean {
    return tf.getBackend() === 'wasm' && (tf.backend() as unknown as WasmBackendLike) === this.backend;
  }

  /**
   * The memory as floats. A growing memory replaces its buffer (and detaches the old views), so
   * take the view again after anything that may allocate.
   */
  get f32(): Float32Array {
    if (this.view.buffer !== this.memory.buffer) this.view = new Float32Array(this.memory.buffer);
    return this.view;
  }

  /** Byte offset of a float32 tensor's values. Read it again each time: a variable's assign moves it. */
  offset(t: tf.Tensor): number {
    const entry = this.backend.dataIdMap.get(t.dataId);
    if (entry === undefined) throw new Error('tensor is not in the wasm backend');
    return entry.memoryOffset;
  }

  /** A float32 tensor whose values are not initialised, to be written in place by its owner. */
  allocate(shape: number[]): tf.Tensor {
    return tf.engine().makeTensorFromTensorInfo(this.backend.makeOutput(shape, 'float32'));
  }

  /** C (m, n) = A (m, k) · B (k, n), all row-major at byte offsets; each entry summed over k in order. */
  matMul(a: number, b: number, c: number, m: number, k: number, n: number): void {
    this.gemmKernel(a, b, c, 1, m, k, n, k * 4, 4, 0, 0, panelWidth(k), n * 4, n * 4, 0);
  }

  /**
   * `batch` products C[i] (m, n) = A[i] (m, k) · B[i] (k, n): A[i] starts strideA bytes after
   * A[i − 1] and reads its entry (r, j) rowStride·r + 4·j bytes in; B[i] (row-major) starts strideB
   * bytes after B[i − 1]; the C[i] follow one another.
   */
  batchMatMul(a: number, b: number, c: number, batch: number, m: number, k: number, n: number, rowStride: number, strideA: number, strideB: number): void {
    this.gemmKernel(a, b, c, batch, m, k, n, rowStride, 4, strideA, strideB, panelWidth(k), n * 4, n * 4, m * n * 4);
  }

  /** y (rows, d) = layer norm of x (rows, d) with γ, β (d); x̂ (rows, d) and r (rows) are scratch. */
  layerNorm(x: number, gamma: number, beta: number, y: number, xhat: number, rstd: number, rows: number, d: number, epsilon: number): void {
    this.layerNormKernel(x, gamma, beta, y, xhat, rstd, rows, d, epsilon);
  }
}
