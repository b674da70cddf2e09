import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { setBackend, type ConcreteBackend } from '../src/index.js';
import { expectClose } from './helpers.js';
import { analyticGradients, tinyBatch, tinyLoss, tinyModel } from './model-fixtures.js';

/** Forward logits and every weight's gradient on one backend, as plain arrays. */
async function runOn(backend: ConcreteBackend, overrides: Parameters<typeof tinyModel>[0]) {
  await setBackend(backend);
  const model = tinyModel(overrides, 21);
  const b = tinyBatch();
  const logits = tf.tidy(() =>
    Array.from(model.forward(tf.tensor2d(b.src, undefined, 'int32'), tf.tensor2d(b.tgtIn, undefined, 'int32')).dataSync()),
  );
  const grads = analyticGradients(model, () => tinyLoss(model));
  model.dispose();
  return { logits, grads };
}

for (const overrides of [{}, { activation: 'gelu' as const, normPlacement: 'post' as const, tieEmbeddings: true }]) {
  it(`wasm and cpu agree on outputs and gradients to 1e-4 (${JSON.stringify(overrides)})`, async () => {
    const cpu = await runOn('cpu', overrides);
    const wasm = await runOn('wasm', overrides);
    expect(cpu.logits.length).toBe(2 * 4 * 6);
    expectClose(wasm.logits, cpu.logits, 1e-4);
    expect([...wasm.grads.keys()]).toEqual([...cpu.grads.keys()]);
    for (const [path, g] of cpu.grads) {
      expect(g.some((x) => x !== 0), `${path} has a gradient`).toBe(true);
      expectClose(wasm.grads.get(path)!, g, 1e-4);
    }
  });
}
