import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { countParameters, MAX_PARAMETERS, resolveConfig, type ModelConfigInput } from '../src/config.js';
import { LockedError } from '../src/errors.js';
import { LOCK_FILE, lockFolder, lockHolder } from '../src/io/lock.js';

const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'atencao-robust-'));

describe('every size in a config is bounded', () => {
  const base = { srcVocabSize: 20, tgtVocabSize: 20 };
  it('each bound is inclusive and names the field and value', () => {
    const cases: [ModelConfigInput, ModelConfigInput, string][] = [
      [{ ...base, maxLen: 16384 }, { ...base, maxLen: 16385 }, 'maxLen (16385) must be at most 16384'],
      [{ ...base, dModel: 512, numHeads: 8, dFF: 65536, numEncoderLayers: 1, numDecoderLayers: 1 }, { ...base, dFF: 65537 }, 'dFF (65537) must be at most 65536'],
      [{ ...base, numEncoderLayers: 256, dModel: 8, numHeads: 2, dFF: 8 }, { ...base, numEncoderLayers: 257 }, 'numEncoderLayers (257) must be at most 256'],
      [{ srcVocabSize: 2 ** 20, tgtVocabSize: 20, dModel: 8, numHeads: 2 }, { srcVocabSize: 2 ** 20 + 1, tgtVocabSize: 20 }, 'srcVocabSize (1048577) must be at most 1048576'],
      [{ arch: 'encoder', vocabSize: 20, numClasses: 65536, dModel: 8, numHeads: 2 }, { arch: 'encoder', vocabSize: 20, numClasses: 65537 }, 'numClasses (65537) must be at most 65536'],
    ];
    for (const [ok, bad, message] of cases) {
      expect(() => resolveConfig(ok)).not.toThrow();
      expect(() => resolveConfig(bad)).toThrow(message);
    }
  });

  it('the total is bounded by the weights it would allocate, counted by hand', () => {
    // d 4096, ff 16384, 1+1 layers, vocab 20/20: the decoder layer alone has 2·(4·4096² + 4·4096) + 2·4096·16384 + … > 2^28.
    const big = { ...base, dModel: 4096, numHeads: 8, dFF: 16384, numEncoderLayers: 1, numDecoderLayers: 1 };
    const attention = 4 * 4096 * 4096 + 4 * 4096;
    const ffn = 2 * 4096 * 16384 + 16384 + 4096;
    const byHand = 20 * 4096 + (attention + ffn + 4 * 4096) + 2 * 4096 + 20 * 4096 + (2 * attention + ffn + 6 * 4096) + 2 * 4096 + 4096 * 20 + 20;
    expect(byHand).toBeGreaterThan(MAX_PARAMETERS);
    expect(() => resolveConfig(big)).toThrow(`the config builds ${byHand} weights, more than the ${MAX_PARAMETERS} (1 GiB of float32) a model may have`);
    expect(countParameters({ ...resolveConfig(base), ...big } as never)).toBe(byHand);
    expect(() => resolveConfig({ ...base, dModel: 8192, numHeads: 8, maxLen: 8193 })).toThrow('maxLen × dModel (8193 × 8192) must be at most 67108864 (the size of the position table)');
    expect(() => resolveConfig({ ...base, dModel: 8, numHeads: 2, maxLen: 16384 })).not.toThrow();
  });
});

describe('one writer per model folder', () => {
  it('a second lock names the holder: process id, host, since when', () => {
    const dir = mkdtempSync(join(root, 'lock-'));
    const lock = lockFolder(dir);
    const holder = lockHolder(dir)!;
    expect(holder.pid).toBe(process.pid);
    expect(holder.host).toBe(hostname());
    expect(Math.abs(Date.parse(holder.since) - Date.now())).toBeLessThan(60_000);
    let error: unknown;
    try {
      lockFolder(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LockedError);
    expect((error as Error).message).toBe(`cannot train in ${dir}: process ${process.pid} is training there since ${holder.since} (lock file ${join(dir, LOCK_FILE)}; delete it if that process is gone)`);
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    lockFolder(dir).release();
  });

  it('a stale lock (its process is gone) is taken over; a live one on another host is not', () => {
    const dir = mkdtempSync(join(root, 'stale-'));
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(gone.stdout);
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid, host: hostname(), since: '2020-01-01T00:00:00.000Z' }));
    const lock = lockFolder(dir);
    expect(lockHolder(dir)!.pid).toBe(process.pid);
    lock.release();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid, host: 'elsewhere.example', since: '2020-01-01T00:00:00.000Z' }));
    expect(() => lockFolder(dir)).toThrow(`process ${deadPid} on elsewhere.example is training there since 2020-01-01T00:00:00.000Z`);
    rmSync(join(dir, LOCK_FILE));
  });

  it('release leaves alone a lock that is no longer ours', () => {
    const dir = mkdtempSync(join(root, 'theirs-'));
    const lock = lockFolder(dir);
    const theirs = JSON.stringify({ pid: 1, host: 'elsewhere.example', since: '2020-01-01T00:00:00.000Z' });
    writeFileSync(join(dir, LOCK_FILE), theirs);
    lock.release();
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(theirs);
  });
});

describe('train --out where a parent is a file', () => {
  it('one line, exit 2, nothing created', () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    const r = spawnSync(process.execPath, [CLI, 'train', '--task', 'copy', '--steps', '1', '--out', join(file, 'model')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n').filter((l) => !l.startsWith('backend:'))).toEqual([`atencao: --out ${join(file, 'model')}: ${file} is a file, not a folder (see 'atencao --help')`]);
  });
});
