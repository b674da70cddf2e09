import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createModel, setBackend, type Example, type Model, type ModelConfigInput, type Objective } from '../src/index.js';
import { createStepper, defaultStepperKind, DeviceStepper, FlatAdamStepper, ParallelStepper, lossValue, type StepInput, type Stepper } from '../src/train/stepper.js';
import { rng } from './helpers.js';

const ids = { pad: 0, bos: 1, eos: 2 };
const MASK = 3;
const block = { dModel: 16, numHeads: 2, dFF: 24, maxLen: 16, dropout: 0 };

/** Random examples of each objective (ids 4…11 are ordinary tokens; 3 stands for [MASK]). */
function examples(objective: Objective, n: number, seed: number): Example[] {
  const random = rng(seed);
  const token = () => 4 + Math.floor(random() * 8);
  const tokens = (min: number, max: number) => Array.from({ length: min + Math.floor(random() * (max - min + 1)) }, token);
  return Array.from({ length: n }, () => {
    const seq = tokens(2, 7);
    switch (objective) {
      case 'seq2seq':
        return { src: [...seq, ids.eos], tgt: [...seq].reverse() };
      case 'lm': // a prompt (sometimes none), then its reversal
        return random() < 0.3 ? { src: [], tgt: seq } : { src: seq, tgt: [...seq].reverse() };
      case 'masked-lm': {
        const src = [ids.bos, ...seq, ids.eos];
        const tgt = src.map(() => ids.pad);
        for (let i = 1; i <= seq.length; i++) {
          if (random() < 0.35 || i === 1) {
            tgt[i] = src[i]!;
            src[i] = MASK;
          }
        }
        return { src, tgt };
      }
      case 'classify':
        return { src: [ids.bos, ...seq, ids.eos], tgt: [seq.filter((t) => t < 8).length % 3] };
    }
  });
}

const FAMILIES: [Objective, ModelConfigInput][] = [
  ['seq2seq', { ...block, srcVocabSize: 12, tgtVocabSize: 12, numEncoderLayers: 1, numDecoderLayers: 1 }],
  ['lm', { ...block, arch: 'decoder', vocabSize: 12, numLayers: 2 }],
  ['masked-lm', { ...block, arch: 'encoder', vocabSize: 12, numLayers: 2, numClasses: 3 }],
  ['classify', { ...block, arch: 'encoder', vocabSize: 12, numLayers: 1, numClasses: 3 }],
];

const weightsOf = (model: Model) => model.trainableWeights.flatMap((w) => Array.from(w.read().dataSync()));

/**
 * The weights other than the key biases. A key bias adds the same q·bk to every score of a query,
 * which softmax ignores: its true gradient is 0 and its computed one is rounding noise (~1e-9),
 * which Adam scales up to full steps of ±lr. Any change in rounding (the clipping scale, the
 * batch split between threads) moves it by that much, without changing any output.
 */
const weightsBesidesKeyBias = (model: Model) => model.namedWeights().filter(([path]) => !path.endsWith('/bk')).flatMap(([, w]) => Array.from(w.read().dataSync()));
/** The weights a config starts from with a seed. */
function initialWeights(config: ModelConfigInput, seed: number): number[] {
  const model = createModel(config, { seed });
  const w = weightsOf(model);
  model.dispose();
  return w;
}
const maxDiff = (a: readonly number[], b: readonly number[]) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

/** Step `stepper` through the given inputs; the losses. Checks that no step leaves a tensor behind. */
async function run(stepper: Stepper, inputs: StepInput[]): Promise<number[]> {
  const losses: number[] = [];
  for (const [i, input] of inputs.entries()) {
    const before = tf.memory().numTensors;
    losses.push(await lossValue(await stepper.step(input)));
    // tf.train.adam makes its moment variables at its first step; after that nothing stays.
    if (i > 0 || !(stepper instanceof DeviceStepper)) expect(tf.memory().numTensors, `step ${i + 1}`).toBe(before);
  }
  return losses;
}

function inputsFor(objective: Objective, steps: number, options: Partial<StepInput> = {}): StepInput[] {
  return Array.from({ length: steps }, (_, s) => ({
    objective,
    items: examples(objective, 12, 100 + s),
    ids,
    lr: 3e-3 * (s + 1),
    labelSmoothing: 0.1,
    clipNorm: 0,
    dropoutSeed: 4096 * (s + 1),
    ...options,
  }));
}

describe('steppers agree', () => {
  for (const [objective, config] of FAMILIES) {
    it(`flat Adam and tf.train.adam give the same weights bit for bit without clipping, and to 1e-6 with it [${objective}]`, async () => {
      await setBackend('wasm');
      for (const clipNorm of [0, 0.5]) {
        const a = createModel(config, { seed: 5 });
        const b = createModel(config, { seed: 5 });
        const flat = new FlatAdamStepper(a, 1);
        const device = new DeviceStepper(b, 1);
        // Dropout on: both seed their masks from the step's dropoutSeed, so the masks are the same too.
        const dropped = { ...config, dropout: 0.2 } as ModelConfigInput;
        const inputs = inputsFor(objective, 4, { clipNorm });
        const lossA = await run(flat, inputs);
        const lossB = await run(device, inputs);
        expect(maxDiff(weightsOf(a), initialWeights(config, 5))).toBeGreaterThan(1e-3);
        if (clipNorm === 0) {
          expect(lossA).toEqual(lossB);
          expect(weightsOf(a)).toEqual(weightsOf(b));
        } else {
          // Clipping: the norm is summed in float64 by the flat kernel and in float32 by tf ops, so the scale differs in its last bits.
          expect(maxDiff(lossA, lossB)).toBeLessThan(1e-5);
          expect(maxDiff(weightsBesidesKeyBias(a), weightsBesidesKeyBias(b))).toBeLessThan(1e-6);
        }
        // The saved optimizer states agree too (tf.train.adam's format for both).
        const [sa, sb] = [await flat.optimizer.getWeights(), await device.optimizer.getWeights()];
        expect(sa.map((w) => w.tensor.shape)).toEqual(sb.map((w) => w.tensor.shape));
        expect(maxDiff(sa.flatMap((w) => Array.from(w.tensor.dataSync())), sb.flatMap((w) => Array.from(w.tensor.dataSync())))).toBeLessThan(clipNorm === 0 ? 1e-12 : 1e-6);
        tf.dispose(sa.map((w) => w.tensor));
        tf.dispose(sb.map((w) => w.tensor).filter((t) => !(t instanceof tf.Variable)));
        await flat.dispose();
        await device.dispose();
        a.dispose();
        b.dispose();
        if (clipNorm === 0) {
          const c = createModel(dropped, { seed: 5 });
          const d = createModel(dropped, { seed: 5 });
          const [fc, dd] = [new FlatAdamStepper(c, 1), new DeviceStepper(d, 1)];
          expect(await run(fc, inputs.slice(0, 2))).toEqual(await run(dd, inputs.slice(0, 2)));
          expect(weightsOf(c)).toEqual(weightsOf(d));
          await fc.dispose();
          await dd.dispose();
          c.dispose();
          d.dispose();
        }
      }
    });
  }

  for (const [objective, config] of FAMILIES) {
    it(`the parallel stepper (this thread + a worker started from source) gives the flat stepper's losses and weights to 1e-5 [${objective}]`, async () => {
      await setBackend('wasm');
      const a = createModel(config, { seed: 6 });
      const b = createModel(config, { seed: 6 });
      const flat = new FlatAdamStepper(a, 1);
      const parallel = await ParallelStepper.start(b, 1, 2, 'wasm');
      try {
        expect(parallel.description).toBe('flat Adam, 2 threads');
        const inputs = inputsFor(objective, 3, { clipNorm: 1 });
        const lossA = await run(flat, inputs);
        const lossB = await run(parallel, inputs);
        expect(maxDiff(lossA, lossB)).toBeLessThan(1e-5);
        expect(maxDiff(weightsBesidesKeyBias(a), weightsBesidesKeyBias(b))).toBeLessThan(1e-5);
        expect(maxDiff(weightsOf(a), initialWeights(config, 6))).toBeGreaterThan(1e-3);
      } finally {
        await parallel.dispose();
        await flat.dispose();
        a.dispose();
        b.dispose();
      }
    });
  }
});

describe('a batch with nothing to score', () => {
  it('gives loss 0 on every stepper (not NaN), and moves no weight the first step', async () => {
    await setBackend('wasm');
    const config = FAMILIES[2]![1];
    // Masked-LM examples where no position was chosen: every target is padding.
    const items = examples('masked-lm', 6, 3).map((e) => ({ src: e.src, tgt: e.tgt.map(() => ids.pad) }));
    const input: StepInput = { objective: 'masked-lm', items, ids, lr: 1e-2, labelSmoothing: 0, clipNorm: 1 };
    for (const make of [(m: Model) => new FlatAdamStepper(m, 1), (m: Model) => new DeviceStepper(m, 1), (m: Model) => ParallelStepper.start(m, 1, 2, 'wasm')]) {
      const model = createModel(config, { seed: 2 });
      const stepper = await make(model);
      try {
        expect(await lossValue(await stepper.step(input)), stepper.description).toBe(0);
        expect(weightsOf(model)).toEqual(initialWeights(config, 2));
      } finally {
        await stepper.dispose();
        model.dispose();
      }
    }
  });
});

describe('choosing a stepper', () => {
  it('device Adam on GPU backends, flat Adam on several threads or one elsewhere', async () => {
    expect(defaultStepperKind('webgl', 4)).toBe('device');
    expect(defaultStepperKind('webgpu', 1)).toBe('device');
    expect(defaultStepperKind('wasm', 2)).toBe('parallel');
    expect(defaultStepperKind('cpu', 1)).toBe('flat');
    expect(defaultStepperKind('tensorflow', 2)).toBe('device');
    expect(defaultStepperKind('tensorflow-gpu', 1)).toBe('device');
    const model = createModel(FAMILIES[1]![1], { seed: 1 });
    const chosen = [
      await createStepper(model, { lr: 1e-3, backend: 'wasm', threads: 1 }),
      await createStepper(model, { lr: 1e-3, backend: 'wasm', threads: 1, kind: 'parallel' }),
      await createStepper(model, { lr: 1e-3, backend: 'wasm', threads: 2, kind: 'device' }),
      await createStepper(model, { lr: 1e-3, backend: 'webgl', threads: 1 }),
    ];
    expect(chosen.map((s) => s.description)).toEqual(['flat Adam, 1 thread', 'flat Adam, 1 thread', 'tf.train.adam on the device', 'tf.train.adam on the device']);
    for (const s of chosen) await s.dispose();
    // The flat kinds read tensors synchronously: refused on a device backend, with the way out.
    await expect(createStepper(model, { lr: 1e-3, backend: 'webgpu', threads: 1, kind: 'flat' })).rejects.toThrow('the flat stepper reads tensors synchronously, which webgpu cannot do well: use --stepper device (its default)');
    model.dispose();
  });
});
