import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../src/index.js';
import { loadModel, loadModelDir } from '../src/infer/load.js';
import { readModelFolder } from '../src/io/model-dir.js';
import { startServer } from '../src/web/server.js';
import { hostileFolders } from './hostile-folders.js';
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
    ['translate', '--model', MODEL, ''],
    ['translate', '--model', MODEL, 'olá', '  '],
    ['attention', '--model', MODEL, '--text', ' '],
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

describe('hostile model folders (test/hostile-folders.ts)', () => {
  const folders = hostileFolders(MODEL);
  const DIST = new URL('../dist/', import.meta.url).pathname;

  it(`each of ${folders.length} is refused with its one line, none hangs (one child process, 60 s for all)`, () => {
    // In a child: a reader that hangs on a FIFO or reads /dev/zero forever blocks its whole process.
    const script = `
      const { loadModelDir } = await import(${JSON.stringify(join(DIST, 'infer/load.js'))});
      const out = {};
      for (const [name, dir] of ${JSON.stringify(folders.map((f) => [f.name, f.dir]))}) {
        try { (await loadModelDir(dir)).model.dispose(); out[name] = 'loaded'; }
        catch (e) { out[name] = e.name + ': ' + e.message; }
      }
      process.stdout.write(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 20 });
    expect(r.signal, 'the reader hung or was killed').toBeNull();
    expect(r.stderr).toBe('');
    const results = JSON.parse(r.stdout) as Record<string, string>;
    for (const f of folders) {
      expect(results[f.name], f.name).toMatch(/^ModelFormatError: [^\n]+$/);
      expect(results[f.name], f.name).toMatch(f.expect);
    }
  }, 90_000);

  it('bounds are checked before any tensor exists (no leak, no allocation of the claimed sizes)', async () => {
    for (const f of folders.filter((x) => /max-len|vocab|weights-over|tokenizer-larger|config-/.test(x.name))) {
      const before = tf.memory().numTensors;
      const error = await loadModelDir(f.dir).then(() => undefined, (e: unknown) => e);
      expect(error, f.name).toBeInstanceOf(ModelFormatError);
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('a symlink to another file inside the folder is followed', async () => {
    const dir = join(root, 'inner-link');
    cpSync(MODEL, dir, { recursive: true });
    renameSync(join(dir, 'weights.bin'), join(dir, 'weights-v1.bin'));
    symlinkSync('weights-v1.bin', join(dir, 'weights.bin'));
    const loaded = await loadModelDir(dir);
    expect(loaded.model.config.arch).toBe('encoder-decoder');
    loaded.model.dispose();
  });

  it('the bytes a reader checks are the bytes it uses: one read of each file, the served copies equal the files', () => {
    const folder = readModelFolder(MODEL);
    for (const name of ['config.json', 'tokenizer.json', 'model.json', 'weights.bin'] as const) {
      expect(Buffer.compare(folder.files[name], readFileSync(join(MODEL, name))), name).toBe(0);
    }
    expect(folder.weights).toBe(folder.files['weights.bin']);
  });

  it('through the CLI: one line, exit 1, no stack trace', () => {
    const byName = new Map(folders.map((f) => [f.name, f]));
    const cases: [string, (dir: string) => string[]][] = [
      ['model.json-fifo', (d) => ['translate', '--model', d, 'olá']],
      ['config-data-null', (d) => ['eval', '--model', d]],
    ];
    for (const [name, command] of cases) {
      const f = byName.get(name)!;
      {
        const args = command(f.dir);
        const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
        expect(r.status, `${args[0]} ${f.name}: ${r.stderr}`).toBe(1);
        const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('backend:'));
        expect(lines, `${args[0]} ${f.name}`).toEqual([expect.stringMatching(f.expect)]);
      }
    }
  }, 120_000);
});
