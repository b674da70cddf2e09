import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { setBackend } from '../src/index.js';
import { assemble, bytesModule, KERNELS, modulePath } from '../src/ops/kernels/assemble.js';
import { kernelFor, packs, panelWidth, relaxedSimdInUse, setRelaxedSimd, transposedCopy } from '../src/ops/kernels/batch-matmul.js';
import { GEMM_RELAXED_WASM } from '../src/ops/kernels/gemm-relaxed-wasm.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { asAxisSwap } from '../src/ops/kernels/transpose.js';
import { describeEachBackend, expectClose, rng } from './helpers.js';
import { matmul, transpose, type Matrix } from './reference.js';

/** Matrices (rows) of a random (n, rows, cols) batch. */
/** Entries of a and b that are not the same float (NaN equals NaN, 0 differs from −0). */
function differingEntries(a: tf.Tensor, b: tf.Tensor): number {
  const [p, u] = [a.dataSync(), b.dataSync()];
  let differing = 0;
  for (let i = 0; i < p.length; i++) if (!Object.is(p[i], u[i])) differing++;
  return differing;
}

function randomBatch(n: number, rows: number, cols: number, random: () => number): Matrix[] {
  return Array.from({ length: n }, () => Array.from({ length: rows }, () => Array.from({ length: cols }, () => random() * 2 - 1)));
}

function maxAbsDiff(got: number[], want: number[]): number {
  expect(got.length).toBe(want.length);
  return got.reduce((m, x, i) => Math.max(m, Math.abs(x - want[i]!)), 0);
}

/** The largest difference relative to the size of the entry (absolute below 1): sums of up to 1,024 float32 products. */
function maxRelDiff(got: number[], want: number[]): number {
  expect(got.length).toBe(want.length);
  return got.reduce((m, x, i) => Math.max(m, Math.abs(x - want[i]!) / Math.max(1, Math.abs(want[i]!))), 0);
}

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);
const orient = (m: Matrix, t: boolean) => (t ? transpose(m) : m);
const sumMatrices = (ms: Matrix[]) => ms.reduce((s, m) => s.map((row, i) => row.map((x, j) => x + m[i]![j]!)));

/**
 * One product case: batch shapes of a and b (each the whole batch or a single matrix), the sizes
 * m, k, n of the product and the transposes; a is stored (…, k, m) when transposed, b (…, n, k).
 */
interface ProductCase {
  ba: number[];
  bb: number[];
  m: number;
  k: number;
  n: number;
  tA: boolean;
  tB: boolean;
}

/** The case's operands as stored matrices, its output shape and the product of each batch entry by plain loops. */
function productCase({ ba, bb, m, k, n, tA, tB }: ProductCase, random: () => number) {
  const na = size(ba);
  const nb = size(bb);
  const as = randomBatch(na, tA ? k : m, tA ? m : k, random);
  const bs = randomBatch(nb, tB ? n : k, tB ? k : n, random);
  const count = Math.max(na, nb);
  // The broadcast batch shape: axes aligned from the right, the larger size of each.
  const rank = Math.max(ba.length, bb.length);
  const at = (dims: number[], i: number) => dims[dims.length - rank + i] ?? 1;
  const batch = Array.from({ length: rank }, (_, i) => Math.max(at(ba, i), at(bb, i)));
  const pair = (i: number) => [as[na === 1 ? 0 : i]!, bs[nb === 1 ? 0 : i]!] as const;
  const want = Array.from({ length: count }, (_, i) => {
    const [a, b] = pair(i);
    return matmul(orient(a, tA), orient(b, tB));
  });
  return { as, bs, count, pair, shapeA: [...ba, tA ? k : m, tA ? m : k], shapeB: [...bb, tB ? n : k, tB ? k : n], outShape: [...batch, m, n], want };
}

const TRANSPOSES: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

/** [batch a, batch b, m, k, n]: column remainders of 16/4/1, broadcasts, a folded batch, tall operands. */
const SHAPES: [number[], number[], number, number, number][] = [
  [[3], [3], 5, 7, 16],
  [[2, 3], [2, 3], 4, 16, 37],
  [[4], [4], 1, 3, 3],
  [[6], [1], 8, 5, 20],
  [[1], [5], 2, 9, 6],
  [[2], [2], 16, 16, 16],
  // x (B, T, in) · W (in, out): the batch folded into rows, small (SIMD kernel) and large (XNNPACK).
  [[3], [], 2, 5, 7],
  [[4], [], 40, 64, 80],
  // Single products: few rows, a small right-hand matrix, a large one.
  [[], [], 1, 512, 64],
  [[], [], 3, 37, 5],
  [[], [], 20, 64, 64],
  // Tall operands, transposed in 16×16 tiles when their sizes allow it.
  [[], [], 32, 256, 48],
  [[], [], 20, 64, 1024],
  [[], [], 24, 40, 136],
  // Transposed A with a long sum (weight gradients): the packed kernel, sums in chunks of 256 with a
  // remainder, rows past a multiple of 4 and columns past a multiple of 8.
  [[], [], 130, 300, 131],
];

describe('hand-written wasm kernels', () => {
  beforeAll(async () => {
    await setBackend('wasm');
  });

  it('the committed kernel bytes are the assembled .wat sources', async () => {
    for (const name of KERNELS) {
      const bytes = await assemble(name);
      expect(readFileSync(modulePath(name), 'utf8'), name).toBe(bytesModule(name, bytes));
    }
  });

  it('the overrides are the kernels in use on wasm', () => {
    for (const name of [tf.BatchMatMul, tf.Transpose, tf.Identity, tf.Cast, tf.GatherV2, tf.UnsortedSegmentSum]) {
      expect((tf.getKernel(name, 'wasm') as { atencao?: boolean } | undefined)?.atencao ?? name === tf.UnsortedSegmentSum, name).toBe(true);
    }
  });

  it('matMul with an empty batch or operands of different ranks comes out as tfjs defines it', () => {
    const before = tf.memory().numTensors;
    const random = rng(9);
    const a = randomBatch(1, 2, 3, random)[0]!;
    const b = randomBatch(1, 3, 5, random)[0]!;
    const [empty, emptyT, noInner, c, d, after] = tf.tidy(() => [
      // Empty batch: nothing to compute (the stock kernel fails on it).
      tf.matMul(tf.zeros([0, 2, 3]), tf.ones([3, 4])),
      tf.matMul(tf.zeros([0, 3, 2]), tf.ones([4, 3]), true, true),
      tf.matMul(tf.zeros([2, 0]), tf.ones([3, 0]), false, true),
      // Different ranks: the batch shape is the broadcast one.
      tf.matMul(tf.tensor2d(a), tf.tensor3d([b])),
      tf.matMul(tf.zeros([1, 1, 2, 3]), tf.zeros([4, 3, 5])),
      // The heap is intact afterwards.
      tf.add(tf.ones([3]), 1),
    ]);
    expect(empty!.shape).toEqual([0, 2, 4]);
    expect(emptyT!.shape).toEqual([0, 2, 4]);
    // No inner dimension: a sum of nothing, zeros.
    expect(noInner!.shape).toEqual([2, 3]);
    expect(Array.from(noInner!.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    expect(c!.shape).toEqual([1, 2, 5]);
    expect(maxAbsDiff(Array.from(c!.dataSync()), matmul(a, b).flat())).toBeLessThan(1e-5);
    expect(d!.shape).toEqual([1, 4, 2, 5]);
    expect(Array.from(after!.dataSync())).toEqual([2, 2, 2]);
    tf.dispose([empty!, emptyT!, noInner!, c!, d!, after!]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('mismatched inner sizes are refused with tfjs\'s own message, transposed or not', () => {
    const before = tf.memory().numTensors;
    const a = tf.ones([2, 3]);
    const b = tf.ones([2, 4]);
    expect(() => tf.matMul(a, b)).toThrow('inner shapes (3) and (2)');
    expect(() => tf.matMul(a, b, false, true)).toThrow('inner shapes (3) and (4)');
    tf.dispose([a, b]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('Identity shares its input: a clone outlives the original and keeps its values', () => {
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    x.dispose();
    const z = tf.add(tf.ones([3]), 0); // reuses freed memory if y's had been released
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    tf.dispose([y, z]);
  });

  it('matMul equals plain loops for every transpose, column remainder, broadcast side, folded batch and tall operand', () => {
    const random = rng(7);
    for (const [ba, bb, m, k, n] of SHAPES) {
      for (const [tA, tB] of TRANSPOSES) {
        const c = productCase({ ba, bb, m, k, n, tA, tB }, random);
        const before = tf.memory().numTensors;
        const a = tf.tensor(c.as.flat(2), c.shapeA);
        const b = tf.tensor(c.bs.flat(2), c.shapeB);
        const y = tf.matMul(a, b, tA, tB);
        const label = `(${c.shapeA}) · (${c.shapeB}), transposes ${tA}/${tB}`;
        expect(y.shape, label).toEqual(c.outShape);
        expect(maxRelDiff(Array.from(y.dataSync()), c.want.flat(2)), label).toBeLessThan(1e-5);
        tf.dispose([a, b, y]);
        expect(tf.memory().numTensors).toBe(before);
      }
    }
  });

  it('wide products x·W go packed, with the unpacked kernel\'s bits', () => {
    const random = rng(12);
    for (const [m, k, n] of [[256, 128, 512], [300, 64, 437], [1024, 40, 256]] as const) {
      expect(packs(false, 1, m, k, n), `${m}×${k}×${n}`).toBe(true);
      expect(packs(true, 1, m, k, n), `${m}×${k}×${n}`).toBe(false); // k < 256: xᵀ stays unpacked
      const before = tf.memory().numTensors;
      const x = tf.tensor2d(randomBatch(1, m, k, random)[0]!);
      const w = tf.tensor2d(randomBatch(1, k, n, random)[0]!);
      const packed = tf.matMul(x, w);
      const xs = tf.transpose(x); // (k, m): read through strides by gemm.wat
      const unpacked = tf.matMul(xs, w, true, false);
      expect(differingEntries(packed, unpacked), `${m}×${k}×${n}`).toBe(0);
      tf.dispose([x, w, packed, xs, unpacked]);
      expect(tf.memory().numTensors).toBe(before);
    }
    expect(packs(false, 1, 256, 64, 255)).toBe(false);
    expect(packs(false, 1, 256, 64, 256)).toBe(false);
    expect(packs(false, 2, 1024, 64, 512)).toBe(false);
  });

  it('packed products (xᵀ·dy) are the unpacked kernel\'s to the bit: the same sums in the same order', () => {
    const random = rng(11);
    for (const [m, k, n] of [[130, 600, 131], [256, 1024, 64], [64, 512, 512]] as const) {
      expect(packs(true, 1, m, k, n), `${m}×${k}×${n}`).toBe(true);
      const before = tf.memory().numTensors;
      const xs = tf.tensor2d(randomBatch(1, k, m, random)[0]!); // stored (k, m)
      const dy = tf.tensor2d(randomBatch(1, k, n, random)[0]!);
      const packed = tf.matMul(xs, dy, true, false); // (m, n) through the packed kernel
      const x = tf.transpose(xs); // (m, k) stored as such: the unpacked kernel
      const unpacked = tf.matMul(x, dy);
      expect(packs(false, 1, m, k, n)).toBe(false);
      expect(differingEntries(packed, unpacked), `${m}×${k}×${n}`).toBe(0);
      tf.dispose([xs, dy, packed, x, unpacked]);
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('a product written into a block of wider matrices (row and matrix strides of B and C) is the plain float32 loop\'s, to the bit, and leaves the rest alone', () => {
    const random = rng(21);
    const backend = tf.backend() as unknown as { dataIdMap: { get(id: object): { memoryOffset: number } } };
    const gemm = kernelFor(backend as never)!;
    // 3 products (5, 6)·(6, 11) read from B (3, 6, 20) (columns 4 … 14 of each row) and written to
    // rows 2 … 6, columns 3 … 13 of C (3, 9, 17).
    const [batch, m, k, n] = [3, 5, 6, 11];
    const [bCols, bFrom, cRows, cCols, cRow0, cCol0] = [20, 4, 9, 17, 2, 3];
    const a = Float32Array.from({ length: batch * m * k }, () => random() * 2 - 1);
    const b = Float32Array.from({ length: batch * k * bCols }, () => random() * 2 - 1);
    const before = tf.memory().numTensors;
    const [ta, tb] = [tf.tensor(a, [batch, m, k]), tf.tensor(b, [batch, k, bCols])];
    const tc = tf.fill([batch, cRows, cCols], 7.5);
    const at = (t: tf.Tensor) => backend.dataIdMap.get(t.dataId).memoryOffset;
    gemm(at(ta), at(tb) + bFrom * 4, at(tc) + (cRow0 * cCols + cCol0) * 4, batch, m, k, n, k * 4, 4, m * k * 4, k * bCols * 4, panelWidth(k), bCols * 4, cCols * 4, cRows * cCols * 4);
    const got = tc.dataSync();
    let checked = 0;
    for (let p = 0; p < batch; p++) {
      for (let i = 0; i < cRows; i++) {
        for (let j = 0; j < cCols; j++) {
          const [r, c] = [i - cRow0, j - cCol0];
          let want = 7.5;
          if (r >= 0 && r < m && c >= 0 && c < n) {
            want = 0;
            for (let q = 0; q < k; q++) want = Math.fround(want + Math.fround(a[(p * m + r) * k + q]! * b[(p * k + q) * bCols + bFrom + c]!));
            checked++;
          }
          expect(Object.is(got[(p * cRows + i) * cCols + j], want), `product ${p} (${i}, ${j})`).toBe(true);
        }
      }
    }
    expect(checked).toBe(batch * m * n);
    tf.dispose([ta, tb, tc]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gather along axis 0 (the embedding lookup) equals row copies by hand', () => {
    const random = rng(5);
    const table = randomBatch(1, 11, 6, random)[0]!;
    const ids = [[3, 0, 10], [7, 7, 1]];
    const before = tf.memory().numTensors;
    const t = tf.tensor2d(table);
    const i = tf.tensor2d(ids, undefined, 'int32');
    const g = tf.gather(t, i);
    expect(g.shape).toEqual([2, 3, 6]);
    expect(maxAbsDiff(Array.from(g.dataSync()), ids.flat().flatMap((id) => table[id]!.map(Math.fround)))).toBe(0);
    // An id outside the table is refused, as with the stock kernel.
    const bad = tf.tensor1d([2, 11], 'int32');
    expect(() => tf.gather(t, bad)).toThrow('the index value 11 is not in [0, 10]');
    tf.dispose([t, i, g, bad]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the segment sum (the embedding gradient) adds the rows of each id in order, as a plain float32 loop does, to the bit', () => {
    const random = rng(9);
    for (const [idsShape, inner, segments] of [[[2, 5], 7, 6], [[300], 128, 32], [[4], 1, 3], [[0], 4, 5]] as [number[], number, number][]) {
      const rows = idsShape.reduce((a, b) => a * b, 1);
      // Magnitudes far apart, so an addition in another order would round differently.
      const values = Array.from({ length: rows * inner }, () => (random() - 0.5) * 10 ** Math.floor(random() * 8 - 4));
      // Repeated ids, and ids outside [0, segments) that are dropped.
      const ids = Array.from({ length: rows }, (_, r) => (r % 7 === 6 ? (r % 2 === 0 ? -1 : segments) : Math.floor(random() * segments)));
      const expected = new Float32Array(segments * inner);
      for (let r = 0; r < rows; r++) {
        if (ids[r]! < 0 || ids[r]! >= segments) continue;
        for (let j = 0; j < inner; j++) expected[ids[r]! * inner + j] = Math.fround(expected[ids[r]! * inner + j]! + Math.fround(values[r * inner + j]!));
      }
      const before = tf.memory().numTensors;
      const x = tf.tensor(values, [...idsShape, inner]);
      const i = tf.tensor(ids, idsShape, 'int32');
      const sum = tf.unsortedSegmentSum(x, i as tf.Tensor1D, segments); // ids of any rank, as the kernel takes them
      expect(sum.shape).toEqual([segments, inner]);
      expect(Array.from(sum.dataSync())).toEqual(Array.from(expected));
      tf.dispose([x, i, sum]);
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('permutations are read as one swap of neighbouring axis groups, or refused', () => {
    // (batch, M, N, E): matrices, batches of them, heads split and merged, size-1 axes ignored.
    expect(asAxisSwap([5, 7], [1, 0])).toEqual({ batch: 1, m: 5, n: 7, e: 1 });
    expect(asAxisSwap([2, 3, 5, 7], [0, 1, 3, 2])).toEqual({ batch: 6, m: 5, n: 7, e: 1 });
    expect(asAxisSwap([2, 8, 4, 16], [0, 2, 1, 3])).toEqual({ batch: 2, m: 8, n: 4, e: 16 });
    expect(asAxisSwap([3, 1, 5], [1, 2, 0])).toEqual({ batch: 1, m: 3, n: 5, e: 1 });
    expect(asAxisSwap([2, 3, 4, 5], [2, 3, 0, 1])).toEqual({ batch: 1, m: 6, n: 20, e: 1 });
    expect(asAxisSwap([2, 3, 4], [0, 1, 2])).toEqual({ batch: 1, m: 1, n: 1, e: 24 });
    // Three groups that change order are not one swap.
    expect(asAxisSwap([2, 3, 4], [2, 0, 1])).toEqual({ batch: 1, m: 6, n: 4, e: 1 });
    expect(asAxisSwap([2, 3, 4], [2, 1, 0])).toBeNull();
    expect(asAxisSwap([2, 3, 4, 5], [1, 0, 3, 2])).toBeNull();
  });

  it('transpose equals a copy by index for every permutation form, remainder and 4-byte type', () => {
    const random = rng(4);
    /** Plain loops: y at the output index whose input index is the permuted one. */
    const byIndex = (values: number[], shape: number[], perm: number[]) => {
      const outShape = perm.map((axis) => shape[axis]!);
      const strides = shape.map((_, i) => size(shape.slice(i + 1)));
      return Array.from({ length: values.length }, (_, flatOut) => {
        let rest = flatOut;
        let at = 0;
        outShape.forEach((d, i) => {
          const stride = size(outShape.slice(i + 1));
          const index = Math.floor(rest / stride);
          rest -= index * stride;
          at += index * strides[perm[i]!]!;
        });
        return values[at]!;
      });
    };
    const cases: [number[], number[]][] = [
      [[4, 4], [1, 0]],
      [[7, 5], [1, 0]], // remainders of rows and columns
      [[3, 37], [1, 0]],
      [[1024, 64], [1, 0]], // tall: the shape that thrashes the stock kernel
      [[64, 1024], [1, 0]],
      [[6, 9, 18], [0, 2, 1]], // a batch of matrices
      [[2, 5, 3, 16], [0, 2, 1, 3]], // heads split (B, T, H, d) → (B, H, T, d)
      [[2, 3, 5, 6], [0, 2, 1, 3]], // runs of 6: 16 bytes, then 8
      [[2, 3, 5, 3], [0, 2, 1, 3]], // runs of 3
      [[3, 1, 5], [1, 2, 0]], // a size-1 axis in the way
      [[2, 3, 4], [0, 1, 2]], // the identity: a copy
      [[2, 3, 4], [2, 1, 0]], // not one swap: the stock kernel
      [[0, 3], [1, 0]], // empty
    ];
    for (const [shape, perm] of cases) {
      for (const dtype of ['float32', 'int32'] as const) {
        const values = Array.from({ length: size(shape) }, () => (dtype === 'int32' ? Math.floor(random() * 2000) - 1000 : Math.fround(random() * 2 - 1)));
        const before = tf.memory().numTensors;
        const x = tf.tensor(values, shape, dtype);
        const y = tf.transpose(x, perm);
        const label = `(${shape}) by [${perm}], ${dtype}`;
        expect(y.shape, label).toEqual(perm.map((axis) => shape[axis]!));
        expect(y.dtype, label).toBe(dtype);
        expect(Array.from(y.dataSync()), label).toEqual(byIndex(values, shape, perm));
        tf.dispose([x, y]);
        expect(tf.memory().numTensors).toBe(before);
      }
    }
  });

  it('the transposed copy behind transposed products equals a plain transpose', () => {
    const random = rng(3);
    for (const [r, c] of [[128, 128], [256, 32], [1024, 64], [40, 24], [1, 7], [9, 3]] as [number, number][]) {
      const x = randomBatch(1, r, c, random)[0]!;
      const before = tf.memory().numTensors;
      const t = tf.tensor2d(x);
      const y = tf.engine().makeTensorFromTensorInfo(transposedCopy({ dataId: t.dataId, shape: t.shape, dtype: t.dtype }, tf.backend()));
      expect(y.shape).toEqual([c, r]);
      expect(maxAbsDiff(Array.from(y.dataSync()), transpose(x).flat().map(Math.fround))).toBe(0); // a pure copy
      tf.dispose([t, y]);
      expect(tf.memory().numTensors).toBe(before);
    }
  });
});

describeEachBackend('registered gradients', () => {
  it('matMul: da and db equal the products by hand for every transpose, summed over broadcast batches', () => {
    const random = rng(11);
    const shapes: [number[], number[], number, number, number][] = [
      [[2], [2], 3, 4, 5],
      [[2, 2], [2, 2], 2, 3, 4],
      [[3], [1], 2, 4, 3], // b broadcast, still rank 3
      [[1], [3], 4, 2, 3], // a broadcast
      [[3], [], 4, 5, 6], // x (B, T, in) · W (in, out): folded into rows
      [[2, 3], [], 2, 4, 3],
      [[], [2], 3, 4, 5], // a rank 2 against a batch
      [[], [], 5, 3, 4],
    ];
    for (const [ba, bb, m, k, n] of shapes) {
      for (const [tA, tB] of TRANSPOSES) {
        const c = productCase({ ba, bb, m, k, n, tA, tB }, random);
        const r = randomBatch(c.count, m, n, random); // dL/dy
        // y_i = A_i·B_i with A_i = orient(a_i, tA): dA_i = R_i·B_iᵀ, dB_i = A_iᵀ·R_i, oriented back.
        const das = r.map((ri, i) => orient(matmul(ri, transpose(orient(c.pair(i)[1], tB))), tA));
        const dbs = r.map((ri, i) => orient(matmul(transpose(orient(c.pair(i)[0], tA)), ri), tB));
        const wantA = (size(ba) === 1 && c.count > 1 ? [sumMatrices(das)] : das).flat(2);
        const wantB = (size(bb) === 1 && c.count > 1 ? [sumMatrices(dbs)] : dbs).flat(2);
        const before = tf.memory().numTensors;
        const a = tf.tensor(c.as.flat(2), c.shapeA);
        const b = tf.tensor(c.bs.flat(2), c.shapeB);
        const weights = tf.tensor(r.flat(2), c.outShape);
        const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, tA, tB), weights)))([a, b]);
        expect(da!.shape).toEqual(c.shapeA);
        expect(db!.shape).toEqual(c.shapeB);
        expectClose(da!, wantA, 1e-5);
        expectClose(db!, wantB, 1e-5);
        tf.dispose([a, b, weights, da!, db!]);
        expect(tf.memory().numTensors).toBe(before);
      }
    }
  });

  it('add: each input gets dy summed over the axes it was broadcast along', () => {
    const random = rng(12);
    const out = [2, 3, 4];
    const dy = randomBatch(1, 1, size(out), random)[0]![0]!;
    /** The sum of dy over every output position that reads entry j of an input of `shape`. */
    const summed = (shape: number[]) => {
      const want = new Array<number>(size(shape)).fill(0);
      const aligned = [...new Array<number>(out.length - shape.length).fill(1), ...shape];
      dy.forEach((g, flatIndex) => {
        let rest = flatIndex;
        let at = 0;
        for (let axis = 0; axis < out.length; axis++) {
          const stride = size(out.slice(axis + 1));
          const i = Math.floor(rest / stride);
          rest -= i * stride;
          at = at * aligned[axis]! + (aligned[axis] === 1 ? 0 : i);
        }
        want[at]! += g;
      });
      return want;
    };
    // A bias, a position table, leading ones, a broadcast middle axis (the stock way), a scalar, none.
    for (const shape of [[4], [3, 4], [1, 4], [1, 1, 4], [2, 1, 4], [3, 1], [], [2, 3, 4]]) {
      for (const side of ['a', 'b'] as const) {
        const before = tf.memory().numTensors;
        const x = tf.tensor(randomBatch(1, 1, size(out), random)[0]![0]!, out);
        const small = tf.tensor(randomBatch(1, 1, Math.max(1, size(shape)), random)[0]![0]!.slice(0, size(shape)), shape);
        const weights = tf.tensor(dy, out);
        const [dx, dsmall] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(side === 'b' ? tf.add(p, q) : tf.add(q, p), weights)))([x, small]);
        expect(dsmall!.shape, `(${shape}) as ${side}`).toEqual(shape);
        expectClose(dx!, dy, 1e-6);
        expectClose(dsmall!, summed(shape), 1e-5);
        tf.dispose([x, small, weights, dx!, dsmall!]);
        expect(tf.memory().numTensors).toBe(before);
      }
    }
  });

  it('a dense layer in plain ops, x·W + b on (B, T, in), has the gradients of the loops', () => {
    const random = rng(13);
    const [B, T, inDim, outDim] = [2, 5, 6, 3];
    const xs = randomBatch(B, T, inDim, random);
    const w = randomBatch(1, inDim, outDim, random)[0]!;
    const bias = randomBatch(1, 1, outDim, random)[0]![0]!;
    const r = randomBatch(B, T, outDim, random);
    const rows = xs.flat(1);
    const rRows = r.flat(1);
    const before = tf.memory().numTensors;
    const x = tf.tensor3d(xs);
    const kernel = tf.tensor2d(w);
    const b = tf.tensor1d(bias);
    const weights = tf.tensor3d(r);
    const [dx, dw, db] = tf.grads((p: tf.Tensor, q: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.matMul(p, q), s), weights)))([x, kernel, b]);
    expectClose(dx!, matmul(rRows, transpose(w)).flat(), 1e-5);
    expectClose(dw!, matmul(transpose(rows), rRows).flat(), 1e-5);
    expectClose(db!, bias.map((_, j) => rRows.reduce((s, row) => s + row[j]!, 0)), 1e-5);
    tf.dispose([x, kernel, b, weights, dx!, dw!, db!]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('relaxed SIMD (fused multiply-add) products', () => {
  it('stay off by default; asked for, they run from Node 20.16 on (the V8 flag set in the running process)', () => {
    expect(relaxedSimdInUse()).toBe(false);
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    expect(setRelaxedSimd(true)).toBe(major > 20 || (major === 20 && minor >= 16));
    expect(relaxedSimdInUse()).toBe(WebAssembly.validate(GEMM_RELAXED_WASM));
    // Whichever kernel runs, a product is the plain-loop one (to float rounding).
    const random = rng(21);
    const c = productCase({ ba: [3], bb: [], m: 9, k: 17, n: 13, tA: true, tB: false }, random);
    const [a, b] = [tf.tensor(c.as.flat(2), c.shapeA), tf.tensor(c.bs.flat(2), c.shapeB)];
    const y = tf.matMul(a, b, true, false);
    expect(maxRelDiff(Array.from(y.dataSync()), c.want.flat(2))).toBeLessThan(1e-5);
    tf.dispose([a, b, y]);
    expect(setRelaxedSimd(false)).toBe(false);
  });

  it('with the flag that enables them on Node 20, products equal plain loops', () => {
    // A child Node with --experimental-wasm-relaxed-simd (the default from Node 22 on) and the switch on.
    const script = [
      `const tf = await import('@tensorflow/tfjs');`,
      `const { setBackend } = await import(${JSON.stringify(new URL('../src/backend.ts', import.meta.url).href)});`,
      `await setBackend('wasm');`,
      `const a = tf.tensor2d([...Array(9 * 13).keys()].map((i) => Math.sin(i)), [9, 13]);`,
      `const b = tf.tensor2d([...Array(13 * 11).keys()].map((i) => Math.cos(i)), [13, 11]);`,
      `const A = a.arraySync(), B = b.arraySync();`,
      `const want = A.map((row) => B[0].map((_, j) => row.reduce((s, x, k) => s + x * B[k][j], 0)));`,
      `const got = tf.matMul(a, b).arraySync();`,
      `const err = (got, want) => Math.max(...got.flatMap((row, i) => row.map((x, j) => Math.abs(x - want[i][j]))));`,
      // A transposed left operand with a long sum: the packed kernel.
      `const c = tf.tensor2d([...Array(300 * 130).keys()].map((i) => Math.sin(i / 7)), [300, 130]);`,
      `const d = tf.tensor2d([...Array(300 * 140).keys()].map((i) => Math.cos(i / 5)), [300, 140]);`,
      `const C = c.arraySync(), D = d.arraySync();`,
      `const wantT = C[0].map((_, i) => D[0].map((_, j) => C.reduce((s, row, k) => s + row[i] * D[k][j], 0)));`,
      `const gotT = tf.matMul(c, d, true, false).arraySync();`,
      `console.log(JSON.stringify({ err: err(got, want), errT: err(gotT, wantT) / Math.max(...wantT.flat().map(Math.abs)) }));`,
    ].join('\n');
    const r = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, ATENCAO_RELAXED_SIMD: '1' },
      cwd: fileURLToPath(new URL('..', import.meta.url)),
    });
    expect(r.status, r.stderr).toBe(0);
    const { err, errT } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { err: number; errT: number };
    expect(err).toBeLessThan(1e-5);
    expect(errT).toBeLessThan(1e-5);
  });
});
