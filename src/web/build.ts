/**
 * Build the browser page: bundle src/web/main.ts (with TensorFlow.js and the atencao layers) into
 * dist/web/app.js, the training worker src/web/studio-worker.ts into dist/web/studio-worker.js,
 * copy the wasm backend's binaries into dist/web/wasm/ and write dist/web/index.html. The folder
 * works from `atencao serve` and from any static host. Runs as part of `npm run build`.
 *
 * The library's Node imports resolve to small browser versions (src/web/shims/): an in-memory
 * file system for dropped data files and model folders, POSIX paths, SHA-256, Buffer; the Node
 * modules the page never reaches (worker threads, child processes) to empty ones.
 */
import { build, type Plugin } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { webPage } from './page.js';

const src = fileURLToPath(new URL('../../src/web/', import.meta.url));
const out = fileURLToPath(new URL('./', import.meta.url)); // dist/web/
const shims = join(src, 'shims');

const SHIMS: Record<string, string> = { fs: 'fs.ts', path: 'path.ts', crypto: 'crypto.ts' };

/** `node:fs` and friends → src/web/shims/; other Node modules → an empty module. */
const nodeShims: Plugin = {
  name: 'node-shims',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => {
      const name = args.path.slice('node:'.length);
      return SHIMS[name] !== undefined ? { path: join(shims, SHIMS[name]!) } : { path: name, namespace: 'empty-node-module' };
    });
    b.onLoad({ filter: /.*/, namespace: 'empty-node-module' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
  },
};

mkdirSync(join(out, 'wasm'), { recursive: true });
const common = {
  bundle: true,
  format: 'esm' as const,
  platform: 'browser' as const,
  target: 'es2020',
  minify: true,
  logLevel: 'warning' as const,
  plugins: [nodeShims],
  // Node's globals the library names, where a browser has none.
  inject: [join(shims, 'buffer.ts'), join(shims, 'process.ts'), join(shims, 'globals.ts')],
};
await Promise.all([
  build({ ...common, entryPoints: [join(src, 'main.ts')], outfile: join(out, 'app.js') }),
  build({ ...common, entryPoints: [join(src, 'studio-worker.ts')], outfile: join(out, 'studio-worker.js') }),
]);
const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
  if (existsSync(join(wasmDir, f))) copyFileSync(join(wasmDir, f), join(out, 'wasm', f));
}
// uPlot's stylesheet (the charts' legend and cursor), inlined in the page.
const chartCss = readFileSync(join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist', 'uPlot.min.css'), 'utf8');
writeFileSync(join(out, 'index.html'), webPage(chartCss));
