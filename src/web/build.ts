/**
 * Build the browser page: bundle src/web/main.ts (with TensorFlow.js and the atencao layers) into
 * dist/web/app.js and write dist/web/index.html. Runs as part of `npm run build`.
 */
import { build } from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { webPage } from './page.js';

const entry = fileURLToPath(new URL('../../src/web/main.ts', import.meta.url));
const out = fileURLToPath(new URL('./', import.meta.url)); // dist/web/

mkdirSync(out, { recursive: true });
await build({
  entryPoints: [entry],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  outfile: `${out}app.js`,
  logLevel: 'warning',
});
writeFileSync(`${out}index.html`, webPage());
