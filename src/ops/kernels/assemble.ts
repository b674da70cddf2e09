/**
 * Assemble the hand-written WebAssembly kernels (*.wat beside this file) into TypeScript modules that
 * hold their bytes, so the library needs no assembler at run time and works the same in browsers.
 * Run after editing a .wat file: `npm run kernels`. A test checks the committed bytes are current.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../../io/atomic.js';

export const KERNELS = ['gemm', 'gemm-relaxed', 'gemm-packed', 'gemm-packed-relaxed', 'adam', 'transpose', 'dropout', 'layer-norm', 'sum-rows', 'add-bias', 'attention', 'cross-entropy', 'sparse-gemm'] as const;

/** SIMD everywhere; threads for the optimizer's shared memory; relaxed SIMD for gemm-relaxed. */
const FEATURES = { simd: true, threads: true, relaxed_simd: true };

/** Where the .wat sources live: src/ops/kernels, also when this runs from dist. */
const SOURCE_DIR = fileURLToPath(new URL('../../../src/ops/kernels/', import.meta.url));

/** The module bytes of one kernel, assembled from its .wat source. */
export async function assemble(name: (typeof KERNELS)[number]): Promise<Uint8Array> {
  const wabt = await (await import('wabt')).default();
  const source = readFileSync(`${SOURCE_DIR}${name}.wat`, 'utf8');
  const module = wabt.parseWat(`${name}.wat`, source, FEATURES);
  try {
    // validate takes the features too (its type declaration does not say so).
    (module.validate as (features: typeof FEATURES) => void)(FEATURES);
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

/** The TypeScript module that carries the bytes. */
export function bytesModule(name: string, bytes: Uint8Array): string {
  const constName = `${name.replace(/-/g, '_').toUpperCase()}_WASM`;
  const rows: string[] = [];
  for (let i = 0; i < bytes.length; i += 24) rows.push(`  ${[...bytes.subarray(i, i + 24)].join(', ')},`);
  return `// Assembled from ${name}.wat by assemble.ts (npm run kernels); do not edit.\nexport const ${constName} = new Uint8Array([\n${rows.join('\n')}\n]);\n`;
}

export function modulePath(name: string): string {
  return `${SOURCE_DIR}${name}-wasm.ts`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const name of KERNELS) {
    const text = bytesModule(name, await assemble(name));
    const path = modulePath(name);
    let old = '';
    try {
      old = readFileSync(path, 'utf8');
    } catch {
      // first assembly
    }
    if (old !== text) writeFileAtomic(path, text);
    process.stdout.write(`${name}: ${old === text ? 'unchanged' : 'written'} (${path})\n`);
  }
}
