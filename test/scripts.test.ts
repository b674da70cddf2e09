import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const TSX = new URL('../node_modules/.bin/tsx', import.meta.url).pathname;
const ROOT = new URL('..', import.meta.url).pathname;

/** Run a walkthrough in its fast mode (few steps), as the README tells users to run it. */
function runScript(name: string): { stdout: string; out: string } {
  const out = mkdtempSync(join(tmpdir(), `atencao-${name}-`));
  const r = spawnSync(TSX, [`scripts/${name}.ts`, '--fast', '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  return { stdout: r.stdout, out };
}

it('01: attention by hand matches the library', () => {
  const { stdout, out } = runScript('01-attention-by-hand');
  expect(stdout).toMatch(/check: scaledDotProductAttention gives the same weights \(max difference \d\.\de-\d+\)/);
  expect(stdout).toMatch(/check: MultiHeadAttention with the same weights matches the hand computation \(max difference \d\.\de-\d+\)/);
  expect(existsSync(join(out, 'heads.svg'))).toBe(true);
});

it('02: the copy walkthrough trains in stages and measures the diagonal', () => {
  const { stdout, out } = runScript('02-copy-diagonal');
  expect(stdout.match(/^\s+(1|10|20)\s+\d+%\s+0\.\d\d\s+head \d: 0\.\d\d$/gm)).toHaveLength(3);
  expect(existsSync(join(out, 'cross-attention.svg'))).toBe(true);
});

it('03: the translation walkthrough prints an alignment and writes its reports', () => {
  const { stdout, out } = runScript('03-translation-alignment');
  expect(stdout).toContain('English word → Portuguese word it attends to most');
  expect(existsSync(join(out, 'alignment.html'))).toBe(true);
});

it('04: cheio/vazia names the best heads on held-out sentences of the shipped model', () => {
  const { stdout, out } = runScript('04-cheio-vazia');
  expect(stdout).toMatch(/encoder: layer \d, head \d — 0\.\d\d of the adjective's attention/);
  expect(stdout).toMatch(/decoder: layer \d, head \d — writing the noun, [01]\.\d\d of its attention/);
  expect(stdout).toContain('held-out sentences translated exactly: 12 of 12');
  expect(existsSync(join(out, 'scores.json'))).toBe(true);
});

it('07: ablation, patching and the lens on the shipped model say where the referent is carried', () => {
  const { stdout, out } = runScript('07-inside-cheio-vazia');
  expect(stdout).toMatch(/The referent lives at the adjective: patching the encoder's stream at the adjective alone restores \d+%/);
  expect(stdout).toMatch(/Cross-attention layer 1: all heads patched together restore \d+%, the best single head \d+%/);
  expect(existsSync(join(out, 'inside.html'))).toBe(true);
});

it('08: an LSTM with and without attention and a transformer train on the same sentences', () => {
  const { stdout, out } = runScript('08-rnn-vs-attention');
  expect(stdout).toMatch(/^LSTM \+ attention\s+\d+\s+\d+$/m);
  expect(existsSync(join(out, 'exact-match.svg'))).toBe(true);
});

it('soak (short): constant tensors over training and translation', () => {
  const { stdout } = runScript('soak');
  expect(stdout).toMatch(/training: tensors (\d+) → \1 \(constant\)/);
  expect(stdout).toMatch(/translation: tensors (\d+) → \1 \(constant\)/);
  expect(stdout).toContain('OK: constant tensors');
}, 200_000); // ~85 s on a quiet 2-core machine; the script itself is cut at 180 s
