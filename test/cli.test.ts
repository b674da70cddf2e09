import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

it('atencao --help lists the commands', () => {
  const r = run('--help');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('atencao <command> [options]');
  expect(r.stdout).toContain('atencao bench');
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

it('bench --json prints one JSON object per line with the required fields', () => {
  const r = run('bench', '--parts', 'train', '--workers', '1', '--backend', 'wasm', '--config', 'small', '--steps', '1', '--warmup', '0', '--json');
  expect(r.status, r.stderr).toBe(0);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ config: 'small', backend: 'wasm', steps: 1, params: 239904 });
  expect(rows[0]!.msPerStep).toBeGreaterThan(0);
  expect(rows[0]!.tokensPerSecond).toBeCloseTo((64 * 16) / ((rows[0]!.msPerStep as number) / 1000), -1);
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
