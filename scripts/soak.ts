/**
 * Soak test: a long training run and many translations, watching tf.memory().numTensors and the
 * process's resident memory. Tensors must stay constant; memory must stop growing (under 10% over
 * the run, measured after a warm-up tenth). Default: 5,000 steps and 10,000 translations (about
 * 10 minutes); --fast: 300 and 1,000.
 *
 *   npx tsx scripts/soak.ts [--fast] [--out DIR]
 */
import * as tf from '@tensorflow/tfjs';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { generatePtEn, loadModel, startRun } from '../src/index.js';
import { section, startScript } from './common.js';

const ctx = await startScript('soak', 'Soak: tensors and memory over a long run');
const steps = ctx.fast ? 300 : 5000;
const translations = ctx.fast ? 1000 : 10_000;

interface Sample {
  at: number;
  tensors: number;
  rssMb: number;
}
const rss = () => process.memoryUsage().rss / 2 ** 20;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/**
 * Tensors must not change after the warm-up tenth. Resident memory swings with garbage collection
 * (tens of MB either way), so its growth compares medians: the last fifth of the run against the
 * fifth after the warm-up.
 */
function report(name: string, samples: Sample[]): boolean {
  const end = samples[samples.length - 1]!.at;
  const warm = samples.filter((s) => s.at >= end / 10);
  const early = median(warm.filter((s) => s.at < end * 0.3).map((s) => s.rssMb));
  const late = median(warm.filter((s) => s.at >= end * 0.8).map((s) => s.rssMb));
  const tensorsFlat = warm.every((s) => s.tensors === warm[0]!.tensors);
  const growth = (late - early) / early;
  console.log(
    `${name}: tensors ${warm[0]!.tensors} → ${warm[warm.length - 1]!.tensors} (${tensorsFlat ? 'constant' : 'CHANGED'}), ` +
      `RSS median ${early.toFixed(0)} → ${late.toFixed(0)} MB (${(100 * growth).toFixed(1)}%; range ${Math.min(...warm.map((s) => s.rssMb)).toFixed(0)}–${Math.max(...warm.map((s) => s.rssMb)).toFixed(0)} MB)`,
  );
  return tensorsFlat && (ctx.fast || growth < 0.1);
}

section(`Training ${steps} steps (copy task, small model)`);
const dir = join(ctx.out, 'model');
rmSync(dir, { recursive: true, force: true });
const trainSamples: Sample[] = [];
await startRun(
  {
    out: dir,
    data: { kind: 'task', task: 'copy', symbols: 10, minLen: 5, maxLen: 8 },
    model: { dModel: 32, numHeads: 4, numEncoderLayers: 1, numDecoderLayers: 1, dFF: 64, dropout: 0.1 },
    training: { steps, batchSize: 32, lr: 2e-3, warmup: 100, schedule: 'noam', labelSmoothing: 0.1, clip: 1, validEvery: Math.max(50, steps / 10), seed: 1 },
    backend: tf.getBackend(),
  },
  {
    info: () => undefined,
    warn: () => undefined,
    // Sampled just before each validation, at the same point of the loop every time.
    step: (e) => e.step % 50 === 49 && trainSamples.push({ at: e.step, tensors: tf.memory().numTensors, rssMb: rss() }),
  },
);
const trainOk = report('training', trainSamples);

section(`Translating ${translations} sentences one by one (the shipped pt-en model)`);
const sentences = generatePtEn({ seed: 3, size: 200, validSize: 1, testSize: 1 }).train.map((p) => p.source);
const translator = await loadModel(new URL('../models/pt-en', import.meta.url).pathname);
const translateSamples: Sample[] = [];
for (let i = 0; i < translations; i++) {
  await translator.translate(sentences[i % sentences.length]!, { beam: i % 20 === 0 ? 4 : 1 });
  if (i % 100 === 99) translateSamples.push({ at: i, tensors: tf.memory().numTensors, rssMb: rss() });
}
translator.dispose();
const translateOk = report('translation', translateSamples);
ctx.save('soak.json', JSON.stringify({ steps, translations, trainSamples, translateSamples }, null, 1));
if (!trainOk || !translateOk) {
  console.log('\nFAILED: tensors or memory kept growing');
  process.exit(1);
}
console.log('\nOK: constant tensors' + (ctx.fast ? '' : ', memory growth under 10%'));
