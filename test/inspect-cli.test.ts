import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';

const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
const MODEL = new URL('../models/pt-en', import.meta.url).pathname;
const CHEIO = 'Ela derramou água da jarra para o copo até que ficasse cheio.';
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'inspect', ...args, '--backend', 'wasm'], { encoding: 'utf8', timeout: 60_000 });

it('atencao inspect --help names every tool, with examples', () => {
  const r = run('--help');
  expect(r.status).toBe(0);
  for (const tool of ['ablate', 'patch', 'lens', 'rollout', 'value-norm', 'neurons', 'steps']) expect(r.stdout).toContain(tool);
  expect(r.stdout).toContain('Examples:');
});

it('ablate --format json reports the decision and a grid per kind', () => {
  const r = run('ablate', '--model', MODEL, '--text', CHEIO, '--format', 'json');
  expect(r.status, r.stderr).toBe(0);
  const report = JSON.parse(r.stdout) as { decision: { rightLabel: string }; clean: number; grids: { kind: string; change: number[][] }[] };
  expect(report.decision.rightLabel).toBe('glass');
  expect(report.grids.map((g) => g.kind)).toEqual(['encoder', 'decoder', 'cross']);
});

it('bad arguments: one line, no stack trace, exit 2 for usage and 1 for a text without the construction', () => {
  const head = run('ablate', '--model', MODEL, '--text', CHEIO, '--heads', '3.1');
  expect(head.status).toBe(2);
  expect(head.stderr.trim().split('\n')).toHaveLength(1);
  expect(head.stderr).toContain('unknown head encoder:3.1');
  const text = run('patch', '--model', MODEL, '--text', 'Ela lavou o copo.');
  expect(text.status).toBe(1);
  expect(text.stderr.trim()).toBe(`atencao: 'Ela lavou o copo.' has no "da|do X para a|o Y" with two containers`);
  const svg = run('steps', '--model', MODEL, '--text', CHEIO, '--format', 'svg');
  expect(svg.status).toBe(2);
  expect(svg.stderr).not.toContain('    at ');
});
