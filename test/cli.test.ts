import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { expectRateOf } from './helpers.js';

const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

it('atencao --help lists the commands', () => {
  const r = run('--help');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('atencao <command> [options]');
  expect(r.stdout).toContain('atencao bench');
});

it('the built command runs by itself, as npx atencao and an installed bin run it', () => {
  const r = spawnSync(CLI, ['--version'], { encoding: 'utf8', timeout: 60_000 });
  expect(r.error, 'dist/cli/main.js must be executable').toBeUndefined();
  expect(r.status).toBe(0);
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  expect(r.stdout.trim()).toBe(pkg.version);
});

it('atencao --version prints the package version', () => {
  const r = run('--version');
  expect(r.status).toBe(0);
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  expect(r.stdout.trim()).toBe(pkg.version);
});

it('bad usage exits 2 with one line and no stack trace', () => {
  for (const args of [['frobnicate'], ['bench', '--steps', '0'], ['bench', '--backend', 'gpu'], []]) {
    const r = run(...args);
    expect(r.status, args.join(' ')).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^atencao: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }
});

it('bench --json prints one JSON object per line: the matMul peak, a training row per family and the reference trainer with the ratio', () => {
  // A stand-in reference trainer that reports 100 ms/step for any config and family.
  const peer = `"${process.execPath}" -e "console.log('starting'); console.log(JSON.stringify({ peer: 'stand-in', ms_per_step: 100, tokens_per_s: 10240 }))" --`;
  const r = run('bench', '--parts', 'train', '--workers', '1', '--backend', 'wasm', '--config', 'small', '--steps', '1', '--warmup', '0', '--json', '--peer', peer);
  expect(r.status, r.stderr).toBe(0);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const kinds = rows.map((row) => `${row.kind}${row.arch === undefined ? '' : ` ${row.arch}`}`);
  expect([...kinds].sort()).toEqual(['peak', 'peer decoder', 'peer encoder-decoder', 'train decoder', 'train encoder-decoder']);
  const row = (kind: string, arch?: string) => rows.find((r) => r.kind === kind && r.arch === arch)!;
  expect(row('peak').gflops).toBeGreaterThan(0);
  // Per family: the parameters, the predicted tokens of a batch and the matrix-product work of a step, counted by hand.
  // Encoder–decoder: 64 sentences of 16 target tokens; 1.497 GFLOP (bench.test.ts counts it).
  // Decoder: 4 causal blocks over 64 sequences of 32 tokens: per block Q/K/V/O 8·2048·64² + attention
  // 4·64·32²·64 + feed-forward 4·2048·64·256 = 218,103,808; output 2·2048·64·32; ×3 for backward:
  // 3 · (4 · 218,103,808 + 8,388,608) = 2.642 GFLOP. Parameters: embedding 32·64, 4 blocks of 49,984,
  // final norm 128, output 64·32 + 32 = 204,192.
  const expected = [
    { arch: 'encoder-decoder', params: 239904, tokens: 64 * 16, gflop: 1.497366528 },
    { arch: 'decoder', params: 204192, tokens: 64 * 32, gflop: 2.64241152 },
  ];
  for (const want of expected) {
    const train = row('train', want.arch);
    expect(train).toMatchObject({ config: 'small', arch: want.arch, backend: 'wasm', workers: 1, steps: 1, params: want.params });
    const ms = train.msPerStep as number;
    expect(ms).toBeGreaterThan(0);
    // Rates from the unrounded time, to 1 token/s and 0.1 GFLOP/s.
    expectRateOf(train.tokensPerSecond, want.tokens, ms, 0.5);
    expectRateOf(train.gflops, want.gflop, ms, 0.05);
    const peerRow = row('peer', want.arch);
    expect(peerRow).toMatchObject({ kind: 'peer', config: 'small', arch: want.arch, name: 'stand-in', msPerStep: 100 });
    expect(peerRow.throughputRatio).toBeCloseTo(100 / ms, 1);
  }
});

it('bench: a reference trainer that fails is reported in one line and the bench still succeeds', () => {
  const r = run('bench', '--parts', 'train', '--workers', '1', '--backend', 'wasm', '--config', 'small', '--arch', 'encoder-decoder', '--steps', '1', '--warmup', '0', '--peer', `"${process.execPath}" -e "process.exit(3)" --`);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/small encoder-decoder: the reference trainer failed: exit 3/);
});

it('bench --relaxed-simd: every row says the products used fused multiply-add, and a step still trains', () => {
  const r = run('bench', '--parts', 'train', '--workers', '1', '2', '--backend', 'wasm', '--config', 'small', '--arch', 'encoder-decoder', '--steps', '1', '--warmup', '0', '--json', '--relaxed-simd');
  expect(r.status, r.stderr).toBe(0);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; relaxedSimd?: boolean; msPerStep?: number });
  const train = rows.filter((row) => row.kind === 'train');
  expect(train.length).toBe(2);
  for (const row of rows) expect(row.relaxedSimd).toBe(true);
  for (const row of train) expect(row.msPerStep).toBeGreaterThan(0);
});

it('atencao demo translates the two seed sentences with the shipped model and shows the attention', () => {
  const r = run('demo', '--no-color', '--backend', 'wasm');
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toContain('→ She poured water from the jug into the glass until the glass was full.   (as expected)');
  expect(r.stdout).toContain('→ She poured water from the jug into the glass until the jug was empty.   (as expected)');
  expect(r.stdout).toMatch(/writing "glass", the decoder looks most at: copo \d\.\d\d/);
  expect(r.stdout).toMatch(/writing "jug", the decoder looks most at: jarra \d\.\d\d/);
});

it('atencao serve refuses a missing model with one line', () => {
  const r = run('serve', '--model', '/nonexistent/model', '--port', '0');
  expect(r.status).toBe(1);
  expect(r.stderr.trim()).toBe("atencao: model folder '/nonexistent/model' not found");
});
