import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { saveModelFiles } from '../src/io/model-files.js';
import { loadModelFiles } from '../src/model/load-files.js';
import type { Transformer } from '../src/model/transformer.js';
import { expectNoLeak } from './helpers.js';
import { tinyBatch, tinyModel } from './model-fixtures.js';

function logitsOf(run: (src: tf.Tensor, tgt: tf.Tensor) => tf.Tensor): number[] {
  const b = tinyBatch();
  return tf.tidy(() => Array.from(run(tf.tensor2d(b.src, undefined, 'int32'), tf.tensor2d(b.tgtIn, undefined, 'int32')).dataSync()));
}

it('model.json + weights.bin reload with identical outputs, by our loader and by tf.loadLayersModel', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atencao-model-'));
  const model = tinyModel({ tieEmbeddings: true }, 4);
  const expected = logitsOf((s, t) => model.forward(s, t));
  await saveModelFiles(dir, model);

  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  expect(json.format).toBe('layers-model');
  expect(json.weightsManifest[0].paths).toEqual(['./weights.bin']);
  expect(json.weightsManifest[0].weights.map((w: { name: string }) => w.name)).toContain('transformer/encoder/layer_0/self_attention/projection/wq');

  const loaded = loadModelFiles(dir) as Transformer;
  expect(loaded.config).toEqual(model.config);
  expect(logitsOf((s, t) => loaded.forward(s, t))).toEqual(expected);

  // The same files as a plain TF.js layers model: weights are matched by name.
  const weights = readFileSync(join(dir, 'weights.bin'));
  const layersModel = await tf.loadLayersModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights,
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
    }),
  });
  expect(logitsOf((s, t) => layersModel.predict([s, t]) as tf.Tensor)).toEqual(expected);
  layersModel.dispose();

  expectNoLeak(() => {
    const again = loadModelFiles(dir);
    again.dispose();
  });
  loaded.dispose();
  model.dispose();
});
