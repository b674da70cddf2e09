import * as tf from '@tensorflow/tfjs';
import { FlatAdamStepper } from '../train/stepper.js';
import { instrumentKernels } from './instrument.js';
import { benchBatch, benchModel, BENCH_IDS, type BenchArch, type BenchShape } from './train-speed.js';
import { median, round } from '../util/numbers.js';

/**
 * Where the time of a training step goes, kernel by kernel: every kernel of the active backend is
 * wrapped with a timer and a counter for the profiled steps, then restored. What the kernels do not
 * account for is tfjs's own bookkeeping (the tape, tensor records, tidy scopes) and the optimizer's
 * JavaScript around its SIMD loops.
 */

export interface KernelTime {
  /** Kernel name, with " (backward)" for calls made while backpropagating. */
  kernel: string;
  /** Calls per step. */
  calls: number;
  /** Milliseconds per step inside the kernel. */
  ms: number;
}

export interface StepProfile {
  kind: 'profile';
  config: string;
  arch: BenchArch;
  backend: string;
  /** Median milliseconds of a whole step (1 thread, flat Adam) while profiled. */
  msPerStep: number;
  /** Milliseconds per step inside kernels, and kernel calls per step. */
  kernelMs: number;
  kernelCalls: number;
  /** The forward pass's share of the calls (the rest is backprop). */
  forwardCalls: number;
  kernels: KernelTime[];
}

/** Profile `steps` training steps of one family and shape on the active backend (after `warmup` unprofiled ones). */
export async function profileTrainStep(name: string, shape: BenchShape, arch: BenchArch, steps = 5, warmup = 2): Promise<StepProfile> {
  const model = benchModel(shape, arch);
  const { objective, items } = benchBatch(shape, arch);
  const stepper = new FlatAdamStepper(model, 1e-3);
  const backend = tf.getBackend();
  const step = (i: number) => stepper.step({ objective, items, ids: BENCH_IDS, lr: 1e-3, labelSmoothing: 0, clipNorm: 0, dropoutSeed: 1000 + i });
  const times: number[] = [];
  try {
    for (let i = 0; i < warmup; i++) await step(i);
    const { tally, restore } = instrumentKernels(backend);
    try {
      for (let i = warmup; i < warmup + steps; i++) {
        const start = performance.now();
        await step(i);
        times.push(performance.now() - start);
      }
    } finally {
      restore();
    }
    const kernels = [...tally.entries()]
      .map(([kernel, t]) => ({ kernel, calls: round(t.calls / steps, 1), ms: round(t.ms / steps, 2) }))
      .sort((a, b) => b.ms - a.ms);
    const sum = (list: KernelTime[], key: 'calls' | 'ms') => round(list.reduce((s, k) => s + k[key], 0), 1);
    return {
      kind: 'profile',
      config: name,
      arch,
      backend,
      msPerStep: round(median(times), 1),
      kernelMs: sum(kernels, 'ms'),
      kernelCalls: sum(kernels, 'calls'),
      forwardCalls: sum(
        kernels.filter((k) => !k.kernel.endsWith('(backward)')),
        'calls',
      ),
      kernels,
    };
  } finally {
    await stepper.dispose();
    model.dispose();
  }
}

/** The profile as a table: the `top` costliest kernels, the rest summed. */
export function profileTable(p: StepProfile, top = 20): string {
  const lines = [`${p.config} ${p.arch} on ${p.backend}: ${p.msPerStep} ms/step, ${p.kernelMs} ms in ${p.kernelCalls} kernel calls (${p.forwardCalls} forward), ${round(p.msPerStep - p.kernelMs, 1)} ms outside kernels`];
  lines.push(`  ${'kernel'.padEnd(34)}${'calls'.padStart(8)}${'ms'.padStart(9)}${'share'.padStart(8)}`);
  const row = (k: string, calls: number, ms: number) => `  ${k.padEnd(34)}${String(calls).padStart(8)}${ms.toFixed(2).padStart(9)}${`${((100 * ms) / p.msPerStep).toFixed(1)}%`.padStart(8)}`;
  for (const k of p.kernels.slice(0, top)) lines.push(row(k.kernel, k.calls, k.ms));
  const rest = p.kernels.slice(top);
  if (rest.length > 0) lines.push(row(`(${rest.length} others)`, round(rest.reduce((s, k) => s + k.calls, 0), 1), rest.reduce((s, k) => s + k.ms, 0)));
  return `${lines.join('\n')}\n`;
}
