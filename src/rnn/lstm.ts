import * as tf from '@tensorflow/tfjs';
import { AtencaoLayer, glorot, zeros, type Kwargs, type LayerArgs, type LayerVariable } from '../layers/base.js';
import { positiveInt } from '../layers/qkv-projection.js';

export interface LstmCellArgs extends LayerArgs {
  /** Width of the input x_t. */
  inputSize: number;
  /** Width of the hidden and cell states (units). */
  units: number;
}

/** The hidden and cell states of a batch, (B, units) each. */
export interface LstmState {
  h: tf.Tensor;
  c: tf.Tensor;
}

/**
 * One LSTM cell (Hochreiter & Schmidhuber 1997, with a forget gate), the same equations and gate
 * order (i, f, c, o) as tf.layers.lstmCell:
 *   [i f g o] = [x_t, h_{t−1}] · W + b
 *   c_t = σ(f) ⊙ c_{t−1} + σ(i) ⊙ tanh(g)
 *   h_t = σ(o) ⊙ tanh(c_t)
 * Its weights live in the model's named weights, so every stepper trains it like the transformer's.
 */
export class LstmCell extends AtencaoLayer {
  static className = 'LstmCell';
  readonly inputSize: number;
  readonly units: number;
  kernel!: LayerVariable;
  bias!: LayerVariable;

  constructor(args: LstmCellArgs) {
    super(args);
    this.inputSize = positiveInt('inputSize', args.inputSize);
    this.units = positiveInt('units', args.units);
  }

  override build(): void {
    const u = this.units;
    this.kernel = this.weight('kernel', [this.inputSize + u, 4 * u], glorot());
    // Forget gates start open (bias 1), as tf.layers' unitForgetBias: gradients reach far back from the start.
    this.bias = this.weight('bias', [4 * u], zeros());
    const start = tf.concat([tf.zeros([u]), tf.ones([u]), tf.zeros([2 * u])]);
    this.bias.write(start);
    start.dispose();
    this.built = true;
  }

  /** One time step: x (B, inputSize) and the previous state → the next state. */
  step(x: tf.Tensor, state: LstmState): LstmState {
    return tf.tidy(() => {
      const z = tf.add(tf.matMul(tf.concat([x, state.h], 1), this.kernel.read()), this.bias.read()); // (B, in + u)·(in + u, 4u) → (B, 4u)
      const [i, f, g, o] = tf.split(z, 4, 1); // (B, u) each
      const c = tf.add(tf.mul(tf.sigmoid(f!), state.c), tf.mul(tf.sigmoid(i!), tf.tanh(g!)));
      const h = tf.mul(tf.sigmoid(o!), tf.tanh(c));
      return { h, c };
    });
  }

  /** Zero states for a batch of B. */
  initialState(batch: number): LstmState {
    return { h: tf.zeros([batch, this.units]), c: tf.zeros([batch, this.units]) };
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor[] {
    const [x, h, c] = inputs as tf.Tensor[];
    const next = this.step(x!, { h: h!, c: c! });
    return [next.h, next.c];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), inputSize: this.inputSize, units: this.units };
  }
}
tf.serialization.registerClass(LstmCell);
