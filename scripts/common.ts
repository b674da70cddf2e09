/**
 * Small helpers shared by the walkthrough scripts: flags, output folder, printing matrices.
 * Every script takes --fast (tiny step counts, used by the test suite so the scripts never rot)
 * and --out DIR (default: scripts-output/<script>).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setBackend, describeBackend } from '../src/index.js';

export interface ScriptContext {
  fast: boolean;
  out: string;
  /** Write a file into the output folder and say where. */
  save(name: string, content: string): string;
}

export async function startScript(name: string, summary: string): Promise<ScriptContext> {
  const args = process.argv.slice(2);
  const fast = args.includes('--fast');
  const outFlag = args.indexOf('--out');
  const out = outFlag >= 0 ? args[outFlag + 1]! : join('scripts-output', name);
  mkdirSync(out, { recursive: true });
  const info = await setBackend('auto');
  console.log(`# ${summary}\n(${describeBackend(info)}${fast ? ', fast mode' : ''})\n`);
  return {
    fast,
    out,
    save(file: string, content: string): string {
      const path = join(out, file);
      writeFileSync(path, content);
      return path;
    },
  };
}

/** A matrix as aligned rows of numbers, with optional row labels. */
export function formatMatrix(m: readonly (readonly number[])[], labels?: readonly string[], digits = 2): string {
  const width = Math.max(...m.flat().map((x) => x.toFixed(digits).length)) + 1;
  const labelWidth = labels ? Math.max(...labels.map((l) => l.length)) + 1 : 0;
  return m.map((row, i) => `${labels ? labels[i]!.padEnd(labelWidth) : ''}${row.map((x) => x.toFixed(digits).padStart(width)).join('')}`).join('\n');
}

export function section(title: string): void {
  console.log(`\n## ${title}\n`);
}
