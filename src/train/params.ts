import type * as tf from '@tensorflow/tfjs';
import { overwrite, readInto } from '../ops/in-place.js';

/** Where each trainable weight sits in the flat parameter vector. */
export class ParamLayout {
  readonly offsets: number[];
  readonly size: number;

  constructor(
    readonly names: readonly string[],
    readonly shapes: readonly number[][],
  ) {
    let offset = 0;
    this.offsets = shapes.map((shape) => {
      const at = offset;
      offset += shape.reduce((a, b) => a * b, 1);
      return at;
    });
    this.size = offset;
  }

  static of(vars: readonly tf.Variable[]): ParamLayout {
    return new ParamLayout(
      vars.map((v) => v.name),
      vars.map((v) => [...v.shape]),
    );
  }

  /** The slice of `flat` that holds weight i. */
  view(flat: Float32Array, i: number): Float32Array {
    return flat.subarray(this.offsets[i]!, this.offsets[i + 1] ?? this.size);
  }

  /** Copy tensors (one per weight, in layout order) into `flat`. */
  gather(tensors: readonly tf.Tensor[], flat: Float32Array): void {
    tensors.forEach((t, i) => readInto(t, flat, this.offsets[i]!));
  }

  /** Write the values in `flat` into the variables (in their own memory where the backend allows). */
  scatter(flat: Float32Array, vars: readonly tf.Variable[]): void {
    vars.forEach((v, i) => overwrite(v, this.view(flat, i)));
  }
}

/**
 * Whether a flat weight vector still holds what the variables hold: true when none of them has
 * been assigned since `record` (an assignment gives a variable new data; the in-place writes of
 * `scatter` do not), so the next step can skip reading every weight back.
 */
export class WeightSync {
  private dataIds?: object[];

  record(vars: readonly tf.Variable[]): void {
    this.dataIds = vars.map((v) => v.dataId);
  }

  current(vars: readonly tf.Variable[]): boolean {
    const ids = this.dataIds;
    return ids !== undefined && ids.length === vars.length && vars.every((v, i) => v.dataId === ids[i]);
  }
}
