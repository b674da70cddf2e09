import * as tf from '@tensorflow/tfjs';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, loadModelDir } from '../src/infer/load.js';
import { restoreOptimizer } from '../src/io/checkpoint.js';
import { rng } from './helpers.js';

const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
const TINY = ['--task', 'reverse', '--symbols', '6', '--lengths', '6:8', '--d-model', '16', '--heads', '2', '--layers', '1', '--d-ff', '32', '--batch-size', '16', '--valid-every', '4', '--backend', 'wasm'];
const root = mkdtempSync(join(tmpdir(), 'atencao-faults-'));

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Start a training run; `act` gets the child and a promise of its end. */
function train(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [CLI, 'train', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<Finished>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, output: () => stdout + stderr };
}

async function waitFor(check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The folder loads, and its optimizer state gives the step a resume continues from. */
async function savedStep(dir: string): Promise<number> {
  await tf.setBackend('wasm');
  const translator = await loadModel(dir);
  await translator.translate('abc');
  translator.dispose();
  const optimizer = tf.train.adam(1e-3);
  const { step } = await restoreOptimizer(dir, optimizer);
  optimizer.dispose();
  return step;
}

describe('kill -9 at random moments', () => {
  it('never leaves a folder that does not load, and --resume continues from the last saved step (12 trials, half inside checkpoint writes)', async () => {
    const random = rng(99);
    for (let trial = 0; trial < 12; trial++) {
      const dir = join(root, `kill-${trial}`);
      const slow = trial % 2 === 1; // checkpoints pause 300 ms between files: the kill lands inside one
      const run = train([...TINY, '--steps', '100000', '--out', dir], slow ? { ATENCAO_FAULTS: 'slow-checkpoint:300' } : {});
      await waitFor(() => run.output().includes('model:'), 30_000);
      await new Promise((r) => setTimeout(r, 100 + Math.floor(random() * 1500)));
      run.child.kill('SIGKILL');
      const end = await run.done;
      expect(end.signal).toBe('SIGKILL');
      const step = await savedStep(dir);
      const resumed = spawnSync(process.execPath, [CLI, 'train', '--out', dir, '--resume', '--steps', String(step + 2), '--valid-every', '1'], { encoding: 'utf8' });
      expect(resumed.status, resumed.stderr).toBe(0);
      expect(resumed.stderr).toContain(`resuming at step ${step} of ${step + 2}`);
      expect(await savedStep(dir)).toBe(step + 2);
    }
  }, 300_000);

  it('two interrupted checkpoints in a row still leave the last complete weights loadable', async () => {
    const dir = join(root, 'kill-twice');
    const env = { ATENCAO_FAULTS: 'slow-checkpoint:400' };
    const first = train([...TINY, '--steps', '100000', '--out', dir], env);
    await waitFor(() => /step \d+:/.test(first.output()), 30_000);
    await new Promise((r) => setTimeout(r, 150)); // inside the next checkpoint's pause
    first.child.kill('SIGKILL');
    await first.done;
    const step = await savedStep(dir);
    const second = spawn(process.execPath, [CLI, 'train', '--out', dir, '--resume', '--steps', '100000'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    second.stdout.on('data', (d) => (out += d));
    second.stderr.on('data', (d) => (out += d));
    await waitFor(() => /step \d+:/.test(out), 30_000);
    await new Promise((r) => setTimeout(r, 150));
    second.kill('SIGKILL');
    await new Promise((r) => second.on('close', r));
    expect(await savedStep(dir)).toBeGreaterThanOrEqual(step);
  }, 90_000);

  it('a folder killed while being created is either complete or absent', async () => {
    const dir = join(root, 'kill-early');
    const run = train([...TINY, '--steps', '100000', '--out', dir], { ATENCAO_FAULTS: 'slow-checkpoint:2000' });
    await waitFor(() => existsSync(`${dir}.partial-${run.child.pid}`), 30_000);
    run.child.kill('SIGKILL');
    await run.done;
    expect(existsSync(dir)).toBe(false);
  }, 60_000);
});

describe('signals', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} saves a checkpoint, says where, and exits cleanly`, async () => {
      const dir = join(root, `signal-${signal}`);
      const run = train([...TINY, '--steps', '100000', '--out', dir]);
      await waitFor(() => /step \d+:/.test(run.output()), 30_000);
      run.child.kill(signal);
      const end = await run.done;
      expect(end.code).toBe(130);
      expect(end.stderr).toContain(`${signal}: saving a checkpoint and stopping`);
      expect(end.stdout).toMatch(new RegExp(`interrupted by ${signal}; checkpoint saved at step (\\d+)`));
      expect(end.stdout).toContain(`saved in ${dir}`);
      expect(end.stderr).not.toMatch(/\n\s+at /);
      const stopped = Number(/checkpoint saved at step (\d+)/.exec(end.stdout)![1]);
      expect(await savedStep(dir)).toBe(stopped);
    }, 60_000);
  }
});

describe('failures during training', () => {
  it('a NaN loss stops with one clear line and keeps the last good checkpoint', async () => {
    const dir = join(root, 'nan');
    const r = spawnSync(process.execPath, [CLI, 'train', ...TINY, '--steps', '200', '--lr', '1e9', '--clip', '0', '--warmup', '0', '--schedule', 'constant', '--valid-every', '1', '--out', dir], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    const line = r.stderr.trim().split('\n').pop()!;
    expect(line).toMatch(/^atencao: the loss became (NaN|Infinity|-Infinity) at step (\d+); stopped, keeping the checkpoint of step (\d+) \(try a lower --lr or --clip\)$/);
    const kept = Number(/checkpoint of step (\d+)/.exec(line)![1]);
    expect(await savedStep(dir)).toBe(kept);
  }, 60_000);

  it('a full disk (simulated) gives one line naming the file, and the previous checkpoint stays intact', async () => {
    const dir = join(root, 'full-disk');
    const r = spawnSync(process.execPath, [CLI, 'train', ...TINY, '--steps', '200', '--out', dir], { encoding: 'utf8', env: { ...process.env, ATENCAO_FAULTS: 'fail-write-after:12' } });
    expect(r.status).toBe(1);
    const line = r.stderr.trim().split('\n').pop()!;
    expect(line).toMatch(new RegExp(`^atencao: cannot write ${dir}/[a-z.0-9-]+: no space left on the device \\(ENOSPC\\); the previous version is unchanged$`));
    const step = await savedStep(dir);
    expect(step).toBeGreaterThanOrEqual(0);
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).every((l) => JSON.parse(l).step <= step)).toBe(true);
  }, 60_000);

  it.skipIf(process.getuid?.() === 0)('a read-only output folder gives one clear line', async () => {
    const parent = join(root, 'readonly');
    spawnSync('mkdir', ['-p', parent]);
    spawnSync('chmod', ['555', parent]);
    const r = spawnSync(process.execPath, [CLI, 'train', ...TINY, '--steps', '5', '--out', join(parent, 'model')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n').pop()).toMatch(/^atencao: cannot (write|create) /);
  });
});

describe('two processes, one model folder', () => {
  it('train --resume while another run trains in the folder is refused with one line naming it; its stale lock is taken over once it is killed', async () => {
    const dir = join(root, 'two-writers');
    // A new run holds the lock from its folder's first file (taken in <out>.partial-<pid>, moved with it).
    const first = spawn(process.execPath, [CLI, 'train', ...TINY, '--steps', '100000', '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    first.stderr.on('data', (d) => (out += d));
    first.stdout.on('data', (d) => (out += d));
    await waitFor(() => /step \d+:/.test(out), 30_000);
    const second = spawnSync(process.execPath, [CLI, 'train', '--out', dir, '--resume', '--steps', '50'], { encoding: 'utf8' });
    expect(second.status).toBe(1);
    const lines = second.stderr.trim().split('\n').filter((l) => !l.startsWith('backend:'));
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^atencao: cannot resume training in ${dir}: process ${first.pid} is training there since \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z \\(lock file ${dir}/train\\.lock; delete it if that process is gone\\)$`)),
    ]);
    first.kill('SIGKILL');
    await new Promise((r) => first.on('close', r));
    // Its lock is now stale (the process is gone): the next run takes it over. A config.json
    // missing a training setting is named, not read as "step 2 of undefined".
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    delete config.training.steps;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    const third = spawnSync(process.execPath, [CLI, 'train', '--out', dir, '--resume'], { encoding: 'utf8' });
    expect(third.status).toBe(1);
    expect(third.stderr.trim().split('\n').filter((l) => !l.startsWith('backend:'))).toEqual([`atencao: ${dir}/config.json: training.steps (missing) is not a usable value, so the run cannot be resumed`]);
    const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).step as number);
    expect(metrics).toEqual([...metrics].sort((a, b) => a - b));
  }, 90_000);

  it('every load during training succeeds (checksums re-read around the weights)', async () => {
    const dir = join(root, 'busy');
    const everyStep = TINY.map((a, i) => (TINY[i - 1] === '--valid-every' ? '1' : a)); // a checkpoint after every step
    const run = spawn(process.execPath, [CLI, 'train', ...everyStep, '--steps', '100000', '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    run.stderr.on('data', (d) => (out += d));
    const start = Date.now();
    while (!/step \d+:/.test(out)) {
      if (Date.now() - start > 30_000) throw new Error(`training did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    try {
      for (let i = 0; i < 12; i++) {
        const loaded = await loadModelDir(dir);
        loaded.model.dispose();
        await new Promise((r) => setTimeout(r, 15));
      }
    } finally {
      run.kill('SIGKILL');
      await new Promise((r) => run.on('close', r));
    }
  }, 90_000);
});
