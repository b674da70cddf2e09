import * as tf from '@tensorflow/tfjs';
import { BackendError } from './errors.js';
import { registerGradients } from './ops/gradients.js';
import { registerWasmKernels, registerWasmOverrides } from './ops/wasm-kernels.js';

export const BACKEND_NAMES = ['auto', 'tensorflow', 'tensorflow-gpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
/** A backend that actually runs (what `auto` resolves to). */
export type ConcreteBackend = Exclude<BackendName, 'auto'>;

export interface BackendInfo {
  /** What was asked for. */
  requested: BackendName;
  /** What runs now. */
  name: ConcreteBackend;
  /** The tfjs backend name (`tensorflow` for both native builds). */
  tfName: string;
  /** For `auto`: the backends tried first and why they were passed over. */
  skipped: { name: ConcreteBackend; reason: string; missing: boolean }[];
}

interface BackendSpec {
  tfName: string;
  /** npm package providing it (none for the built-in cpu backend). */
  pkg?: string;
  install: string;
}

const SPECS: Record<ConcreteBackend, BackendSpec> = {
  tensorflow: {
    tfName: 'tensorflow',
    pkg: '@tensorflow/tfjs-node',
    install: 'npm install @tensorflow/tfjs-node (it downloads libtensorflow, so it needs internet access)',
  },
  'tensorflow-gpu': {
    tfName: 'tensorflow',
    pkg: '@tensorflow/tfjs-node-gpu',
    install: 'npm install @tensorflow/tfjs-node-gpu (Linux with CUDA; it downloads libtensorflow)',
  },
  wasm: {
    tfName: 'wasm',
    pkg: '@tensorflow/tfjs-backend-wasm',
    install: 'npm install @tensorflow/tfjs-backend-wasm',
  },
  cpu: { tfName: 'cpu', install: 'it is part of @tensorflow/tfjs' },
};

/** The order `auto` tries: native TensorFlow, then WebAssembly, then pure JavaScript. */
const AUTO_ORDER: ConcreteBackend[] = ['tensorflow', 'wasm', 'cpu'];

// Speed without changing the layers: gradients that sum broadcasts with matrix products (every
// backend), and the kernels wasm lacks. The wasm kernel overrides follow when that backend starts.
registerGradients();
registerWasmKernels();

let current: BackendInfo | undefined;

/**
 * Choose and initialise the TensorFlow.js backend. `auto` picks tfjs-node if it loads, else wasm,
 * else cpu; `info.skipped` says why the earlier ones were passed over. Asking for a backend that is
 * not installed throws a `BackendError` naming the package to install.
 */
export async function setBackend(requested: BackendName = 'auto'): Promise<BackendInfo> {
  if (!(BACKEND_NAMES as readonly string[]).includes(requested)) {
    throw new BackendError(
      `unknown backend '${String(requested)}' (choose one of: ${BACKEND_NAMES.join(', ')})`,
    );
  }
  if (requested !== 'auto') {
    await activate(requested);
    current = { requested, name: requested, tfName: SPECS[requested].tfName, skipped: [] };
    return current;
  }
  const skipped: BackendInfo['skipped'] = [];
  for (const name of AUTO_ORDER) {
    try {
      await activate(name);
      current = { requested, name, tfName: SPECS[name].tfName, skipped };
      return current;
    } catch (err) {
      const missing = err instanceof BackendError && err.message.includes('is not installed');
      skipped.push({ name, reason: firstLine(err), missing });
    }
  }
  throw new BackendError(`no backend could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

/** The backend chosen by the last `setBackend` call, if any. */
export function currentBackend(): BackendInfo | undefined {
  return current;
}

/** One line for the user: which backend runs and, for `auto`, what was passed over. */
export function describeBackend(info: BackendInfo): string {
  const extra =
    info.requested === 'auto' && info.skipped.length > 0
      ? ` (auto; passed over ${info.skipped.map((s) => `${s.name}: ${s.missing ? 'not installed' : 'failed to start'}`).join(', ')})`
      : info.requested === 'auto'
        ? ' (auto)'
        : '';
  return `backend: ${info.name}${extra}`;
}

async function activate(name: ConcreteBackend): Promise<void> {
  const spec = SPECS[name];
  if (spec.pkg !== undefined) await loadPackage(name, spec);
  if (name === 'wasm') registerWasmOverrides();
  let ok: boolean;
  try {
    ok = await tf.setBackend(spec.tfName);
    await tf.ready();
  } catch (err) {
    throw new BackendError(`backend '${name}' failed to start: ${firstLine(err)}`, { cause: err });
  }
  if (!ok || tf.getBackend() !== spec.tfName) {
    throw new BackendError(`backend '${name}' failed to start (tfjs could not initialise '${spec.tfName}')`);
  }
  // The cpu backend prints a banner suggesting tfjs-node on first use; describeBackend says it better.
  if (name === 'cpu') (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
}

async function loadPackage(name: ConcreteBackend, spec: BackendSpec): Promise<void> {
  try {
    // A variable specifier keeps bundlers and the type checker from requiring optional packages.
    const pkg: string = spec.pkg!;
    await import(pkg);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
    const why = missing ? 'is not installed' : `could not load (${firstLine(err)})`;
    throw new BackendError(`backend '${name}' ${why}: ${spec.install}`, { cause: err });
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.trim();
}
