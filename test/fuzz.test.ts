import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../src/index.js';
import { loadModel } from '../src/infer/load.js';
import { startServer } from '../src/web/server.js';
import { rng } from './helpers.js';

const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
const MODEL = new URL('../models/pt-en', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'atencao-fuzz-'));
const random = rng(2024);
let copies = 0;

/** A copy of the shipped model folder with one change. */
function damagedCopy(change: (dir: string) => void): string {
  const dir = join(root, `m${copies++}`);
  cpSync(MODEL, dir, { recursive: true });
  change(dir);
  return dir;
}

async function expectModelFormatError(dir: string): Promise<string> {
  const before = tf.memory().numTensors;
  const error = await loadModel(dir).then(
    (t) => {
      t.dispose();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(error, dir).toBeInstanceOf(ModelFormatError);
  expect((error as Error).message).not.toContain('\n');
  expect(tf.memory().numTensors).toBe(before);
  return (error as Error).message;
}

describe('damaged model folders (fuzz)', () => {
  for (const file of ['model.json', 'weights.bin', 'tokenizer.json', 'config.json']) {
    it(`${file} truncated at 6 random offsets`, async () => {
      const size = readFileSync(join(MODEL, file)).length;
      for (let i = 0; i < 6; i++) {
        const at = Math.floor(random() * (size - 1));
        await expectModelFormatError(damagedCopy((d) => writeFileSync(join(d, file), readFileSync(join(d, file)).subarray(0, at))));
      }
    });
    it(`${file} deleted`, async () => {
      expect(await expectModelFormatError(damagedCopy((d) => rmSync(join(d, file))))).toContain(`${file} is missing`);
    });
  }

  it('single bit flips anywhere in weights.bin (20 trials)', async () => {
    for (let i = 0; i < 20; i++) {
      const message = await expectModelFormatError(
        damagedCopy((d) => {
          const bytes = readFileSync(join(d, 'weights.bin'));
          bytes[Math.floor(random() * bytes.length)] ^= 1 << Math.floor(random() * 8);
          writeFileSync(join(d, 'weights.bin'), bytes);
        }),
      );
      expect(message).toContain('does not match the checksum saved with it');
    }
  });

  const edits: [string, string, (j: Record<string, any>) => void][] = [
    ['model.json', 'a string where a number belongs', (j) => (j.modelTopology.config.layers.find((l: any) => l.class_name === 'Transformer').config.d_model = '64')],
    ['model.json', 'no layers', (j) => (j.modelTopology.config.layers = 'none')],
    ['model.json', 'a manifest that is not a list', (j) => (j.weightsManifest = { paths: ['weights.bin'] })],
    ['model.json', 'huge shapes', (j) => j.weightsManifest[0].weights.forEach((w: any) => (w.shape = [1e6, 1e6]))],
    ['model.json', 'negative shapes', (j) => (j.weightsManifest[0].weights[0].shape = [-1, 64])],
    ['model.json', 'an encoded path leaving the folder', (j) => (j.weightsManifest[0].paths = ['..%2f..%2fweights.bin'])],
    ['model.json', 'a path leaving the folder', (j) => (j.weightsManifest[0].paths = ['../../../../etc/hostname'])],
    ['config.json', 'formatVersion as a string', (j) => (j.formatVersion = '1')],
    ['config.json', 'an array', (j) => Object.keys(j).forEach((k) => delete j[k])],
    ['tokenizer.json', 'vocab of numbers', (j) => (j.source.vocab = [1, 2, 3])],
    ['tokenizer.json', 'no target', (j) => delete j.target],
  ];
  for (const [file, what, edit] of edits) {
    it(`${file} with ${what}`, async () => {
      await expectModelFormatError(
        damagedCopy((d) => {
          const json = JSON.parse(readFileSync(join(d, file), 'utf8'));
          edit(json);
          writeFileSync(join(d, file), JSON.stringify(json));
        }),
      );
    });
  }

  it('through the CLI: one line and exit code 1 for each command that reads a model', () => {
    const dir = damagedCopy((d) => writeFileSync(join(d, 'weights.bin'), 'not weights'));
    for (const args of [['translate', '--model', dir, 'olá'], ['eval', '--model', dir], ['attention', '--model', dir, '--text', 'olá'], ['serve', '--model', dir, '--port', '0']]) {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
      expect(r.status, args[0]).toBe(1);
      expect(r.stderr.trim().split('\n').filter((l) => !l.startsWith('backend:'))).toEqual([expect.stringMatching(/^atencao: .*weights\.bin has 11 bytes but should have \d+/)]);
    }
  });
});

describe('invalid flags for every command: one line, exit code 2', () => {
  const cases: string[][] = [
    ['train', '--task', 'copy', '--steps', 'many', '--out', join(root, 'x')],
    ['train', '--task', 'copy', '--batch-size', '-4', '--out', join(root, 'x')],
    ['train', '--task', 'copy', '--label-smoothing', '1', '--out', join(root, 'x')],
    ['train', '--task', 'copy', '--clip', '-1', '--out', join(root, 'x')],
    ['train', '--task', 'copy', '--data', 'x.tsv', '--out', join(root, 'x')],
    ['train', '--task', 'copy', '--steps', '5', '--epochs', '2', '--out', join(root, 'x')],
    ['train', '--task', 'pt-en', '--symbols', '5', '--out', join(root, 'x')],
    ['train', '--task', 'copy', '--activation', 'tanh', '--out', join(root, 'x')],
    ['train', '--task', 'copy'],
    ['eval'],
    ['eval', '--model', MODEL, '--task', 'copy', '--data', 'x.tsv'],
    ['translate', '--model', MODEL, '--beam', '1.5', 'x'],
    ['translate', '--model', MODEL, '--length-penalty', '-2', 'x'],
    ['attention', '--model', MODEL, '--text', 'x', '--format', 'pdf'],
    ['attention', '--model', MODEL, '--text', 'x', '--head', '9'],
    ['attention', '--model', MODEL],
    ['serve', '--model', MODEL, '--port', '70000'],
    ['serve', '--model', MODEL, '--port', 'eighty'],
    ['bench', '--steps', '0'],
    ['bench', '--parts', 'everything'],
    ['data', '--task', 'copy', '--count', '0'],
    ['data', '--task', 'nope'],
    ['demo', '--model', MODEL, '--train'],
    ['nonsense'],
  ];
  for (const args of cases) {
    it(args.join(' '), () => {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(2);
      const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('backend:'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^atencao: .+ \(see 'atencao --help'\)$/);
    });
  }
});

describe('atencao serve under odd and heavy traffic (127.0.0.1 only)', () => {
  function get(url: URL, path: string): Promise<number> {
    return new Promise((resolve) => {
      const req = request({ host: url.hostname, port: url.port, path, method: 'GET' }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', () => resolve(-1));
      req.end();
    });
  }

  it('only ever serves its fixed files and keeps answering', async () => {
    const server = await startServer({ model: MODEL, port: 0 });
    const url = new URL(server.url);
    try {
      const odd = ['/model/..%2f..%2fpackage.json', '/model/%2e%2e%2fconfig.json', '/%2e%2e/%2e%2e/etc/passwd', '/model//model.json', '/model/model.json/..', '/model/checksums.json', `/${'x'.repeat(100_000)}`, '/model/weights.bin%00.json', '/\u00e1gua'];
      for (const path of odd) expect([404, 431, 400, -1], path).toContain(await get(url, encodeURI(path).replace(/%25/g, '%')));
      // 300 parallel requests, a third of them for the 1 MB weights.
      const paths = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? '/model/weights.bin' : i % 3 === 1 ? '/model/model.json' : '/model/../package.json'));
      const codes = await Promise.all(paths.map((p) => get(url, p)));
      expect(codes.filter((c, i) => paths[i] !== '/model/../package.json').every((c) => c === 200)).toBe(true);
      expect(codes.filter((c, i) => paths[i] === '/model/../package.json').every((c) => c === 404)).toBe(true);
      expect(await get(url, '/model/tokenizer.json')).toBe(200);
    } finally {
      await server.close();
    }
  }, 60_000);
});
