import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { BackendError, describeBackend, setBackend } from '../src/index.js';

/** Whether the native backend installed on this machine (it needs a download at install time). */
async function nativeInstalled(): Promise<boolean> {
  try {
    await import('@tensorflow/tfjs-node' as string);
    return true;
  } catch {
    return false;
  }
}

it('selects cpu and wasm by name', async () => {
  for (const name of ['cpu', 'wasm'] as const) {
    const info = await setBackend(name);
    expect(info).toEqual({ requested: name, name, tfName: name, skipped: [] });
    expect(tf.getBackend()).toBe(name);
    expect(describeBackend(info)).toBe(`backend: ${name}`);
  }
});

it('auto picks native TensorFlow if it loads, else WebGPU on a hardware adapter, else wasm, and says why', async () => {
  const info = await setBackend('auto');
  if (await nativeInstalled()) {
    expect(info.name).toBe('tensorflow');
    return;
  }
  if (info.name === 'webgpu') {
    // Only a hardware adapter is picked on its own.
    expect(info.adapter?.software).toBe(false);
    return;
  }
  expect(info.name).toBe('wasm');
  expect(tf.getBackend()).toBe('wasm');
  expect(info.skipped.slice(0, 2)).toEqual([
    {
      name: 'tensorflow-gpu',
      missing: true,
      reason: "backend 'tensorflow-gpu' is not installed: npm install @tensorflow/tfjs-node-gpu (Linux with CUDA; it downloads libtensorflow)",
    },
    {
      name: 'tensorflow',
      missing: true,
      reason: "backend 'tensorflow' is not installed: npm install @tensorflow/tfjs-node (it downloads libtensorflow, so it needs internet access)",
    },
  ]);
  const webgpu = info.skipped[2]!;
  expect(webgpu.name).toBe('webgpu');
  // Here: no adapter at all, or only a software one (SwiftShader, lavapipe), which auto passes over.
  expect(webgpu.reason).toMatch(/^webgpu: (no WebGPU adapter|only a software adapter)|^backend 'webgpu' is not installed/);
  expect(describeBackend(info)).toMatch(/^backend: wasm \(auto; passed over tensorflow-gpu: not installed, tensorflow: not installed, webgpu: (no adapter|software adapter only|not installed)\)$/);
});

it('asking for a backend that is not installed names how to install it', async () => {
  if (await nativeInstalled()) return;
  await expect(setBackend('tensorflow')).rejects.toThrow(
    new BackendError("backend 'tensorflow' is not installed: npm install @tensorflow/tfjs-node (it downloads libtensorflow, so it needs internet access)"),
  );
  await expect(setBackend('tensorflow-gpu')).rejects.toThrow(
    "backend 'tensorflow-gpu' is not installed: npm install @tensorflow/tfjs-node-gpu (Linux with CUDA; it downloads libtensorflow)",
  );
});

it('an unknown backend name is a BackendError listing the choices', async () => {
  await expect(setBackend('webgl' as never)).rejects.toThrow(
    new BackendError("unknown backend 'webgl' (choose one of: auto, tensorflow-gpu, tensorflow, webgpu, wasm, cpu)"),
  );
});
