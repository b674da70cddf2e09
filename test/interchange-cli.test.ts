import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/** `atencao import` and `atencao export` as a user runs them (from source, through tsx). */
const TSX = new URL('../node_modules/.bin/tsx', import.meta.url).pathname;
const ROOT = new URL('..', import.meta.url).pathname;
const FIXTURES = join(ROOT, 'test/fixtures/hf');
const temp = mkdtempSync(join(tmpdir(), 'atencao-interchange-cli-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));
const run = (...args: string[]) => spawnSync(TSX, ['src/cli/main.ts', ...args, '--backend', 'cpu'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });

describe('atencao import / export', () => {
  it('imports the tiny GPT-2 and exports it as ONNX', () => {
    const model = join(temp, 'gpt2');
    let r = run('import', '--from', join(FIXTURES, 'gpt2'), '--out', model);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^imported gpt2 as decoder: d 16, 2 heads, 2 layers, ff 48, maxLen 32, vocab 303\n11,199 weights written to .* in \d+\.\d s\n$/);
    r = run('export', '--model', model, '--format', 'onnx', '--out', join(temp, 'gpt2.onnx'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('gpt2.decoder-step.onnx');
    expect(r.stdout).toContain('(opset 17): input_ids, past_key_0, past_value_0, past_key_1, past_value_1 → logits, present_key_0');
    expect(existsSync(join(temp, 'gpt2.onnx')) && existsSync(join(temp, 'gpt2.decoder-step.onnx'))).toBe(true);
  });

  it('refusing another architecture is one line with exit code 1, and both commands have --help with examples', () => {
    const llama = join(temp, 'llama');
    cpSync(join(FIXTURES, 'gpt2'), llama, { recursive: true });
    writeFileSync(join(llama, 'config.json'), JSON.stringify({ model_type: 'llama' }));
    let r = run('import', '--from', llama, '--out', join(temp, 'never'));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`atencao: ${join(llama, 'config.json')} describes a 'llama' checkpoint; atencao imports gpt2 (GPT-2, imported as a decoder) and bert (BERT, imported as an encoder)\n`);
    expect(existsSync(join(temp, 'never'))).toBe(false);
    for (const command of ['import', 'export']) {
      r = run(command, '--help');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('Examples:');
    }
  });
});
