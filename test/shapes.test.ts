import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { LAYER_CASES } from './layer-cases.js';

for (const [name, make, input, kwargs] of LAYER_CASES) {
  it(`${name}: computeOutputShape matches the real output shape`, () => {
    const layer = make();
    const inputs = input();
    const out = layer.apply(inputs, kwargs) as tf.Tensor | tf.Tensor[];
    const shapes = (Array.isArray(inputs) ? inputs : [inputs]).map((t) => t.shape);
    const predicted = layer.computeOutputShape(shapes.length === 1 ? shapes[0]! : shapes);
    const real = Array.isArray(out) ? out.map((t) => t.shape) : out.shape;
    expect(predicted).toEqual(real);
    tf.dispose([inputs, out]);
    layer.dispose();
  });
}
