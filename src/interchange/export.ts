import { basename, dirname, extname, join } from 'node:path';
import { compactConfig } from '../config.js';
import { UsageError } from '../errors.js';
import { writeFileCreatingDir } from '../io/atomic.js';
import type { Model } from '../model/model.js';
import { exportOnnx, OPSET, type OnnxPart } from './onnx-export.js';
import { encodeSafetensors, type TensorToWrite } from './safetensors.js';

export const EXPORT_FORMATS = ['safetensors', 'onnx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * The safetensors name of an atencao weight: its path with dots ("decoder/layer_0/feed_forward/w1"
 * → "decoder.layer_0.feed_forward.w1"), the way PyTorch names parameters.
 */
export function safetensorsName(path: string): string {
  return path.replaceAll('/', '.');
}

/**
 * All weights of a model as one safetensors file (float32), named by `safetensorsName`, with the
 * config in the metadata ("atencao_config"). Every matrix is stored as atencao multiplies it,
 * x (…, in) · W (in, out): a `torch.nn.Linear` takes W transposed.
 */
export async function exportSafetensors(model: Model): Promise<Uint8Array> {
  const tensors: TensorToWrite[] = [];
  for (const [path, v] of model.namedWeights()) {
    tensors.push({ name: safetensorsName(path), shape: v.shape as number[], values: (await v.read().data()) as Float32Array });
  }
  return encodeSafetensors(tensors, {
    format: 'pt',
    atencao_config: JSON.stringify(compactConfig(model.config)),
    atencao_layout: 'matrices are (in, out): y = x @ W + b; torch.nn.Linear.weight = W.T',
  });
}

export interface ExportedFile {
  path: string;
  bytes: number;
  role: string;
  inputs?: string[];
  outputs?: string[];
}

/**
 * Write a model in another format, each file atomically: safetensors (one file at `out`) or ONNX
 * (`out` holds the full forward pass; generating families add OUT.encoder.onnx and
 * OUT.decoder-step.onnx beside it).
 */
export async function exportModel(model: Model, format: ExportFormat, out: string): Promise<ExportedFile[]> {
  if (!EXPORT_FORMATS.includes(format)) throw new UsageError(`--format ('${String(format)}') must be one of ${EXPORT_FORMATS.join(', ')}`);
  if (format === 'safetensors') {
    const bytes = await exportSafetensors(model);
    writeFileCreatingDir(out, bytes);
    return [{ path: out, bytes: bytes.length, role: 'weights' }];
  }
  const parts = await exportOnnx(model);
  return parts.map((p) => {
    const path = onnxPath(out, p);
    writeFileCreatingDir(path, p.bytes);
    return { path, bytes: p.bytes.length, role: `${p.role} (opset ${OPSET})`, inputs: p.inputs, outputs: p.outputs };
  });
}

function onnxPath(out: string, part: OnnxPart): string {
  if (part.role === 'model') return out;
  const ext = extname(out) || '.onnx';
  return join(dirname(out), `${basename(out, extname(out))}.${part.role}${ext}`);
}
