import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SyntheticTask } from '../src/data/tasks.js';
import { attentionMaps } from '../src/infer/attention-maps.js';
import { loadModelDir } from '../src/infer/load.js';
import { filmObserver, filmProbe, FilmRecorder, parseFilm, readFilm, recordFrame, type FilmFrame } from '../src/train/film.js';
import { prepareData } from '../src/train/prepare-data.js';
import { startRun } from '../src/train/run.js';
import { createModel } from '../src/model/create.js';
import { PAD_ID } from '../src/data/tokenizer.js';

const quiet = { info: () => undefined, warn: () => undefined };
const root = mkdtempSync(join(tmpdir(), 'atencao-film-'));
const TINY = { dModel: 16, numHeads: 2, numEncoderLayers: 1, numDecoderLayers: 1, dFF: 32, dropout: 0 };
const training = (steps: number) => ({ steps, batchSize: 8, lr: 1e-2, warmup: 2, schedule: 'noam' as const, labelSmoothing: 0, clip: 1, validEvery: steps, seed: 3 });

/** Every row of every head sums to 1 (within the rounding to 3 decimals). */
function rowsSumToOne(frame: FilmFrame): void {
  for (const m of frame.maps) for (const layer of m.weights) for (const head of layer) for (const row of head) expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(0.01);
}

describe('training films', () => {
  it('records the copy task probe every N steps, as the trained model reads it', async () => {
    const out = join(root, 'copy');
    const task = { kind: 'task' as const, task: 'copy' as const, symbols: 6, minLen: 4, maxLen: 6 };
    await startRun({ out: join(root, 'warm-up'), data: task, model: TINY, training: training(2), backend: 'wasm', workers: 1 }, { ...quiet, observe: filmObserver({ every: 1 }) });
    const before = tf.memory().numTensors;
    await startRun({ out, data: task, model: TINY, training: training(12), backend: 'wasm', workers: 1 }, { ...quiet, observe: filmObserver({ every: 4 }) });
    expect(tf.memory().numTensors).toBe(before); // the recorder frees what it makes, the run frees the model
    const film = readFilm(out);
    expect(film.map((f) => f.step)).toEqual([0, 4, 8, 12]);
    // The probe: the first held-out test sequence, each character a token, then eos.
    const held = new SyntheticTask('copy', { symbols: 6, minLen: 4, maxLen: 6, seed: 3 }).test[0]!;
    const chars = [...held.source];
    for (const frame of film) {
      expect(frame.maps.map((m) => m.kind)).toEqual(['encoder', 'decoder', 'cross']);
      expect(frame.maps[0]!.rows).toEqual([...chars, '<eos>']);
      expect(frame.maps[2]!.rows).toEqual([...chars, '<eos>']); // copy: the output is the input
      expect(frame.maps[1]!.cols).toEqual(['<bos>', ...chars]);
      expect(frame.maps[2]!.weights).toHaveLength(1);
      expect(frame.maps[2]!.weights[0]).toHaveLength(2);
      expect(typeof frame.loss).toBe('number');
      rowsSumToOne(frame);
    }
    // The weights change as the model learns.
    expect(film[0]!.maps[2]!.weights).not.toEqual(film[3]!.maps[2]!.weights);
    // The last frame is the saved model's attention (read by the inference code, teacher-forced on the same output).
    const loaded = await loadModelDir(out);
    const maps = await attentionMaps(loaded, held.source, { output: held.target });
    loaded.model.dispose();
    maps.maps.forEach((m, k) => {
      const a = m.weights.flat(3);
      const b = film[3]!.maps[k]!.weights.flat(3);
      expect(b).toHaveLength(a.length);
      expect(Math.max(...a.map((x, i) => Math.abs(x - b[i]!)))).toBeLessThan(6e-4); // rounding to 3 decimals
    });
  }, 60_000);

  it('films the seed sentence on the toy corpus: "cheio" in the encoder, "glass" in the cross-attention', () => {
    const prepared = prepareData({ kind: 'pt-en', size: 200 }, { arch: 'encoder-decoder', seed: 1 }, quiet);
    const probe = filmProbe('encoder-decoder', prepared);
    expect(probe.input).toBe('Ela derramou água da jarra para o copo até que ficasse cheio.');
    expect(prepared.target.decode(probe.example.tgt)).toBe('She poured water from the jug into the glass until the glass was full.');
    const lm = prepareData({ kind: 'pt', size: 200 }, { arch: 'decoder', seed: 1 }, quiet);
    const lmProbe = filmProbe('decoder', lm);
    expect(lmProbe.example.src).toEqual([]);
    expect(lm.source.decode(lmProbe.example.tgt)).toBe('Ela derramou água da jarra para o copo até que ficasse cheio.');
  });

  it('records the decoder family and frees every tensor it makes', async () => {
    const prepared = prepareData({ kind: 'pt', size: 200 }, { arch: 'decoder', seed: 1 }, quiet);
    const model = createModel({ arch: 'decoder', vocabSize: prepared.source.size, maxLen: prepared.maxLen, padId: PAD_ID, dModel: 16, numHeads: 2, numLayers: 1, dFF: 32, dropout: 0 }, { seed: 1 });
    const probe = filmProbe('decoder', prepared);
    await recordFrame(model, probe, 0); // warm-up (kernels, caches)
    const before = tf.memory().numTensors;
    const frame = await recordFrame(model, probe, 7);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    expect(frame.step).toBe(7);
    expect(frame.maps.map((m) => m.kind)).toEqual(['decoder']);
    expect(frame.maps[0]!.rows.slice(0, 3)).toEqual(['<bos>', 'Ela', 'derramou']);
    // Causal: nothing above the diagonal.
    const head = frame.maps[0]!.weights[0]![0]!;
    head.forEach((row, i) => row.forEach((w, j) => j > i && expect(w).toBe(0)));
    rowsSumToOne(frame);
  });

  it('stays within its bounds by thinning evenly and recording half as often', () => {
    const recorder = new FilmRecorder(1, { maxFrames: 4 });
    const frame = (step: number): FilmFrame => ({ step, input: 'x', maps: [{ kind: 'encoder', title: 't', rows: ['a'], cols: ['a'], weights: [[[[1]]]] }] });
    for (let step = 0; step <= 10; step++) if (recorder.due(step)) recorder.add(frame(step));
    // 0 1 2 3 | +4 → thin to 0 2 3, every 2 → 0 2 3 4 | +6 → thin to 0 3 4, every 4 → 0 3 4 6 | +8 → thin to 0 4 6, every 8 → 0 4 6 8
    expect(recorder.frames.map((f) => f.step)).toEqual([0, 4, 6, 8]);
    expect(recorder.every).toBe(8);
    const bytes = new FilmRecorder(1, { maxBytes: 3 * (JSON.stringify(frame(10)).length + 1) });
    for (let step = 10; step < 20; step++) bytes.add(frame(step));
    expect(bytes.text().length).toBeLessThanOrEqual(3 * (JSON.stringify(frame(10)).length + 1));
    expect(bytes.frames[0]!.step).toBe(10);
    expect(bytes.frames.at(-1)!.step).toBe(19);
  });

  it('refuses a malformed film in one line naming the line', () => {
    const good = JSON.stringify({ step: 0, input: '', maps: [{ kind: 'cross', title: 'c', rows: ['a'], cols: ['b', 'c'], weights: [[[[0.5, 0.5]]]] }] });
    expect(parseFilm(`${good}\n`, 'f')).toHaveLength(1);
    expect(() => parseFilm(`${good}\n{oops\n`, 'f')).toThrow('f line 2 is not JSON (a film has one frame of JSON per line)');
    expect(() => parseFilm('[1]\n', 'f')).toThrow('f line 1 is not a frame object');
    expect(() => parseFilm('{"step": -1, "maps": []}\n', 'f')).toThrow('f line 1: step (-1) is not a step number');
    expect(() => parseFilm(good.replace('[[[[0.5,0.5]]]]', '[[[[0.5]]]]'), 'f')).toThrow('f line 1: a map is malformed');
    expect(() => parseFilm('\n\n', 'f')).toThrow('f holds no frames');
    const dir = join(root, 'empty');
    expect(() => readFilm(dir)).toThrow(`${dir} holds no film (film.jsonl); record one with 'atencao train --film'`);
  });

  it('keeps the frames of an earlier session when a run is resumed', async () => {
    const { resumeRun } = await import('../src/train/run.js');
    const out = join(root, 'resumed');
    const task = { kind: 'task' as const, task: 'reverse' as const, symbols: 6, minLen: 4, maxLen: 5 };
    await startRun({ out, data: task, model: TINY, training: training(4), backend: 'wasm', workers: 1 }, { ...quiet, observe: filmObserver({ every: 2 }) });
    await resumeRun({ out, overrides: { steps: 8 }, backend: 'wasm', workers: 1 }, { ...quiet, observe: filmObserver({ every: 2 }) });
    expect(readFilm(out).map((f) => f.step)).toEqual([0, 2, 4, 6, 8]);
    expect(existsSync(join(out, 'film.jsonl'))).toBe(true);
    // A damaged film is replaced, not fatal.
    writeFileSync(join(out, 'film.jsonl'), 'garbage\n');
    await resumeRun({ out, overrides: { steps: 10 }, backend: 'wasm', workers: 1 }, { ...quiet, observe: filmObserver({ every: 2 }) });
    expect(readFileSync(join(out, 'film.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).step)).toEqual([10]);
  }, 60_000);
});
