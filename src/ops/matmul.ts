import * as tf from '@tensorflow/tfjs';

/**
 * The wasm backend runs matMuls with transposeA/transposeB at 1–2 GFLOP/s instead of ~25, so there
 * an explicit `tf.transpose` followed by a plain matMul is several times faster. On the pure-JS and
 * native backends the transposed kernel is as fast or faster, so the flags are kept there.
 */
export function prefersExplicitTranspose(): boolean {
  return tf.getBackend() === 'wasm';
}

const TILE = 16;

/**
 * Swap the last two axes: (…, M, N) → (…, N, M).
 *
 * The wasm kernel walks a 2-D transpose with a power-of-two stride, so a tall (1024, 64) matrix
 * thrashes the cache and takes ~0.4 ms, 10–20× longer than a copy. Moving 16×16 tiles instead, as a
 * 4-D transpose (M/16, 16, N/16, 16) → (N/16, 16, M/16, 16), is 3–10× faster from 128 rows up.
 */
export function swapLastTwo(x: tf.Tensor): tf.Tensor {
  if (x.rank === 2 && prefersExplicitTranspose()) {
    const [m, n] = x.shape as [number, number];
    if (m >= 128 && m * n >= 16384 && m % TILE === 0 && n % TILE === 0) {
      return tf.tidy(() => tf.reshape(tf.transpose(tf.reshape(x, [m / TILE, TILE, n / TILE, TILE]), [2, 3, 0, 1]), [n, m]));
    }
  }
  const perm = [...Array(x.rank).keys()];
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1]!, perm[x.rank - 2]!];
  return tf.transpose(x, perm);
}

/** `tf.matMul(a, b, transposeA, transposeB)`, with the transposes made explicit where that is faster. */
export function matMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  if ((transposeA || transposeB) && prefersExplicitTranspose()) {
    return tf.matMul(transposeA ? swapLastTwo(a) : a, transposeB ? swapLastTwo(b) : b);
  }
  return tf.matMul(a, b, transposeA, transposeB);
}

/**
 * Column sums of x (…, d) over every leading axis → (d), as a (1, N)·(N, d) product: the wasm
 * backend sums over non-inner axes slowly, while this product is quick on every backend.
 */
export function sumRows(x: tf.Tensor): tf.Tensor1D {
  const d = x.shape[x.rank - 1]!;
  const rows = x.size / d;
  return tf.reshape(tf.matMul(tf.ones([1, rows]), tf.reshape(x, [rows, d])), [d]);
}

/** Sum a broadcast gradient back down to the shape of the input it flows to. */
function reduceToShape(grad: tf.Tensor, shape: number[]): tf.Tensor {
  if (tf.util.arraysEqual(grad.shape, shape)) return grad;
  let g = grad;
  const extra = g.rank - shape.length;
  if (extra > 0) g = tf.sum(g, [...Array(extra).keys()]);
  const axes = shape.flatMap((size, i) => (size === 1 && g.shape[i] !== 1 ? [i] : []));
  if (axes.length > 0) g = tf.sum(g, axes, true);
  return tf.reshape(g, shape);
}

/**
 * The gradient of BatchMatMul, written with `matMul` above so that backprop on wasm never runs a
 * transposed kernel (2.7–3.7× faster training steps there), and summing over broadcast batch axes.
 * It replaces the stock gradient for every backend; on the others it computes exactly what the stock
 * gradient does.
 */
const batchMatMulGradConfig: tf.GradConfig = {
  kernelName: tf.BatchMatMul,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const g = dy as tf.Tensor;
    const [a, b] = saved as [tf.Tensor, tf.Tensor];
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    let da: () => tf.Tensor;
    let db: () => tf.Tensor;
    if (!transposeA && !transposeB) {
      da = () => matMul(g, b, false, true);
      db = () => matMul(a, g, true, false);
    } else if (!transposeA && transposeB) {
      da = () => matMul(g, b, false, false);
      db = () => matMul(g, a, true, false);
    } else if (transposeA && !transposeB) {
      da = () => matMul(b, g, false, true);
      db = () => matMul(a, g, false, false);
    } else {
      da = () => matMul(b, g, true, true);
      db = () => matMul(g, a, true, true);
    }
    return { a: () => reduceToShape(da(), a.shape), b: () => reduceToShape(db(), b.shape) };
  },
};

let gradientRegistered = false;

/** Install the BatchMatMul gradient above (idempotent). */
export function registerMatMulGradient(): void {
  if (gradientRegistered) return;
  tf.registerGradient(batchMatMulGradConfig);
  gradientRegistered = true;
}
