import type * as tf from '@tensorflow/tfjs';
import { DROPOUT_WASM } from './dropout-wasm.js';
import { wasmExport, type WasmMemoryOwner } from './instance.js';

/**
 * The dropout mask as a kernel of the wasm backend (no inputs): `dropoutMask(size, rate, seed)`
 * (ops/dropout.ts) written by dropout.wat straight into the backend's memory, four draws at a time,
 * instead of drawn in JavaScript and copied in. Where wasm SIMD is missing the values are drawn in
 * JavaScript.
 */
export const DROPOUT_MASK = 'AtencaoDropoutMask';

export interface DropoutMaskAttrs {
  shape: number[];
  rate: number;
  seed: number;
}

interface WasmBackendLike extends WasmMemoryOwner {
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: tf.backend_util.BackendValues): tf.TensorInfo;
}

type Mask = (out: number, n: number, seed: number, threshold: number, scale: number) => void;

const kernelFor = wasmExport<Mask>(DROPOUT_WASM, 'mask');
/** out = x·mask, or r + x·mask where r (a byte offset) is not 0. */
const applyFor = wasmExport<(x: number, out: number, n: number, seed: number, threshold: number, scale: number, r: number) => void>(DROPOUT_WASM, 'apply');

/**
 * The scale 1/(1 − rate) and the unsigned 32-bit draw below which an entry is kept: draws u with
 * u < (1 − rate)·2³² are the integers u < ⌈(1 − rate)·2³²⌉. Null when every draw would be kept.
 */
export function maskConstants(rate: number): { scale: number; threshold: number } | null {
  const keep = 1 - rate;
  const threshold = Math.ceil(keep * 4294967296);
  return threshold >= 4294967296 ? null : { scale: Math.fround(1 / keep), threshold };
}

export function dropoutMaskKernel(args: { backend: unknown; attrs: DropoutMaskAttrs }, jsMask: (size: number, rate: number, seed: number) => Float32Array): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const { shape, rate, seed } = args.attrs;
  const size = shape.reduce((p, d) => p * d, 1);
  const mask = kernelFor(backend);
  const constants = maskConstants(rate);
  if (mask === null || constants === null) return backend.makeOutput(shape, 'float32', undefined, jsMask(size, rate, seed));
  const out = backend.makeOutput(shape, 'float32');
  mask(backend.dataIdMap.get(out.dataId)!.memoryOffset, size, seed | 0, constants.threshold | 0, constants.scale);
  return out;
}

/**
 * `AtencaoDropout` on wasm: x times the mask `dropoutMask(size, rate, seed)` would give, drawn as it
 * is used (dropout.wat `apply`), so no mask tensor is made or kept: the gradient runs the same
 * kernel on dy with the same seed. Input x (float32), attrs rate and seed. The caller checks
 * `maskConstants(rate)` is not null (a rate so small that every draw is kept has no threshold).
 * With a second input `residual` of x's shape, the output is residual + x·mask (the residual
 * connection around a sublayer's dropout, as tf.add(residual, dropout(x)) computes it).
 */
export const DROPOUT = 'AtencaoDropout';

export interface DropoutAttrs {
  rate: number;
  seed: number;
}

export function dropoutKernelRuns(): boolean {
  return WebAssembly.validate(DROPOUT_WASM);
}

export function dropoutKernel(args: { inputs: { x?: tf.TensorInfo; residual?: tf.TensorInfo }; backend: unknown; attrs?: unknown }): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const x = args.inputs.x!;
  const residual = args.inputs.residual;
  const { rate, seed } = args.attrs as DropoutAttrs;
  const constants = maskConstants(rate)!;
  const out = backend.makeOutput(x.shape, 'float32');
  const size = x.shape.reduce((p, d) => p * d, 1);
  const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  if (size > 0) applyFor(backend)!(at(x), at(out), size, seed | 0, constants.threshold | 0, constants.scale, residual === undefined ? 0 : at(residual));
  return out;
}
