import * as tf from '@tensorflow/tfjs';

/**
 * Cheaper copies of the tensors a gradient needs, on wasm.
 *
 * While it records a forward pass for backprop, the tfjs engine keeps a copy of every tensor some
 * gradient will read (its `saveTensorsForBackwardMode`): `clone`, which runs the Identity kernel
 * through the whole kernel machinery and adds a node to the tape — ~360 of them in a training
 * step of the small encoder–decoder, for copies that share their input's data anyway (the wasm
 * Identity kernel shares it, see wasm-kernels.ts). Here the copy is made directly: one more
 * reference to the same data and a tensor that owns it, kept until backprop frees it, exactly as
 * the clone is. No value changes; the tape loses nodes that backprop filters out anyway (a saved
 * copy is read by gradient functions, never used as an op's input).
 *
 * The same goes for the tensors a custom gradient (`tf.customGrad`: linear, LayerNorm, attention,
 * the loss) saves for its backward function, which the engine copies with the same `clone`: ~100
 * Identity calls and tape nodes per layer stack and step of the big decoder.
 *
 * Only first-order gradients take the short way: inside a gradient of a gradient the engine's own
 * clones (and their tape nodes) are kept, as higher-order backprop may need them.
 */

interface EngineInternals {
  backendName: string;
  backend: { incRef(dataId: object): void };
  state: { gradientDepth: number };
  keep<T extends tf.Tensor>(t: T): T;
  makeTensorFromTensorInfo(info: tf.TensorInfo): tf.Tensor;
  saveTensorsForBackwardMode(tensors: tf.Tensor[]): tf.Tensor[];
  /** The copy the two kinds of saves make (customGrad's `save` calls it directly). */
  clone(x: tf.Tensor): tf.Tensor;
  atencaoLeanSaves?: boolean;
}

let lean = true;

/** Turn the short way on or off (on by default once installed); returns the previous setting. */
export function setLeanSaves(on: boolean): boolean {
  const previous = lean;
  lean = on;
  return previous;
}

/** Install the short way on the engine (idempotent); it applies while the wasm backend is in use. */
export function installLeanSaves(): void {
  const engine = tf.engine() as unknown as EngineInternals;
  const stockSave = engine.saveTensorsForBackwardMode;
  const stockClone = engine.clone;
  if (engine.atencaoLeanSaves === true || typeof stockSave !== 'function' || typeof stockClone !== 'function') return;
  engine.atencaoLeanSaves = true;
  const short = (e: EngineInternals, tensors: tf.Tensor[]) => lean && e.backendName === 'wasm' && e.state.gradientDepth === 1 && tensors.every((t) => t.dtype !== 'string');
  // One more reference to t's data, in a tensor of its own (kept or not as the caller decides).
  const alias = (e: EngineInternals, t: tf.Tensor) => {
    e.backend.incRef(t.dataId);
    return e.makeTensorFromTensorInfo({ dataId: t.dataId, shape: t.shape, dtype: t.dtype });
  };
  engine.saveTensorsForBackwardMode = function (this: EngineInternals, tensors: tf.Tensor[]): tf.Tensor[] {
    if (!short(this, tensors)) return stockSave.call(this, tensors);
    return tensors.map((t) => this.keep(alias(this, t)));
  };
  engine.clone = function (this: EngineInternals, x: tf.Tensor): tf.Tensor {
    return short(this, [x]) ? alias(this, x) : stockClone.call(this, x);
  };
}
