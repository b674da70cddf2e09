import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { createModel, setBackend, type ConcreteBackend, type Example, type Model, type ModelConfigInput, type Objective } from '../src/index.js';
import { describeAdapter } from '../src/gpu-adapter.js';
import { probeGpu } from '../src/gpu.js';
import { greedyDecodeScored } from '../src/infer/greedy.js';
import { saveModelFiles } from '../src/io/model-files.js';
import { loadModelFiles } from '../src/model/load-files.js';
import { DeviceStepper, lossValue, type StepInput } from '../src/train/stepper.js';
import { train, type StepEvent } from '../src/train/trainer.js';
import { rng } from './helpers.js';

/**
 * Backends that keep tensors on a device (WebGPU; native TensorFlow where it installed) against
 * the pure-JavaScript `cpu` backend: the same seed gives the same weights, the same steps give the
 * same losses, and nothing is read synchronously. Without a GPU, WebGPU runs on Chromium's
 * SwiftShader (a Vulkan driver on the CPU) when Debian's chromium package is installed; a machine
 * with neither skips these tests and says why in their name.
 */
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
if ((process.env.VK_ICD_FILENAMES ?? '') === '' && existsSync(SWIFTSHADER)) process.env.VK_ICD_FILENAMES = SWIFTSHADER;

const probe = probeGpu();
const webgpuSkip = 'reason' in probe ? probe.reason : undefined;
const nativeSkip = await import('@tensorflow/tfjs-node' as string).then(
  () => undefined,
  () => '@tensorflow/tfjs-node is not installed (its install downloads libtensorflow)',
);

const ids = { pad: 0, bos: 1, eos: 2 };
const block = { dModel: 16, numHeads: 2, dFF: 24, maxLen: 12, dropout: 0.1 };
const FAMILIES: [Objective, ModelConfigInput][] = [
  ['seq2seq', { ...block, srcVocabSize: 12, tgtVocabSize: 12, numEncoderLayers: 1, numDecoderLayers: 1 }],
  ['lm', { ...block, arch: 'decoder', vocabSize: 12, numLayers: 1 }],
  ['masked-lm', { ...block, arch: 'encoder', vocabSize: 12, numLayers: 1, numClasses: 3 }],
  ['classify', { ...block, arch: 'encoder', vocabSize: 12, numLayers: 1, numClasses: 3 }],
];

/** Random examples of an objective (ids 4…11 are ordinary tokens, 3 is [MASK]). */
function examples(objective: Objective, n: number, seed: number): Example[] {
  const random = rng(seed);
  const seq = () => Array.from({ length: 2 + Math.floor(random() * 4) }, () => 4 + Math.floor(random() * 8));
  return Array.from({ length: n }, () => {
    const s = seq();
    if (objective === 'seq2seq') return { src: [...s, ids.eos], tgt: [...s].reverse() };
    if (objective === 'lm') return { src: s, tgt: [...s].reverse() };
    if (objective === 'classify') return { src: [ids.bos, ...s, ids.eos], tgt: [s.length % 3] };
    const src = [ids.bos, ...s, ids.eos];
    const tgt = src.map((t, i) => (i === 1 ? t : ids.pad));
    src[1] = 3;
    return { src, tgt };
  });
}

const input = (objective: Objective, step: number): StepInput => ({
  objective,
  items: examples(objective, 6, 100 + step),
  ids,
  lr: 5e-3,
  labelSmoothing: 0.1,
  clipNorm: 0.5,
  dropoutSeed: 1000 * step,
});

async function weightsOf(model: Model): Promise<number[]> {
  const all = await Promise.all(model.trainableWeights.map((w) => w.read().data()));
  return all.flatMap((a) => Array.from(a));
}

/** Initial weights and the losses of three device-Adam steps (dropout and clipping on), on one backend. */
async function threeSteps(backend: ConcreteBackend, objective: Objective, config: ModelConfigInput): Promise<{ weights: number[]; losses: number[]; leaked: number }> {
  await setBackend(backend);
  const before = tf.memory().numTensors;
  const model = createModel(config, { seed: 5 });
  const stepper = new DeviceStepper(model, 5e-3);
  const weights = await weightsOf(model);
  const losses: number[] = [];
  for (let step = 1; step <= 3; step++) losses.push(await lossValue(await stepper.step(input(objective, step))));
  await stepper.dispose();
  model.dispose();
  return { weights, losses, leaked: tf.memory().numTensors - before };
}

const maxRelative = (a: readonly number[], b: readonly number[]) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!) / Math.max(1e-6, Math.abs(b[i]!))), 0);
const maxAbsolute = (a: readonly number[], b: readonly number[]) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

function agreesWithCpu(backend: ConcreteBackend) {
  for (const [objective, config] of FAMILIES) {
    it(`${objective}: same initial weights as cpu, and the losses of three Adam steps to 1e-4 (relative), with no tensor left`, async () => {
      const reference = await threeSteps('cpu', objective, config);
      const run = await threeSteps(backend, objective, config);
      expect(run.leaked).toBe(0);
      expect(run.weights.length).toBe(reference.weights.length);
      expect(maxAbsolute(run.weights, reference.weights)).toBe(0);
      expect(maxRelative(run.losses, reference.losses), `${run.losses} vs ${reference.losses}`).toBeLessThanOrEqual(1e-4);
    });
  }
}

afterAll(async () => {
  await setBackend('wasm');
});

describe.skipIf(webgpuSkip !== undefined)(`webgpu ${webgpuSkip === undefined ? `on ${'adapter' in probe ? describeAdapter(probe.adapter) : ''}` : `(skipped: ${webgpuSkip})`}`, () => {
  agreesWithCpu('webgpu');

  it('the training loop reads losses every few steps, reports each step, evaluates and decodes, and leaks nothing', async () => {
    await setBackend('webgpu');
    const before = tf.memory().numTensors;
    const [objective, config] = FAMILIES[1]!;
    const model = createModel(config, { seed: 2 });
    const stepper = new DeviceStepper(model, 1e-2);
    const events: StepEvent[] = [];
    const result = await train(
      model,
      stepper,
      {
        data: { batchAt: (step, size) => examples(objective, size, step) },
        valid: examples(objective, 4, 99),
        evaluation: { objective, ids },
        start: { step: 0, tokensSeen: 0, elapsedSeconds: 0 },
        steps: 5,
        batchSize: 6,
        schedule: { lr: 1e-2, warmup: 1, kind: 'constant' },
        labelSmoothing: 0,
        clipNorm: 1,
        validEvery: 5,
        seed: 1,
        readLossEvery: 2,
      },
      { onStep: (e) => events.push(e) },
    );
    expect(events.map((e) => e.step)).toEqual([1, 2, 3, 4, 5]);
    expect(events.every((e) => Number.isFinite(e.loss) && e.tokensPerSecond > 0)).toBe(true);
    expect(result.last?.exactMatch).toBeGreaterThanOrEqual(0); // greedy decoding ran, on the device
    await stepper.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('decoding with the key/value cache gives the full recompute to 1e-4 at every step (decoder and encoder–decoder)', async () => {
    await setBackend('webgpu');
    for (const [, config] of FAMILIES.slice(0, 2)) {
      const before = tf.memory().numTensors;
      const model = createModel({ ...config, dropout: 0 }, { seed: 4 });
      const prompt = [[...[5, 6, 7], ...(model.arch === 'decoder' ? [] : [ids.eos])]];
      const prompts = model.arch === 'decoder' ? [[ids.bos, 5, 6, 7]] : prompt;
      const cached = model.startGeneration!(prompts, { cache: true });
      const full = model.startGeneration!(prompts, { cache: false });
      const fed = [cached.first[0]!, 8, 9, 10, 11];
      for (const token of fed) {
        const a = cached.step([token]).logits;
        const b = full.step([token]).logits;
        expect(maxAbsolute(Array.from(await a.data()), Array.from(await b.data()))).toBeLessThanOrEqual(1e-4);
        tf.dispose([a, b]);
      }
      cached.dispose();
      full.dispose();
      model.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('a model trained on webgpu, saved and loaded on wasm, decodes the same tokens with the same scores (1e-4)', async () => {
    await setBackend('webgpu');
    const dir = mkdtempSync(join(tmpdir(), 'atencao-webgpu-'));
    const [objective, config] = FAMILIES[0]!;
    const sources = examples(objective, 3, 7).map((e) => e.src);
    try {
      const model = createModel(config, { seed: 8 });
      const stepper = new DeviceStepper(model, 2e-2);
      for (let step = 1; step <= 3; step++) await lossValue(await stepper.step(input(objective, step)));
      await saveModelFiles(dir, model);
      const onGpu = await greedyDecodeScored(model as Required<Model>, sources, ids, { maxLen: 6 });
      await stepper.dispose();
      model.dispose();
      await setBackend('wasm');
      const loaded = loadModelFiles(dir);
      const onWasm = await greedyDecodeScored(loaded as Required<Model>, sources, ids, { maxLen: 6 });
      loaded.dispose();
      expect(onWasm.map((r) => r.ids)).toEqual(onGpu.map((r) => r.ids));
      expect(maxAbsolute(onWasm.flatMap((r) => r.scores), onGpu.flatMap((r) => r.scores))).toBeLessThanOrEqual(1e-4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(nativeSkip !== undefined)(`tensorflow ${nativeSkip === undefined ? '(native)' : `(skipped: ${nativeSkip})`}`, () => {
  agreesWithCpu('tensorflow');
});
