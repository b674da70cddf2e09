import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Imports run downhill: cli → (train | infer | viz | web) → model → layers → attention/ops → util.
 * These tests read the import lines of src/ (type-only imports included: a type couples levels
 * too) and name every import that climbs.
 */

const SRC = new URL('../src', import.meta.url).pathname;

/** Every module a source text imports or re-exports: static, side-effect, `export … from` and dynamic `import()`. */
export function importsOf(text: string): string[] {
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/gms, // import x from '…', import type {…} from '…', export * from '…'
    /^\s*import\s*['"]([^'"]+)['"]/gm, // import '…' (side effects)
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g, // import('…')
  ];
  for (const pattern of patterns) for (const m of text.matchAll(pattern)) found.push(m[1]!);
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** file (relative to src/, e.g. "io/weights.ts") → the src files it imports (same form; packages left out). */
const GRAPH = new Map(
  sourceFiles(SRC).map((file) => {
    const imports = importsOf(readFileSync(file, 'utf8'))
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, '.ts'));
    return [relative(SRC, file), imports] as const;
  }),
);

/** Imports from files under `from` (a folder or a file) into any of the `forbidden` folders or files. */
function climbing(from: string, forbidden: readonly string[], allowed: (target: string) => boolean = () => false, graph: ReadonlyMap<string, readonly string[]> = GRAPH): string[] {
  const inside = (path: string, area: string) => path === area || path.startsWith(`${area}/`);
  const out: string[] = [];
  for (const [file, imports] of graph) {
    if (!inside(file, from)) continue;
    for (const target of imports) {
      if (forbidden.some((area) => inside(target, area)) && !allowed(target)) out.push(`${file} imports ${target}`);
    }
  }
  return out;
}

describe('the import parser', () => {
  it('finds every form of import and re-export, one per line or spread over several', () => {
    const text = [
      "import * as tf from '@tensorflow/tfjs';",
      "import { a, b } from './a.js';",
      'import {',
      '  c,',
      '  type D,',
      "} from '../model/c.js';",
      "import type { E } from '../train/e.js';",
      "import './side-effect.js';",
      "export { f } from './f.js';",
      "export * from '../infer/g.js';",
      "const h = await import('../cli/h.js');",
      "// a comment mentioning from 'nowhere' is not an import",
    ].join('\n');
    expect(importsOf(text)).toEqual(['@tensorflow/tfjs', './a.js', '../model/c.js', '../train/e.js', './f.js', '../infer/g.js', './side-effect.js', '../cli/h.js']);
  });

  it('names a climbing import, and only that one', () => {
    const graph = new Map([
      ['io/a.ts', ['io/b.ts', 'errors.ts', 'model/model.ts']],
      ['io/b.ts', ['config.ts']],
      ['infer/c.ts', ['io/model-dir.ts', 'io/atomic.ts']],
    ]);
    expect(climbing('io', ['model', 'train'], undefined, graph)).toEqual(['io/a.ts imports model/model.ts']);
    expect(climbing('infer', ['io'], (t) => t === 'io/model-dir.ts', graph)).toEqual(['infer/c.ts imports io/atomic.ts']);
  });

  it('reads the whole source tree', () => {
    expect(GRAPH.size).toBeGreaterThan(80);
    expect(GRAPH.get('model/transformer.ts')).toContain('model/stack.ts');
    expect(GRAPH.get('infer/load.ts')).toContain('io/model-dir.ts');
  });
});

describe('imports run downhill', () => {
  it('io (files and formats) imports nothing of train, model, infer, cli, layers, viz or web', () => {
    expect(climbing('io', ['train', 'model', 'infer', 'cli', 'layers', 'viz', 'web'])).toEqual([]);
  });

  it('the layer registry does not import the models (they register themselves)', () => {
    expect(climbing('layers/registry.ts', ['model'])).toEqual([]);
  });

  it('layers import nothing of model, train, infer or cli', () => {
    expect(climbing('layers', ['model', 'train', 'infer', 'cli', 'viz', 'web'])).toEqual([]);
  });

  it('model imports nothing of train, infer or cli', () => {
    expect(climbing('model', ['train', 'infer', 'cli', 'viz', 'web'])).toEqual([]);
  });

  it('attention and ops import nothing of layers, model, train, infer or cli', () => {
    for (const area of ['attention', 'ops']) expect(climbing(area, ['layers', 'model', 'train', 'infer', 'cli', 'viz', 'web'])).toEqual([]);
  });

  it('infer uses io only through model-files, model-dir, checkpoint and weights', () => {
    const PUBLIC = new Set(['io/model-files.ts', 'io/model-dir.ts', 'io/checkpoint.ts', 'io/weights.ts']);
    expect(climbing('infer', ['io'], (target) => PUBLIC.has(target))).toEqual([]);
    expect(climbing('infer', ['train', 'cli'])).toEqual([]);
  });

  it('inspect imports nothing of train, cli or web; rnn nothing of train, infer, cli, viz, web or inspect', () => {
    expect(climbing('inspect', ['train', 'cli', 'web'])).toEqual([]);
    expect(climbing('rnn', ['train', 'infer', 'cli', 'viz', 'web', 'inspect'])).toEqual([]);
  });

  it('util imports nothing else from src but the named errors', () => {
    const outside = [...GRAPH.keys()].map((f) => f.split('/')[0]!).filter((top) => top !== 'util' && top !== 'errors.ts');
    expect(climbing('util', [...new Set(outside)])).toEqual([]);
  });
});
