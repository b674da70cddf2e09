import * as tf from '@tensorflow/tfjs';

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
    tensors.forEach((t, i) => flat.set(t.dataSync() as Float32Array, this.offsets[i]!));
  }

  /**
   * Assign the values in `flat` to the variables. They get copies: the cpu backend would otherwise
   * keep the shared array itself as the tensor's data, and the next update would change it in place.
   */
  scatter(flat: Float32Array, vars: readonly tf.Variable[]): void {
    vars.forEach((v, i) => {
      const t = tf.tensor(this.view(flat, i).slice(), this.shapes[i]);
      v.assign(t);
      t.dispose();
    });
  }
}
