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

it('auto picks tfjs-node if it loads, else wasm, and says which it picked', async () => {
  const info = await setBackend('auto');
  if (await nativeInstalled()) {
    expect(info.name).toBe('tensorflow');
    expect(describeBackend(info)).toBe('backend: tensorflow (auto)');
  } else {
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.skipped).toEqual([
      {
        name: 'tensorflow',
        missing: true,
        reason: "backend 'tensorflow' is not installed: npm install @tensorflow/tfjs-node (it downloads libtensorflow, so it needs internet access)",
      },
    ]);
    expect(describeBackend(info)).toBe('backend: wasm (auto; passed over tensorflow: not installed)');
  }
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
  await expect(setBackend('webgpu' as never)).rejects.toThrow(
    new BackendError("unknown backend 'webgpu' (choose one of: auto, tensorflow, tensorflow-gpu, wasm, cpu)"),
  );
});
