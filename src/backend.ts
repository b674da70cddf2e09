import * as tf from '@tensorflow/tfjs';
import { BackendError } from './errors.js';
import { describeAdapter, type GpuAdapter } from './gpu-adapter.js';
import { registerGradients } from './ops/gradients.js';
import { registerWasmKernels, registerWasmOverrides } from './ops/wasm-kernels.js';

export const BACKEND_NAMES = ['auto', 'tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
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
  /** For webgpu: the adapter it runs on. */
  adapter?: GpuAdapter;
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
  webgpu: {
    tfName: 'webgpu',
    pkg: '@tensorflow/tfjs-backend-webgpu',
    install: 'npm install webgpu @tensorflow/tfjs-backend-webgpu (and a GPU driver: see README, "Training on a GPU")',
  },
  wasm: {
    tfName: 'wasm',
    pkg: '@tensorflow/tfjs-backend-wasm',
    install: 'npm install @tensorflow/tfjs-backend-wasm',
  },
  cpu: { tfName: 'cpu', install: 'it is part of @tensorflow/tfjs' },
};

/**
 * The order `auto` tries: native TensorFlow (GPU build first), WebGPU on a hardware adapter, then
 * WebAssembly, then pure JavaScript. A software WebGPU adapter is slower than wasm: it runs only
 * when asked for by name.
 */
const AUTO_ORDER: ConcreteBackend[] = ['tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'];

/** Backends that keep tensors on a device: reads must be asynchronous and rare, steps stay there. */
export const DEVICE_BACKENDS: readonly ConcreteBackend[] = ['tensorflow-gpu', 'tensorflow', 'webgpu'];

// Speed without changing the layers: gradients that sum broadcasts with matrix products (every
// backend), and the kernels wasm lacks. The wasm kernel overrides follow when that backend starts.
registerGradients();
registerWasmKernels();

let current: BackendInfo | undefined;
/** The WebGPU adapter this process installed, once it has. */
let webgpuAdapter: GpuAdapter | undefined;

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
    const adapter = await activate(requested, false);
    current = { requested, name: requested, tfName: SPECS[requested].tfName, skipped: [], ...(adapter ? { adapter } : {}) };
    return current;
  }
  const skipped: BackendInfo['skipped'] = [];
  for (const name of AUTO_ORDER) {
    try {
      const adapter = await activate(name, true);
      current = { requested, name, tfName: SPECS[name].tfName, skipped, ...(adapter ? { adapter } : {}) };
      return current;
    } catch (err) {
      const missing = err instanceof BackendError && err.message.includes('is not installed');
      skipped.push({ name, reason: firstLine(err), missing });
    }
  }
  throw new BackendError(`no backend could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

/** What `listBackends` finds for one backend. */
export interface BackendStatus {
  name: ConcreteBackend;
  /** It started here. */
  available: boolean;
  /** Why not (with what to do), or for webgpu the adapter. */
  detail: string;
  adapter?: GpuAdapter;
}

/**
 * Start every backend in turn and say which work on this machine and why the others do not; also
 * which one `auto` picks. Leaves the last one tried active: call `setBackend` afterwards.
 */
export async function listBackends(): Promise<{ backends: BackendStatus[]; auto: ConcreteBackend | undefined }> {
  const backends: BackendStatus[] = [];
  for (const name of AUTO_ORDER) {
    try {
      const adapter = await activate(name, false);
      backends.push({ name, available: true, detail: adapter ? describeAdapter(adapter) : `starts (${SPECS[name].pkg ?? 'built in'})`, ...(adapter ? { adapter } : {}) });
    } catch (err) {
      backends.push({ name, available: false, detail: firstLine(err) });
    }
  }
  const auto = backends.find((b) => b.available && b.adapter?.software !== true)?.name;
  return { backends, auto };
}

/** The backend chosen by the last `setBackend` call, if any. */
export function currentBackend(): BackendInfo | undefined {
  return current;
}

/** One line for the user: which backend runs and, for `auto`, what was passed over. */
export function describeBackend(info: BackendInfo): string {
  const extra =
    info.requested === 'auto' && info.skipped.length > 0
      ? ` (auto; passed over ${info.skipped.map((s) => `${s.name}: ${s.missing ? 'not installed' : s.name === 'webgpu' ? (s.reason.includes('software') ? 'software adapter only' : 'no adapter') : 'failed to start'}`).join(', ')})`
      : info.requested === 'auto'
        ? ' (auto)'
        : '';
  const adapter = info.adapter === undefined ? '' : ` on ${describeAdapter(info.adapter)}`;
  return `backend: ${info.name}${adapter}${extra}`;
}

/** Whether training on this backend keeps its step on the device (no synchronous reads). */
export function isDeviceBackend(name: string): boolean {
  return (DEVICE_BACKENDS as readonly string[]).includes(name);
}

async function activate(name: ConcreteBackend, auto: boolean): Promise<GpuAdapter | undefined> {
  const spec = SPECS[name];
  const adapter = name === 'webgpu' ? await findAdapter(auto) : undefined;
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
  return adapter;
}

/**
 * The WebGPU adapter to run on, probed in a child process first (quiet, and cheap where no driver
 * exists). `auto` passes over software adapters; asked for by name, any adapter will do.
 */
async function findAdapter(auto: boolean): Promise<GpuAdapter> {
  // Found once per process: switching back to webgpu later (the bench, the tests) probes nothing again.
  if (webgpuAdapter !== undefined && !(auto && webgpuAdapter.software)) return webgpuAdapter;
  // Node only (child processes, Dawn): loaded when WebGPU is asked for.
  const { installWebGpu, probeGpu } = await import('./gpu.js');
  const probe = probeGpu();
  if ('reason' in probe) throw new BackendError(probe.missing ? `backend 'webgpu' is not installed: ${SPECS.webgpu.install}` : `webgpu: ${probe.reason}`);
  if (auto && probe.adapter.software) throw new BackendError(`webgpu: only a software adapter (${describeAdapter(probe.adapter)}), slower than wasm; ask for it with --backend webgpu`);
  try {
    webgpuAdapter = await installWebGpu();
    return webgpuAdapter;
  } catch (err) {
    const missing = firstLine(err).includes('is not installed');
    throw new BackendError(missing ? `backend 'webgpu' is not installed: ${SPECS.webgpu.install}` : `webgpu: ${firstLine(err)}`, { cause: err });
  }
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
