import * as tf from '@tensorflow/tfjs';

export type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
export type Kwargs = Record<string, unknown>;
export type Shape = (number | null)[];
export type LayerVariable = tf.LayerVariable;
export type Initializer = ReturnType<typeof tf.initializers.zeros>;

/**
 * What every layer's `forward()` returns: its output and, for layers that attend and when asked
 * for, their attention weights. `forward` is the typed way to call a layer on tensors; `apply` and
 * `call` remain for TF.js (model.json topologies) and route to it.
 */
export interface LayerOutput<W = never> {
  output: tf.Tensor;
  weights?: W;
}

/**
 * Base of every atencao layer: a `tf.layers.Layer` that can own child layers. Children are built
 * explicitly by their parent (shapes are known from the config), their weights count as the parent's
 * weights, and `namedWeights()` gives each weight a stable path ("encoder/layer_0/self_attention/wq")
 * that does not depend on how many layers the process created before.
 */
export abstract class AtencaoLayer extends tf.layers.Layer {
  private readonly children: [string, AtencaoLayer][] = [];
  private readonly ownWeights: [string, LayerVariable][] = [];
  private readonly constants: tf.Tensor[] = [];
  private disposed = false;
  /** Path of this layer inside its root ("decoder/layer_0/"), the prefix of its weights' names. */
  private pathPrefix = '';

  /** Adopt a child layer under `name` (its weights become part of this layer's weights). */
  protected child<L extends AtencaoLayer>(name: string, layer: L): L {
    this.children.push([name, layer]);
    layer.setPathPrefix(`${this.pathPrefix}${name}/`);
    return layer;
  }

  private setPathPrefix(prefix: string): void {
    this.pathPrefix = prefix;
    for (const [name, c] of this.children) c.setPathPrefix(`${prefix}${name}/`);
  }

  /** Build a child now, with a known input shape. */
  protected buildChild(layer: AtencaoLayer, inputShape: Shape | Shape[]): void {
    if (!layer.built) {
      layer.build(inputShape as tf.Shape | tf.Shape[]);
      layer.built = true;
    }
  }

  /**
   * Create a float32 weight. Its variable is named by its full path, so a model's weight names are
   * unique and stable, which lets `tf.loadLayersModel` match saved weights to variables by name.
   */
  protected weight(name: string, shape: number[], initializer: Initializer, trainable = true): LayerVariable {
    const variable = this.addWeight(`${this.pathPrefix}${name}`, shape, 'float32', initializer, undefined, trainable);
    this.ownWeights.push([name, variable]);
    return variable;
  }

  /** Keep a constant tensor (e.g. a position table) alive until the layer is disposed. */
  protected constant<T extends tf.Tensor>(tensor: T): T {
    const kept = tf.keep(tensor);
    this.constants.push(kept);
    return kept;
  }

  /** Every weight of this layer and its children, with its path. */
  namedWeights(prefix = ''): [string, LayerVariable][] {
    const own = this.ownWeights.map(([n, v]): [string, LayerVariable] => [prefix + n, v]);
    const nested = this.children.flatMap(([n, c]) => c.namedWeights(`${prefix}${n}/`));
    return [...own, ...nested];
  }

  override get trainableWeights(): LayerVariable[] {
    return [...super.trainableWeights, ...this.children.flatMap(([, c]) => c.trainableWeights)];
  }
  override set trainableWeights(weights: LayerVariable[]) {
    super.trainableWeights = weights;
  }
  override get nonTrainableWeights(): LayerVariable[] {
    return [...super.nonTrainableWeights, ...this.children.flatMap(([, c]) => c.nonTrainableWeights)];
  }
  override set nonTrainableWeights(weights: LayerVariable[]) {
    super.nonTrainableWeights = weights;
  }

  /** Number of trainable scalars. */
  countTrainableParams(): number {
    return this.trainableWeights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
  }

  /** Free the weights and constants of this layer and all its children (idempotent). */
  override dispose(): ReturnType<tf.layers.Layer['dispose']> {
    let numDisposedVariables = 0;
    if (!this.disposed) {
      this.disposed = true;
      for (const [, v] of this.ownWeights) v.dispose();
      numDisposedVariables += this.ownWeights.length;
      for (const t of this.constants) t.dispose();
      for (const [, c] of this.children) numDisposedVariables += c.dispose().numDisposedVariables;
    }
    return { refCountAfterDispose: 0, numDisposedVariables };
  }

  get isDisposed(): boolean {
    return this.disposed;
  }
}

export { dropout } from '../ops/dropout.js';

/** The last dimension of a shape, which must be known. */
export function lastDim(shape: Shape, what: string): number {
  const d = shape[shape.length - 1];
  if (d == null) throw new Error(`${what}: the last dimension of the input must be known`);
  return d;
}

let nextSeed: (() => number) | undefined;

/**
 * Run `build` with weight initialisers seeded from `seed`, so the same seed gives the same weights.
 * Seeds are drawn in the order weights are created, which the layers fix.
 */
export function withInitSeed<T>(seed: number, build: () => T): T {
  const previous = nextSeed;
  let state = (Math.abs(Math.floor(seed)) % 2147483647) || 1;
  nextSeed = () => (state = (state * 48271) % 2147483647); // Park–Miller, enough to spread seeds
  try {
    return build();
  } finally {
    nextSeed = previous;
  }
}

export const glorot = (): Initializer => tf.initializers.glorotUniform({ seed: nextSeed?.() });
export const normal = (stddev: number): Initializer =>
  tf.initializers.randomNormal({ stddev, seed: nextSeed?.() });
export const zeros = (): Initializer => tf.initializers.zeros();
export const ones = (): Initializer => tf.initializers.ones();
