import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { setBackend } from '../src/index.js';
import { assemble, bytesModule, KERNELS, modulePath } from '../src/ops/kernels/assemble.js';
import { swapLastTwo } from '../src/ops/matmul.js';
import { rng } from './helpers.js';
import { matmul, transpose, type Matrix } from './reference.js';

/** Matrices (rows) of a random (n, rows, cols) batch. */
function randomBatch(n: number, rows: number, cols: number, random: () => number): Matrix[] {
  return Array.from({ length: n }, () => Array.from({ length: rows }, () => Array.from({ length: cols }, () => random() * 2 - 1)));
}

function maxAbsDiff(got: number[], want: number[]): number {
  expect(got.length).toBe(want.length);
  return got.reduce((m, x, i) => Math.max(m, Math.abs(x - want[i]!)), 0);
}

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
    for (const name of [tf.BatchMatMul, tf.Identity, tf.GatherV2, tf.UnsortedSegmentSum]) {
      expect((tf.getKernel(name, 'wasm') as { atencao?: boolean } | undefined)?.atencao ?? name === tf.UnsortedSegmentSum, name).toBe(true);
    }
  });

  it('matMul with an empty batch or operands of different ranks comes out as tfjs defines it', () => {
    const before = tf.memory().numTensors;
    const random = rng(9);
    const a = randomBatch(1, 2, 3, random)[0]!;
    const b = randomBatch(1, 3, 5, random)[0]!;
    const [empty, c, d, after] = tf.tidy(() => [
      // Empty batch: nothing to compute (the stock kernel fails on it).
      tf.matMul(tf.zeros([0, 2, 3]), tf.ones([3, 4])),
      // Different ranks: the batch shape is the broadcast one.
      tf.matMul(tf.tensor2d(a), tf.tensor3d([b])),
      tf.matMul(tf.zeros([1, 1, 2, 3]), tf.zeros([4, 3, 5])),
      // The heap is intact afterwards.
      tf.add(tf.ones([3]), 1),
    ]);
    expect(empty!.shape).toEqual([0, 2, 4]);
    expect(c!.shape).toEqual([1, 2, 5]);
    expect(maxAbsDiff(Array.from(c!.dataSync()), matmul(a, b).flat())).toBeLessThan(1e-5);
    expect(d!.shape).toEqual([1, 4, 2, 5]);
    expect(Array.from(after!.dataSync())).toEqual([2, 2, 2]);
    tf.dispose([empty!, c!, d!, after!]);
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

  it('batched and small matMuls equal plain loops for every column remainder, broadcast side and batch shape', () => {
    const random = rng(7);
    // [batch a, batch b, m, k, n]: n covers the 16-, 4- and 1-column paths and their mixes.
    const cases: [number[], number[], number, number, number][] = [
      [[3], [3], 5, 7, 16],
      [[2, 3], [2, 3], 4, 16, 37],
      [[4], [4], 1, 3, 3],
      [[6], [1], 8, 5, 20],
      [[1], [5], 2, 9, 6],
      [[2], [2], 16, 16, 16],
      // Single products (rank 2): few rows, or a small right-hand matrix.
      [[], [], 1, 512, 64],
      [[], [], 3, 37, 5],
      [[], [], 20, 64, 64],
    ];
    for (const [ba, bb, m, k, n] of cases) {
      const na = ba.reduce((p, d) => p * d, 1);
      const nb = bb.reduce((p, d) => p * d, 1);
      const as = randomBatch(na, m, k, random);
      const bs = randomBatch(nb, k, n, random);
      const before = tf.memory().numTensors;
      const a = tf.tensor(as.flat(2), [...ba, m, k]);
      const b = tf.tensor(bs.flat(2), [...bb, k, n]);
      const c = tf.matMul(a, b);
      const count = Math.max(na, nb);
      const want = Array.from({ length: count }, (_, i) => matmul(as[na === 1 ? 0 : i]!, bs[nb === 1 ? 0 : i]!)).flat(2);
      expect(c.shape).toEqual([...(na >= nb ? ba : bb), m, n]);
      expect(maxAbsDiff(Array.from(c.dataSync()), want)).toBeLessThan(1e-5);
      tf.dispose([a, b, c]);
      expect(tf.memory().numTensors).toBe(before);
    }
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

  it('swapLastTwo (tiled for tall power-of-two matrices on wasm) equals a plain transpose', () => {
    const random = rng(3);
    for (const [r, c] of [[128, 128], [256, 32], [1024, 64], [40, 24]] as [number, number][]) {
      const x = randomBatch(1, r, c, random)[0]!;
      const before = tf.memory().numTensors;
      const t = tf.tensor2d(x);
      const y = swapLastTwo(t);
      expect(y.shape).toEqual([c, r]);
      expect(maxAbsDiff(Array.from(y.dataSync()), transpose(x).flat().map(Math.fround))).toBe(0); // a pure copy
      tf.dispose([t, y]);
      expect(tf.memory().numTensors).toBe(before);
    }
  });
});
