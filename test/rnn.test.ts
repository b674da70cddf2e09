import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { greedyDecode } from '../src/infer/greedy.js';
import { createLstmSeq2Seq } from '../src/rnn/seq2seq.js';
import { FlatAdamStepper } from '../src/train/stepper.js';
import { train } from '../src/train/trainer.js';
import { generateDistanceCases, readReferent } from '../src/data/pt-en.js';
import type { Seq2SeqBatch } from '../src/model/model.js';
import { expectClose, rng } from './helpers.js';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('LSTM encoder–decoder', () => {
  it('a cell step follows the LSTM equations (plain loops, gate order i, f, g, o)', () => {
    const model = createLstmSeq2Seq({ srcVocabSize: 7, tgtVocabSize: 6, units: 3, maxLen: 8, attention: false }, { seed: 2 });
    const cell = model.encoder;
    const random = rng(4);
    const x = [[random(), random(), random()]];
    const h = [[random() - 0.5, random() - 0.5, random() - 0.5]];
    const c = [[random(), -random(), random()]];
    const before = tf.memory().numTensors;
    const [xt, ht, ct] = [tf.tensor2d(x), tf.tensor2d(h), tf.tensor2d(c)];
    const next = cell.step(xt, { h: ht, c: ct });
    const w = cell.kernel.read().arraySync() as number[][];
    const b = cell.bias.read().arraySync() as number[];
    expect(b.slice(3, 6)).toEqual([1, 1, 1]); // forget gates start open
    const input = [...x[0]!, ...h[0]!];
    const z = Array.from({ length: 12 }, (_, j) => b[j]! + input.reduce((s, v, i) => s + v * w[i]![j]!, 0));
    const cNext = [0, 1, 2].map((u) => sigmoid(z[3 + u]!) * c[0]![u]! + sigmoid(z[u]!) * Math.tanh(z[6 + u]!));
    const hNext = [0, 1, 2].map((u) => sigmoid(z[9 + u]!) * Math.tanh(cNext[u]!));
    expectClose(next.c, cNext, 1e-5);
    expectClose(next.h, hNext, 1e-5);
    tf.dispose([xt, ht, ct, next.h, next.c]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  for (const attention of [false, true]) {
    it(`${attention ? 'with' : 'without'} attention: padding does not change the encoding, decoding step by step matches teacher forcing, no leaks`, async () => {
      const model = createLstmSeq2Seq({ srcVocabSize: 9, tgtVocabSize: 8, units: 6, maxLen: 8, attention }, { seed: 3 });
      const before = tf.memory().numTensors;
      // The same source with and without two pads: same last state, attention 0 on the pads.
      const short = tf.tensor2d([[4, 5, 6, 2]], undefined, 'int32');
      const padded = tf.tensor2d([[4, 5, 6, 2, 0, 0]], undefined, 'int32');
      const a = model.encode(short);
      const p = model.encode(padded);
      expectClose(p.final.h, Array.from(a.final.h.dataSync()), 1e-6);
      tf.dispose([a.states, a.mask, a.final.h, a.final.c, p.states, p.mask, p.final.h, p.final.c, ...(a.keys ? [a.keys, p.keys!] : [])]);
      // Greedy decoding (the generation's state as cache) against the teacher-forced logits of its own output.
      const [out] = await greedyDecode(model, [[4, 5, 6, 2, 0, 0].slice(0, 4)], { pad: 0, bos: 1, eos: 2 }, { maxLen: 5 });
      const tgtIn = tf.tensor2d([[1, ...out!]], undefined, 'int32');
      const r = model.forward(short, tgtIn);
      const argmax = tf.tidy(() => tf.argMax(r.logits, -1).arraySync() as number[][])[0]!;
      expect(argmax.slice(0, out!.length)).toEqual(out);
      if (attention) {
        const w = r.weights!.arraySync() as number[][][];
        for (const row of w[0]!) expect(row.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 5);
        const weights = model.attention({ ids: padded, targetIds: tgtIn });
        const rows = (weights.cross![0]!.arraySync() as number[][][][])[0]![0]!;
        for (const row of rows) expect(row.slice(4)).toEqual([0, 0]);
        tf.dispose(weights.cross!);
      } else {
        expect(model.attention({ ids: padded, targetIds: tgtIn })).toEqual({});
      }
      tf.dispose([short, padded, tgtIn, r.logits, ...(r.weights ? [r.weights] : [])]);
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
    });
  }

  it('trains with the library trainer and stepper: the loss of a copy task falls', async () => {
    const model = createLstmSeq2Seq({ srcVocabSize: 8, tgtVocabSize: 8, units: 16, maxLen: 7, attention: true }, { seed: 1 });
    const random = rng(7);
    const example = () => {
      const seq = Array.from({ length: 3 + Math.floor(random() * 3) }, () => 3 + Math.floor(random() * 5));
      return { src: [...seq, 2], tgt: seq };
    };
    const data = Array.from({ length: 256 }, example);
    const batch = (): Seq2SeqBatch => ({
      kind: 'seq2seq',
      src: tf.tensor2d([[3, 4, 5, 2]], undefined, 'int32'),
      tgtIn: tf.tensor2d([[1, 3, 4, 5]], undefined, 'int32'),
      tgtOut: tf.tensor2d([[3, 4, 5, 2]], undefined, 'int32'),
    });
    const lossOf = () => {
      const b = batch();
      const l = model.loss(b);
      const v = l.dataSync()[0]!;
      tf.dispose([l, b.src, b.tgtIn, b.tgtOut]);
      return v;
    };
    const start = lossOf();
    const stepper = new FlatAdamStepper(model, 1e-2);
    const result = await train(model, stepper, {
      data: { batchAt: (step, size) => Array.from({ length: size }, (_, i) => data[(step * size + i) % data.length]!) },
      valid: data.slice(0, 8),
      evaluation: { objective: 'seq2seq', ids: { pad: 0, bos: 1, eos: 2 } },
      start: { step: 0, elapsedSeconds: 0, tokensSeen: 0 },
      steps: 40,
      batchSize: 16,
      schedule: { lr: 1e-2, warmup: 0, kind: 'constant' },
      labelSmoothing: 0,
      clipNorm: 1,
      validEvery: 40,
      seed: 1,
    });
    await stepper.dispose();
    expect(result.state.step).toBe(40);
    expect(lossOf()).toBeLessThan(start * 0.8);
    model.dispose();
  });
});

describe('sentences with filler clauses', () => {
  it('put 0–3 clauses between the container and the adjective, keep the referent readable, and measure the distance', () => {
    const cases = generateDistanceCases({ seed: 3, size: 40 });
    expect(new Set(cases.map((c) => c.source)).size).toBe(40);
    expect(new Set(cases.map((c) => c.clauses))).toEqual(new Set([0, 1, 2, 3]));
    for (const c of cases) {
      const reading = readReferent(c.source);
      expect(reading.referent).toBe(c.referent);
      expect(c.target).toContain(`until the ${c.referentEn} was`);
      // Hand count: words and commas strictly between the referent noun and the adjective.
      const words = c.source.replace(/,/g, ' ,').replace(/\.$/, '').split(/\s+/);
      const noun = c.referent === 'into' ? c.into : c.from;
      expect(c.distance).toBe(words.length - 1 - words.indexOf(noun) - 1);
      expect(c.source.split(' que ').length - 1).toBe(c.clauses + 1); // each clause has one "que", plus "até que"
    }
  });
});
