import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { deserializeLayer, LAYER_CLASSES, ModelFormatError, serializeLayer, type AtencaoLayer } from '../src/index.js';
import { describeEachBackend, randomArray, rng } from './helpers.js';
import { LAYER_CASES as CASES } from './layer-cases.js';

const random = rng(6);

function outputs(layer: AtencaoLayer, input: tf.Tensor | tf.Tensor[], kwargs?: Record<string, unknown>): number[][] {
  const out = layer.apply(input, kwargs) as tf.Tensor | tf.Tensor[];
  const list = Array.isArray(out) ? out : [out];
  const values = list.map((t) => Array.from(t.dataSync()));
  tf.dispose(list);
  return values;
}

describeEachBackend('serialization', () => {
  for (const [name, make, input, kwargs] of CASES) {
    it(`${name}: getConfig → JSON → fromConfig gives a layer with identical outputs`, () => {
      const layer = make();
      const inputs = input();
      outputs(layer, inputs, kwargs); // builds
      for (const [, v] of layer.namedWeights()) {
        const t = tf.tensor(randomArray(v.shape as number[], random) as number[], v.shape as number[]);
        v.write(t);
        t.dispose();
      }
      const expected = outputs(layer, inputs, kwargs);

      const json = JSON.stringify(serializeLayer(layer));
      const copy = deserializeLayer(JSON.parse(json));
      expect(copy.constructor).toBe(layer.constructor);
      expect(copy.getConfig()).toEqual(layer.getConfig());
      outputs(copy, inputs, kwargs); // builds
      expect(copy.namedWeights().map(([p, v]) => [p, v.shape])).toEqual(layer.namedWeights().map(([p, v]) => [p, v.shape]));
      const weights = layer.getWeights();
      copy.setWeights(weights);
      expect(outputs(copy, inputs, kwargs)).toEqual(expected);
      tf.dispose(inputs);
      layer.dispose();
      copy.dispose();
    });
  }
});

it('every layer class is registered with tfjs under its className', () => {
  const map = tf.serialization.SerializationMap.getMap().classNameMap;
  for (const [name, cls] of Object.entries(LAYER_CLASSES)) {
    expect((cls as { className: string }).className).toBe(name);
    expect(map[name]?.[0]).toBe(cls);
  }
});

it('an unknown layer class gives a clear ModelFormatError', () => {
  const run = () => deserializeLayer({ className: 'MultiHeadAtention', config: {} });
  expect(run).toThrow(ModelFormatError);
  expect(run).toThrow(
    "unknown layer class 'MultiHeadAtention' (known: QKVProjection, MultiHeadAttention, FeedForward, LayerNorm, PositionalEncoding, TokenEmbedding, EncoderLayer, DecoderLayer, Encoder, Decoder, DecoderOnly, EncoderOnly, Transformer)",
  );
});
