import type * as tf from '@tensorflow/tfjs';
import { wasmExport, type WasmMemoryOwner } from './instance.js';
import { LAYER_NORM_WASM } from './layer-norm-wasm.js';

/**
 * LayerNorm as two wasm kernels (layer-norm.wat), one pass over the rows each, in place of the ~10
 * kernels of the forward pass and ~15 of its gradient written in tf ops:
 * - `AtencaoLayerNorm`: inputs x (…, d), γ (d), β (d), attr epsilon → [y (…, d), x̂ (…, d), r (…, 1)]
 * - `AtencaoLayerNormGrad`: inputs dy, x̂, r, γ → [dx (…, d), dγ (d), dβ (d)]
 * Only for float32 rows whose width d is a multiple of 4 (`fusedLayerNormFits`), on runtimes with
 * wasm SIMD (the kernels are registered only there).
 */
export const LAYER_NORM = 'AtencaoLayerNorm';
export const LAYER_NORM_GRAD = 'AtencaoLayerNormGrad';

interface WasmBackendLike extends WasmMemoryOwner {
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

type Forward = (x: number, gamma: number, beta: number, y: number, xhat: number, rstd: number, rows: number, d: number, eps: number) => void;
type Backward = (dy: number, xhat: number, rstd: number, gamma: number, dx: number, dgamma: number, dbeta: number, rows: number, d: number) => void;

const forwardFor = wasmExport<Forward>(LAYER_NORM_WASM, 'forward');
const backwardFor = wasmExport<Backward>(LAYER_NORM_WASM, 'backward');

/** Whether this runtime can run the kernels (wasm SIMD). */
export function layerNormKernelsRun(): boolean {
  return WebAssembly.validate(LAYER_NORM_WASM);
}

/** Whether the fused kernels take x (…, d) with γ, β (d). */
export function fusedLayerNormFits(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): boolean {
  const d = x.shape[x.rank - 1] ?? 0;
  return x.rank >= 1 && x.dtype === 'float32' && d % 4 === 0 && d > 0 && gamma.rank === 1 && beta.rank === 1 && gamma.shape[0] === d && beta.shape[0] === d && gamma.dtype === 'float32' && beta.dtype === 'float32';
}

interface KernelArgs {
  inputs: Record<string, tf.TensorInfo>;
  backend: unknown;
  attrs?: Record<string, unknown>;
}

const at = (backend: WasmBackendLike, t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;

export function layerNormKernel(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as WasmBackendLike;
  const { x, gamma, beta } = args.inputs as { x: tf.TensorInfo; gamma: tf.TensorInfo; beta: tf.TensorInfo };
  const d = x.shape[x.shape.length - 1]!;
  const rows = x.shape.reduce((p, s) => p * s, 1) / d;
  const y = backend.makeOutput([...x.shape], 'float32');
  const xhat = backend.makeOutput([...x.shape], 'float32');
  const rstd = backend.makeOutput([...x.shape.slice(0, -1), 1], 'float32');
  forwardFor(backend)!(at(backend, x), at(backend, gamma), at(backend, beta), at(backend, y), at(backend, xhat), at(backend, rstd), rows, d, (args.attrs as { epsilon: number }).epsilon);
  return [y, xhat, rstd];
}

export function layerNormGradKernel(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as WasmBackendLike;
  const { dy, xhat, rstd, gamma } = args.inputs as { dy: tf.TensorInfo; xhat: tf.TensorInfo; rstd: tf.TensorInfo; gamma: tf.TensorInfo };
  const d = dy.shape[dy.shape.length - 1]!;
  const rows = dy.shape.reduce((p, s) => p * s, 1) / d;
  const dx = backend.makeOutput([...dy.shape], 'float32');
  const dgamma = backend.makeOutput([d], 'float32');
  const dbeta = backend.makeOutput([d], 'float32');
  backwardFor(backend)!(at(backend, dy), at(backend, xhat), at(backend, rstd), at(backend, gamma), at(backend, dx), at(backend, dgamma), at(backend, dbeta), rows, d);
  return [dx, dgamma, dbeta];
}
