/**
 * Plain-loop references, written without TensorFlow.js, to check the library against.
 * Matrices are arrays of rows.
 */
export type Matrix = number[][];

export function matmul(a: Matrix, b: Matrix): Matrix {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((s, x, k) => s + x * b[k]![j]!, 0)));
}

export function transpose(a: Matrix): Matrix {
  return a[0]!.map((_, j) => a.map((row) => row[j]!));
}

export function addBias(a: Matrix, bias: number[]): Matrix {
  return a.map((row) => row.map((x, j) => x + bias[j]!));
}

/**
 * Attention for one (query set, key set): q (Tq, dk), k (Tk, dk), v (Tk, dv); mask (Tq, Tk) of 0/1.
 * A row with no allowed key gets zero weights.
 */
export function attentionRef(q: Matrix, k: Matrix, v: Matrix, mask?: Matrix): { output: Matrix; weights: Matrix } {
  const dk = q[0]!.length;
  const weights = q.map((qi, i) => {
    const scores: number[] = [];
    const allowed: boolean[] = [];
    for (let j = 0; j < k.length; j++) {
      let s = 0;
      for (let c = 0; c < dk; c++) s += qi[c]! * k[j]![c]!;
      scores.push(s / Math.sqrt(dk));
      allowed.push(mask === undefined || mask[i]![j] === 1);
    }
    if (!allowed.some(Boolean)) return scores.map(() => 0);
    const max = Math.max(...scores.filter((_, j) => allowed[j]));
    const exps = scores.map((s, j) => (allowed[j] ? Math.exp(s - max) : 0));
    const total = exps.reduce((a, b) => a + b, 0);
    return exps.map((e) => e / total);
  });
  const output = weights.map((w) => v[0]!.map((_, c) => w.reduce((s, wj, j) => s + wj * v[j]![c]!, 0)));
  return { output, weights };
}

export interface MhaWeights {
  wq: Matrix;
  wk: Matrix;
  wv: Matrix;
  wo: Matrix;
  bq: number[];
  bk: number[];
  bv: number[];
  bo: number[];
}

/**
 * Multi-head attention for one batch element: query (Tq, dq), key (Tk, dk_in), value (Tk, dv_in).
 * Heads are contiguous column blocks of the projections, concatenated in head order before Wo.
 */
export function multiHeadRef(
  query: Matrix,
  key: Matrix,
  value: Matrix,
  w: MhaWeights,
  numHeads: number,
  mask?: Matrix,
): { output: Matrix; weights: Matrix[] } {
  const q = addBias(matmul(query, w.wq), w.bq);
  const k = addBias(matmul(key, w.wk), w.bk);
  const v = addBias(matmul(value, w.wv), w.bv);
  const dk = q[0]!.length / numHeads;
  const dv = v[0]!.length / numHeads;
  const cols = (m: Matrix, from: number, n: number) => m.map((row) => row.slice(from, from + n));
  const heads = Array.from({ length: numHeads }, (_, h) =>
    attentionRef(cols(q, h * dk, dk), cols(k, h * dk, dk), cols(v, h * dv, dv), mask),
  );
  const concat = query.map((_, i) => heads.flatMap((hd) => hd.output[i]!));
  return { output: addBias(matmul(concat, w.wo), w.bo), weights: heads.map((hd) => hd.weights) };
}

export function flat(x: unknown): number[] {
  return Array.isArray(x) ? x.flatMap(flat) : [x as number];
}
