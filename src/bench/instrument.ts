import * as tf from '@tensorflow/tfjs';

interface EngineLike {
  state: { scopeStack: { name: string }[] };
}

/** True while the engine backpropagates (inside its 'backward' scope). */
function inBackward(): boolean {
  return (tf.engine() as unknown as EngineLike).state.scopeStack.some((s) => s.name === 'backward');
}

/**
 * Wrap every kernel of `backend` with a timer; returns the tally and a function that puts the
 * kernels back. Only calls from the engine are counted: a kernel that runs others inside it (the
 * fused attention runs the backend's Softmax, the fused loss its products, Exp and Log) counts once,
 * with their time in its own.
 */
export function instrumentKernels(backend: string): { tally: Map<string, { calls: number; ms: number }>; restore: () => void } {
  const tally = new Map<string, { calls: number; ms: number }>();
  const originals = tf.getKernelsForBackend(backend);
  let depth = 0;
  for (const config of originals) {
    const inner = config.kernelFunc;
    tf.unregisterKernel(config.kernelName, backend);
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => {
        const start = performance.now();
        depth++;
        try {
          return inner(args);
        } finally {
          depth--;
          // Inside another kernel, the call is part of that kernel's time.
          if (depth === 0) {
            const key = inBackward() ? `${config.kernelName} (backward)` : config.kernelName;
            const t = tally.get(key) ?? { calls: 0, ms: 0 };
            t.calls++;
            t.ms += performance.now() - start;
            tally.set(key, t);
          }
        }
      },
    });
  }
  const restore = () => {
    for (const config of originals) {
      tf.unregisterKernel(config.kernelName, backend);
      tf.registerKernel(config);
    }
  };
  return { tally, restore };
}
