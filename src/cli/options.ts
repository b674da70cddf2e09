import { BACKEND_NAMES, describeBackend, setBackend, type BackendName, type BackendInfo } from '../backend.js';
import { UsageError } from '../errors.js';
import { writeFileCreatingDir } from '../io/atomic.js';
import { setRelaxedSimd } from '../ops/kernels/batch-matmul.js';

/** Shared flag checks: each failure is one line and exit code 2. */
export function positiveInt(flag: string, value: number | undefined): number | undefined {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) throw new UsageError(`--${flag} (${value}) must be a positive integer`);
  return value;
}

export function nonNegativeInt(flag: string, value: number | undefined): number | undefined {
  if (value !== undefined && (!Number.isInteger(value) || value < 0)) throw new UsageError(`--${flag} (${value}) must be a non-negative integer`);
  return value;
}

export function numberIn(flag: string, value: number | undefined, min: number, max: number, maxOpen = false): number | undefined {
  if (value === undefined) return undefined;
  const ok = Number.isFinite(value) && value >= min && (maxOpen ? value < max : value <= max);
  if (!ok) throw new UsageError(`--${flag} (${value}) must be in [${min}, ${max}${maxOpen ? ')' : ']'}`);
  return value;
}

export function positiveNumber(flag: string, value: number | undefined): number | undefined {
  if (value !== undefined && !(Number.isFinite(value) && value > 0)) throw new UsageError(`--${flag} (${value}) must be a positive number`);
  return value;
}

export const backendOption = {
  type: 'string',
  choices: BACKEND_NAMES as unknown as string[],
  default: 'auto',
  describe: 'TensorFlow.js backend (auto: tensorflow, else wasm, else cpu)',
} as const;

/** A command's report: to standard output, or to the file `--out` names (saying so on stderr). */
export function writeOutput(text: string, out: string | undefined): void {
  if (out === undefined) {
    process.stdout.write(text);
    return;
  }
  writeFileCreatingDir(out, text);
  process.stderr.write(`wrote ${out}\n`);
}

/** Start the backend and say which one runs (on stderr, so stdout stays clean for --json). */
export async function startBackend(name: string, quiet = false): Promise<BackendInfo> {
  const info = await setBackend(name as BackendName);
  if (!quiet) process.stderr.write(`${describeBackend(info)}\n`);
  return info;
}

/** `--relaxed-simd`: fused multiply-add products from now on, or one line when this runtime lacks them. */
export function useRelaxedSimd(): void {
  if (!setRelaxedSimd(true)) throw new UsageError('--relaxed-simd: this runtime has no relaxed SIMD (Node 20.16 or later, or a browser, has it)');
}
