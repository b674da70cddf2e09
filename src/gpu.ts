import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { withSoftware, type GpuAdapter } from './gpu-adapter.js';

/**
 * WebGPU in Node: npm `webgpu` (Google's Dawn) provides `navigator.gpu`, which
 * @tensorflow/tfjs-backend-webgpu looks for. Dawn needs a GPU driver (Vulkan on Linux, Metal on
 * macOS, D3D12 on Windows); a software Vulkan driver (SwiftShader, lavapipe) runs the same code on
 * the CPU, correct but slower than wasm.
 */

/** How a probe for an adapter ended: an adapter, or why there is none. */
export type GpuProbe = { adapter: GpuAdapter } | { reason: string; missing: boolean };

const require = createRequire(import.meta.url);

/** Where npm `webgpu` is installed, or undefined when it is not. */
function webgpuEntry(): string | undefined {
  try {
    return require.resolve('webgpu');
  } catch {
    return undefined;
  }
}

/** Dawn's Vulkan loader complains on stderr when XDG_RUNTIME_DIR is unset; give it a private one. */
function quietLoader(env: NodeJS.ProcessEnv): void {
  if (env.XDG_RUNTIME_DIR === undefined || env.XDG_RUNTIME_DIR === '') env.XDG_RUNTIME_DIR = mkdtempSync(join(tmpdir(), 'atencao-xdg-'));
}

/**
 * Ask for an adapter in a child process, so a machine without a usable driver costs ~0.2 s and
 * prints nothing (Dawn writes its driver complaints straight to stderr).
 */
export function probeGpu(): GpuProbe {
  const entry = webgpuEntry();
  if (entry === undefined) return { reason: 'npm package webgpu is not installed (npm install webgpu @tensorflow/tfjs-backend-webgpu)', missing: true };
  const script = `
    const { create } = await import(${JSON.stringify(pathToFileURL(entry).href)});
    const adapter = await create([]).requestAdapter();
    const i = adapter?.info;
    process.stdout.write(JSON.stringify(i ? { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description } : null));
    process.exit(0);`;
  const env = { ...process.env };
  quietLoader(env);
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env, timeout: 30_000 });
  if (run.status !== 0) return { reason: `the WebGPU probe failed (${run.error?.message ?? firstLine(run.stderr) ?? `exit ${run.status}`})`, missing: false };
  let info: Omit<GpuAdapter, 'software'> | null;
  try {
    info = JSON.parse(run.stdout.trim().split('\n').pop() ?? 'null') as Omit<GpuAdapter, 'software'> | null;
  } catch {
    return { reason: 'the WebGPU probe printed no adapter', missing: false };
  }
  if (info === null) {
    return { reason: `no WebGPU adapter (${process.platform === 'linux' ? 'no Vulkan driver that Dawn accepts' : 'no supported GPU driver'}; see README, "Training on a GPU")`, missing: false };
  }
  return { adapter: withSoftware(info) };
}

/**
 * Give this process `navigator.gpu` from Dawn (a browser or Deno already has one) and return the
 * adapter it offers. Throws with the reason when there is none.
 */
export async function installWebGpu(): Promise<GpuAdapter> {
  const g = globalThis as { navigator?: { gpu?: GpuLike } };
  if (g.navigator?.gpu === undefined) {
    const entry = webgpuEntry();
    if (entry === undefined) throw new Error('npm package webgpu is not installed (npm install webgpu @tensorflow/tfjs-backend-webgpu)');
    quietLoader(process.env);
    const dawn = (await import(pathToFileURL(entry).href)) as { create(flags: string[]): GpuLike; globals: object };
    Object.assign(globalThis, dawn.globals);
    const gpu = dawn.create([]);
    if (g.navigator === undefined) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    else Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  }
  const adapter = await g.navigator!.gpu!.requestAdapter();
  if (adapter === null) throw new Error('no WebGPU adapter (see README, "Training on a GPU")');
  return withSoftware(adapter.info);
}

interface GpuLike {
  requestAdapter(): Promise<{ info: Omit<GpuAdapter, 'software'> } | null>;
}

function firstLine(text: string | undefined): string | undefined {
  const line = text?.split('\n').find((l) => l.trim() !== '');
  return line?.trim();
}
