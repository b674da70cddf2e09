import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ModelFormatError } from '../src/index.js';
import { attentionMaps, fromTranslation } from '../src/infer/attention-maps.js';
import { loadModel, loadModelDir } from '../src/infer/load.js';
import { startRun } from '../src/train/run.js';

let root: string;
let modelDir: string;
const quiet = { info: () => undefined, warn: () => undefined };
const SENTENCES = ['um gato', 'dois cães', 'três pássaros pretos', 'quatro', 'um cão e um gato', 'palavra desconhecida'];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'atencao-translate-'));
  const corpus = join(root, 'pairs.tsv');
  const words = [['um', 'one'], ['dois', 'two'], ['três', 'three'], ['quatro', 'four'], ['gato', 'cat'], ['cães', 'dogs'], ['cão', 'dog'], ['pássaros', 'birds'], ['pretos', 'black'], ['e', 'and']];
  writeFileSync(corpus, words.flatMap(([a, b], i) => words.map(([c, d], j) => (i === j ? '' : `${a} ${c}\t${b} ${d}\n`))).join(''));
  modelDir = join(root, 'model');
  await startRun(
    {
      out: modelDir,
      data: { kind: 'corpus', file: corpus, tokenizer: 'word', validFraction: 0.1 },
      model: { dModel: 16, numHeads: 2, numEncoderLayers: 1, numDecoderLayers: 1, dFF: 32, dropout: 0 },
      training: { steps: 30, batchSize: 16, lr: 5e-3, warmup: 5, schedule: 'noam', labelSmoothing: 0, clip: 1, validEvery: 30, seed: 1 },
      backend: 'wasm',
    },
    quiet,
  );
});

describe('loadModel and translate', () => {
  it('translates single sentences and lists, and reports unknown words', async () => {
    const t = await loadModel(modelDir);
    const one = await t.translate('um gato');
    expect(typeof one.output).toBe('string');
    expect(one.tokens.length).toBeGreaterThan(0);
    expect(one.tokenScores.every((s) => s <= 0)).toBe(true);
    expect(one.score).toBeCloseTo(one.tokenScores.reduce((a, b) => a + b, 0), 5);
    const many = await t.translate(SENTENCES);
    expect(many.map((r) => r.source)).toEqual(SENTENCES);
    expect(many[0]).toEqual(one);
    expect(many[5]!.unknown).toEqual(['palavra', 'desconhecida']);
    t.dispose();
  });

  it('beam search with K = 1 equals greedy decoding; wider beams return a scored output', async () => {
    const t = await loadModel(modelDir);
    const greedy = await t.translate(SENTENCES);
    const beam1 = await t.translate(SENTENCES, { beam: 1.0001 }); // > 1 takes the beam path, floored to K = 1
    expect(beam1.map((r) => r.tokens)).toEqual(greedy.map((r) => r.tokens));
    beam1.forEach((r, i) => r.tokenScores.forEach((s, j) => expect(s).toBeCloseTo(greedy[i]!.tokenScores[j]!, 5)));
    const beam4 = await t.translate(SENTENCES, { beam: 4 });
    for (const r of beam4) {
      expect(Number.isFinite(r.score)).toBe(true);
      expect(r.tokenScores.length).toBeGreaterThanOrEqual(r.tokens.length);
    }
    t.dispose();
  });

  it('attention maps have the right shapes and rows that sum to 1', async () => {
    const t = await loadModel(modelDir);
    const a = await t.attention('gato preto'); // "preto" is not in the vocabulary
    expect(a.sourceTokens).toEqual(['gato', '<unk>', '<eos>']);
    expect(a.targetTokens[0]).toBe('<bos>');
    expect(a.encoder).toHaveLength(1);
    expect(a.encoder[0]).toHaveLength(2);
    expect(a.cross[0]![0]).toHaveLength(a.targetTokens.length);
    expect(a.cross[0]![0]![0]).toHaveLength(a.sourceTokens.length);
    for (const kind of [a.encoder, a.decoderSelf, a.cross]) {
      for (const row of kind.flat(2)) expect(Math.abs(row.reduce((x, y) => x + y, 0) - 1)).toBeLessThan(1e-5);
    }
    t.dispose();
  });

  it('attention leaks no tensors, and attentionMaps gives the same maps for any folder of this family', async () => {
    const t = await loadModel(modelDir);
    await t.attention('um gato');
    const before = tf.memory().numTensors;
    const a = await t.attention('dois cães');
    expect(tf.memory().numTensors).toBe(before);
    const loaded = await loadModelDir(modelDir);
    const loadedTensors = tf.memory().numTensors;
    expect(await attentionMaps(loaded, 'dois cães')).toEqual(fromTranslation('dois cães', a));
    expect(await attentionMaps(loaded, 'dois cães', { output: 'two cats' })).toEqual(fromTranslation('dois cães', await t.attention('dois cães', { output: 'two cats' })));
    expect(tf.memory().numTensors).toBe(loadedTensors);
    loaded.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
  });

  it('leaks no tensors over 1,000 translate calls', async () => {
    const t = await loadModel(modelDir);
    await t.translate('um gato');
    const before = tf.memory().numTensors;
    for (let i = 0; i < 1000; i++) await t.translate(SENTENCES[i % SENTENCES.length]!, { beam: i % 10 === 0 ? 3 : 1 });
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
  });
});

describe('damaged model folders give one clear ModelFormatError each', () => {
  let n = 0;
  /** A fresh copy of the model folder, changed by `damage`. */
  function damaged(damage: (dir: string) => void): string {
    const dir = join(root, `damaged-${n++}`);
    cpSync(modelDir, dir, { recursive: true });
    damage(dir);
    return dir;
  }
  const editJson = (file: string, edit: (json: Record<string, any>) => void) => (dir: string) => {
    const json = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    edit(json);
    writeFileSync(join(dir, file), JSON.stringify(json));
  };
  const dropOptimizer = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('optimizer-') || f === 'checksums.json').forEach((f) => rmSync(join(dir, f)));

  const cases: [string, (dir: string) => void, (dir: string) => string][] = [
    ['model.json missing', (d) => rmSync(join(d, 'model.json')), (d) => `${join(d, 'model.json')} is missing`],
    ['weights.bin missing', (d) => rmSync(join(d, 'weights.bin')), (d) => `${join(d, 'weights.bin')} is missing`],
    ['tokenizer.json missing', (d) => rmSync(join(d, 'tokenizer.json')), (d) => `${join(d, 'tokenizer.json')} is missing`],
    ['config.json missing', (d) => rmSync(join(d, 'config.json')), (d) => `${join(d, 'config.json')} is missing`],
    ['unknown format version', editJson('config.json', (j) => (j.formatVersion = 99)), (d) => `${join(d, 'config.json')} has format version 99; this atencao reads version 1`],
    ['model.json not JSON', (d) => writeFileSync(join(d, 'model.json'), '{"format": "layers-mo'), (d) => `${join(d, 'model.json')} is not valid JSON`],
    ['tokenizer not matching the model', editJson('tokenizer.json', (j) => j.target.vocab.push('extra')), (d) => `${join(d, 'tokenizer.json')} has`],
    ['tokenizer damaged', editJson('tokenizer.json', (j) => (j.source.kind = 'bytes')), (d) => `${join(d, 'tokenizer.json')}: tokenizer kind ("bytes") must be 'char', 'word' or 'bpe'`],
    [
      'config that does not match the weights',
      editJson('model.json', (j) => (j.modelTopology.config.layers.find((l: any) => l.class_name === 'Transformer').config.d_ff = 64)),
      (d) => `${join(d, 'model.json')}: the config needs`,
    ],
    [
      'weight shapes swapped',
      editJson('model.json', (j) => {
        const w = j.weightsManifest[0].weights.find((x: any) => x.name.endsWith('feed_forward/w1'));
        w.shape = [...w.shape].reverse();
      }),
      () => "has shape [32,16] but the config needs [16,32]",
    ],
    [
      'a weight of 10^12 elements (refused before allocating)',
      editJson('model.json', (j) => (j.weightsManifest[0].weights[0].shape = [1_000_000, 1_000_000])),
      (d) => `${join(d, 'model.json')}: the config needs`,
    ],
    ['weights.bin truncated', (d) => writeFileSync(join(d, 'weights.bin'), readFileSync(join(d, 'weights.bin')).subarray(0, 1000)), (d) => `${join(d, 'weights.bin')} has 1000 bytes but should have`],
    [
      'weights.bin with flipped bits (checked against the checkpoint)',
      (d) => {
        const bytes = readFileSync(join(d, 'weights.bin'));
        bytes[123] ^= 0x10;
        writeFileSync(join(d, 'weights.bin'), bytes);
      },
      (d) => `${join(d, 'weights.bin')} does not match the checksum saved with it (damaged or replaced)`,
    ],
    [
      'weights.bin with NaN values (no checkpoint to compare with)',
      (d) => {
        dropOptimizer(d);
        const bytes = readFileSync(join(d, 'weights.bin'));
        bytes.writeUInt32LE(0x7fc00000, 400);
        writeFileSync(join(d, 'weights.bin'), bytes);
      },
      () => 'is corrupted: weight',
    ],
    ['weights path leaving the folder', editJson('model.json', (j) => (j.weightsManifest[0].paths = ['../model/weights.bin'])), (d) => `${join(d, 'model.json')} points to a weights file outside the model folder ('../model/weights.bin'); refusing to read it`],
    ['absolute weights path', editJson('model.json', (j) => (j.weightsManifest[0].paths = ['/etc/passwd'])), () => "points to a weights file outside the model folder ('/etc/passwd')"],
    ['quantized weights', editJson('model.json', (j) => (j.weightsManifest[0].weights[0].dtype = 'int8')), () => 'must be unquantized float32 (got int8)'],
  ];

  for (const [name, damage, message] of cases) {
    it(name, async () => {
      const dir = damaged(damage);
      const before = tf.memory().numTensors;
      const error = await loadModel(dir).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ModelFormatError);
      expect((error as Error).message).toContain(message(dir));
      expect((error as Error).message).not.toContain('\n');
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('a missing folder', async () => {
    await expect(loadModel(join(root, 'nope'))).rejects.toThrow(`model folder '${join(root, 'nope')}' not found`);
  });

  it('atencao translate turns each into one line and exit code 1', async () => {
    const dir = damaged((d) => copyFileSync(join(d, 'tokenizer.json'), join(d, 'weights.bin')));
    const r = spawnSync(process.execPath, [new URL('../dist/cli/main.js', import.meta.url).pathname, 'translate', '--model', dir, 'um gato'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^atencao: .*weights\.bin has \d+ bytes but should have/);
  });
});

describe('atencao translate', () => {
  const cli = (args: string[], input?: string) =>
    spawnSync(process.execPath, [new URL('../dist/cli/main.js', import.meta.url).pathname, 'translate', '--model', modelDir, ...args], { encoding: 'utf8', input });

  it('translates arguments, a file and standard input alike', async () => {
    const fromArgs = cli(['um gato', 'dois cães']);
    expect(fromArgs.status, fromArgs.stderr).toBe(0);
    const file = join(root, 'in.txt');
    writeFileSync(file, '\uFEFFum gato\r\n\r\ndois cães\r\n');
    expect(cli(['--file', file]).stdout).toBe(fromArgs.stdout);
    expect(cli([], 'um gato\ndois cães\n').stdout).toBe(fromArgs.stdout);
    expect(fromArgs.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('--json prints source, output, tokens and token scores; --beam works', async () => {
    const r = cli(['--json', '--beam', '3', 'um gato']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.source).toBe('um gato');
    expect(Array.isArray(j.tokens)).toBe(true);
    expect(j.tokenScores.length).toBeGreaterThanOrEqual(j.tokens.length);
  });

  it('bad flags exit 2 with one line', async () => {
    for (const args of [['--beam', '0', 'x'], ['--max-len', '-3', 'x'], ['--file', 'a.txt', 'x']]) {
      const r = cli(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const missing = cli(['--file', join(root, 'none.txt')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`file '${join(root, 'none.txt')}' not found`);
  });
});
