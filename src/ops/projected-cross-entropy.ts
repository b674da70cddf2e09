import * as tf from '@tensorflow/tfjs';
import { recordingHigherOrder, sumRows } from './gradients.js';
import { PROJECTED_CROSS_ENTROPY, type CrossEntropyAttrs } from './kernels/cross-entropy.js';

export interface ProjectedCrossEntropyOptions {
  /** Spread this much probability mass evenly over the vocabulary (0 = plain cross-entropy). */
  labelSmoothing?: number;
  /** The kernel is (V, d), a tied embedding table, used as its transpose. Default false. */
  transposed?: boolean;
  /** Rows projected at once. Default 256. */
  chunkRows?: number;
  /**
   * The loss is about to be differentiated (training): compute its gradients in the same pass and
   * keep them for backprop, rather than compute every chunk's logits again then. Either way the
   * gradients are the same; only the work differs. Default false.
   */
  eagerGradients?: boolean;
}

/**
 * The mean cross-entropy of the logits h·W + b (…, V) against target ids (…), over the targets
 * where `mask` is 1 — the loss of maskedCrossEntropy(project(hidden), targets, mask) — without ever
 * holding the logits of the whole batch: the rows go through the projection `chunkRows` at a time,
 * and a chunk's logits are freed before the next chunk's are made. Backprop computes them again,
 * or with `eagerGradients` the forward pass computes the gradients at once and keeps only those
 * (hidden's (N, d), the kernel's and the bias's); a gradient of a gradient always takes the former.
 * For a vocabulary of 4000 the logits take 16 kB a token, and their softmax, one-hot targets and
 * gradient as much again each: the largest tensors of a step on long batches.
 * Where the backend has it (wasm), the pass with `eagerGradients` is one kernel call
 * (kernels/cross-entropy.ts) in place of ~35 a chunk, with the same chunks and results to the bit.
 *
 * hidden (…, d); kernel (d, V), or (V, d) with `transposed`; bias (V); targets (…) ids; mask (…).
 * With label smoothing ε the target distribution is (1 − ε)·onehot + ε/V, so a row's loss is
 * lse(z) − (1 − ε)·z[t] − ε·mean(z), and its gradient for the logits softmax(z) − target.
 */
export function projectedCrossEntropy(hidden: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor, targets: tf.Tensor, mask: tf.Tensor, options: ProjectedCrossEntropyOptions = {}): tf.Scalar {
  const d = hidden.shape[hidden.rank - 1]!;
  const rows = hidden.size / d;
  const [ids, weights] = tf.tidy(() => {
    const m = tf.reshape(tf.cast(mask, 'float32'), [rows]);
    return [tf.reshape(tf.cast(targets, 'int32'), [rows]), tf.div(m, tf.maximum(tf.sum(m), 1))]; // (N), (N): each row's share of the mean
  });
  const pass = (h: tf.Tensor, w: tf.Tensor, b: tf.Tensor, ids: tf.Tensor, weights: tf.Tensor, scale?: tf.Tensor | number) => chunkedPass(h, w, b, ids, weights, scale, options);
  const loss = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [h, w, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    // The gradients computed here are constants to the tape: a gradient of this gradient (the
    // forward pass recorded at a higher order) takes the path that computes them from the inputs.
    if (options.eagerGradients === true && !recordingHigherOrder()) {
      const { value, grads } = fusedPassFits(h, w, b, options) ? fusedPass(h, w, b, ids, weights, 1, options) : pass(h, w, b, ids, weights, 1);
      save(grads!); // kept copies: the gradients of the loss itself, scaled by dy in backprop
      tf.dispose(grads!);
      return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => saved.map((g) => tf.mul(g, dy)) };
    }
    // ids and weights are freed once the forward returns: backprop reads the copies kept here.
    save([h, w, b, ids, weights]);
    return {
      value: pass(h, w, b, ids, weights).value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [hs, ws, bs, idsS, weightsS] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const { value, grads } = pass(hs, ws, bs, idsS, weightsS, dy);
        value.dispose();
        return grads!;
      },
    };
  });
  try {
    return tf.tidy(() => loss(tf.reshape(hidden, [rows, d]), kernel, bias) as tf.Scalar);
  } finally {
    tf.dispose([ids, weights]);
  }
}

/**
 * Whether the backend in use runs `chunkedPass` with gradients as one kernel
 * (kernels/cross-entropy.ts) for these operands: float32, consistent shapes, at least one row and
 * two words (elsewhere the ops below say what is wrong).
 */
function fusedPassFits(h: tf.Tensor, w: tf.Tensor, b: tf.Tensor, options: ProjectedCrossEntropyOptions): boolean {
  if (tf.getKernel(PROJECTED_CROSS_ENTROPY, tf.getBackend()) === undefined) return false;
  if ([h, w, b].some((t) => t.dtype !== 'float32') || h.rank !== 2 || w.rank !== 2 || b.rank !== 1) return false;
  const transposed = options.transposed ?? false;
  const chunkRows = options.chunkRows ?? 256;
  const [rows, d] = h.shape as [number, number];
  const vocab = w.shape[transposed ? 0 : 1]!;
  return rows > 0 && d > 0 && vocab >= 2 && w.shape[transposed ? 1 : 0] === d && b.shape[0] === vocab && Number.isInteger(chunkRows) && chunkRows > 0;
}

/** `chunkedPass` with gradients, in one kernel call: the same results to the bit. */
function fusedPass(h: tf.Tensor, w: tf.Tensor, b: tf.Tensor, ids: tf.Tensor, weights: tf.Tensor, scale: number, options: ProjectedCrossEntropyOptions): { value: tf.Scalar; grads: tf.Tensor[] } {
  const attrs: CrossEntropyAttrs = { labelSmoothing: options.labelSmoothing ?? 0, transposed: options.transposed ?? false, chunkRows: options.chunkRows ?? 256, scale };
  const [value, ...grads] = tf.engine().runKernel(PROJECTED_CROSS_ENTROPY, { h, w, b, ids, weights }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return { value: value as tf.Scalar, grads };
}

/**
 * The loss over the chunks of rows, and when `scale` is given the gradients of scale · loss for
 * h (N, d), the kernel and the bias. `weights` (N) is each row's share of the mean (0: unscored).
 */
function chunkedPass(h: tf.Tensor, w: tf.Tensor, b: tf.Tensor, ids: tf.Tensor, weights: tf.Tensor, scale: tf.Tensor | number | undefined, options: ProjectedCrossEntropyOptions): { value: tf.Scalar; grads?: tf.Tensor[] } {
  const eps = options.labelSmoothing ?? 0;
  const transposed = options.transposed ?? false;
  const chunkRows = options.chunkRows ?? 256;
  const [rows, d] = h.shape as [number, number];
  const vocab = w.shape[transposed ? 0 : 1]!;
  let value: tf.Tensor = tf.scalar(0);
  let dW: tf.Tensor | undefined;
  let db: tf.Tensor | undefined;
  const dh: tf.Tensor[] = [];
  for (let r0 = 0; r0 < rows; r0 += chunkRows) {
    const n = Math.min(chunkRows, rows - r0);
    const out = tf.tidy(() => {
      const hc = tf.slice(h, [r0, 0], [n, d]); // (n, d)
      const z = tf.add(tf.matMul(hc, w, false, transposed), b); // (n, d)·(d, V) + (V)
      const lse = tf.logSumExp(z, -1); // (n)
      const onehot = tf.oneHot(tf.slice(ids, [r0], [n]), vocab); // (n, V)
      const zt = tf.sum(tf.mul(z, onehot), -1); // z[t] (n)
      const nll = eps > 0 ? tf.sub(tf.sub(lse, tf.mul(zt, 1 - eps)), tf.mul(tf.mean(z, -1), eps)) : tf.sub(lse, zt); // (n)
      const rowWeights = tf.slice(weights, [r0], [n]);
      const sum = tf.add(value, tf.sum(tf.mul(nll, rowWeights)));
      if (scale === undefined) return [sum];
      // dL/dz = (softmax(z) − target) · weight, the target smoothed as in the loss.
      const p = tf.exp(tf.sub(z, tf.reshape(lse, [n, 1]))); // (n, V)
      const q = eps > 0 ? tf.add(tf.mul(onehot, 1 - eps), eps / vocab) : onehot;
      const g = tf.mul(tf.sub(p, q), tf.reshape(tf.mul(rowWeights, scale), [n, 1])); // (n, V)
      const gw = transposed ? tf.matMul(g, hc, true, false) : tf.matMul(hc, g, true, false); // (V, d) or (d, V)
      const gb = sumRows(g); // (V)
      return [sum, tf.matMul(g, w, false, !transposed), dW === undefined ? gw : tf.add(dW, gw), db === undefined ? gb : tf.add(db, gb)]; // dh (n, d)
    });
    tf.dispose([value, ...(dW === undefined ? [] : [dW]), ...(db === undefined ? [] : [db])]);
    value = out[0]!;
    if (scale !== undefined) {
      dh.push(out[1]!);
      [dW, db] = [out[2]!, out[3]!];
    }
  }
  if (scale === undefined) return { value: value as tf.Scalar };
  const dHidden = dh.length === 0 ? tf.zerosLike(h) : dh.length === 1 ? dh[0]! : tf.concat(dh, 0); // (N, d)
  if (dh.length > 1) tf.dispose(dh);
  return { value: value as tf.Scalar, grads: [dHidden, dW ?? tf.zerosLike(w), db ?? tf.zerosLike(b)] };
}
