import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AtencaoError } from '../errors.js';
import { loadModelDir } from '../infer/load.js';

export interface ServeOptions {
  /** Model folder made by `atencao train`, of any family. */
  model: string;
  /** Default: 8080; 0 picks a free port. */
  port?: number;
  /** Default: 127.0.0.1 (only this machine). */
  host?: string;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/** The only files of a model folder the page needs; nothing else in it is ever served. */
const MODEL_FILES = new Set(['model.json', 'weights.bin', 'tokenizer.json', 'config.json']);
const WASM_FILES = new Set(['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']);
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  json: 'application/json',
  bin: 'application/octet-stream',
  wasm: 'application/wasm',
};

/**
 * Serve the attention explorer page and, read-only, the few files of one model folder. Routes are a
 * fixed list (no path is ever joined from user input), so nothing outside them — and nothing
 * outside the model folder — can be requested, however the URL is encoded.
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  // Check the model before serving it: a broken folder is a clear error now, not a broken page later.
  (await loadModelDir(options.model)).model.dispose();
  const web = fileURLToPath(new URL('../../dist/web/', import.meta.url)); // from src/web or dist/web alike
  if (!existsSync(join(web, 'app.js'))) throw new AtencaoError(`the page is not built (no ${join(web, 'app.js')}); run 'npm run build'`);
  const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  const routes = new Map<string, string>([
    ['/', join(web, 'index.html')],
    ['/index.html', join(web, 'index.html')],
    ['/app.js', join(web, 'app.js')],
  ]);
  for (const f of MODEL_FILES) routes.set(`/model/${f}`, join(options.model, f));
  for (const f of WASM_FILES) routes.set(`/wasm/${f}`, join(wasmDir, f));

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed');
    const path = (req.url ?? '/').split('?')[0]!;
    const file = routes.get(path);
    if (file === undefined || !existsSync(file)) return send(res, 404, 'not found');
    const size = statSync(file).size;
    res.writeHead(200, { 'Content-Type': TYPES[file.split('.').pop()!] ?? 'application/octet-stream', 'Content-Length': size });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}
