import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AtencaoError } from '../errors.js';
import { loadModelFolder } from '../infer/load.js';
import { readModelFolder, SERVED_FILES } from '../io/model-dir.js';

export interface ServeOptions {
  /** Model folder made by `atencao train`, of any family; without one the page offers the training studio alone. */
  model?: string;
  /** Default: 8080; 0 picks a free port. */
  port?: number;
  /** Default: 127.0.0.1 (only this machine). */
  host?: string;
  /** Further names the page may be reached by (a reverse proxy's), besides the addresses listened on. */
  allowedHosts?: readonly string[];
}

export interface RunningServer {
  url: string;
  /** The host names requests may carry in their Host header. */
  allowedHosts: readonly string[];
  /** Stop at once: open connections, half-sent requests included, are cut. */
  close(): Promise<void>;
}

/** The only files of a model folder the page needs; nothing else in it is ever served. */
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  json: 'application/json',
  bin: 'application/octet-stream',
  wasm: 'application/wasm',
};
/** Seconds a client may take to send a request's headers, and the whole request. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Serve the attention explorer page (with its training studio and the studio's worker) and,
 * read-only, the few files of one model folder, if given: without one, the page offers the
 * studio alone. Every file
 * is read and checked once, at start (the model files by the same checks as every command, then
 * a model is built from those very bytes), and the bytes are served from memory: replacing a file
 * of the folder afterwards — by a link to another file, a FIFO, anything — changes nothing served.
 * Routes are a fixed list, so nothing else can be requested however the URL is encoded; requests
 * whose Host header is not a name the server listens on are refused (a page of another site cannot
 * reach it by DNS rebinding).
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  // Check the model before serving it: a broken folder is a clear error now, not a broken page later.
  const folder = options.model === undefined ? undefined : readModelFolder(options.model);
  if (folder !== undefined) loadModelFolder(folder).model.dispose();
  const web = fileURLToPath(new URL('../../dist/web/', import.meta.url)); // from src/web or dist/web alike
  if (!existsSync(join(web, 'app.js'))) throw new AtencaoError(`the page is not built (no ${join(web, 'app.js')}); run 'npm run build'`);
  const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  // The page learns from this tag that a model is served (without it: the training studio alone).
  const built = readFileSync(join(web, 'index.html'), 'utf8');
  const page = Buffer.from(folder === undefined ? built : built.replace('<head>', '<head>\n<meta name="atencao-model" content="/model/">'), 'utf8');
  const routes = new Map<string, { bytes: Buffer; type: string }>([
    ['/', { bytes: page, type: TYPES.html! }],
    ['/index.html', { bytes: page, type: TYPES.html! }],
    ['/app.js', { bytes: readFileSync(join(web, 'app.js')), type: TYPES.js! }],
  ]);
  // The training studio's worker (absent from a page built before it existed).
  if (existsSync(join(web, 'studio-worker.js'))) routes.set('/studio-worker.js', { bytes: readFileSync(join(web, 'studio-worker.js')), type: TYPES.js! });
  if (folder !== undefined) for (const f of SERVED_FILES) routes.set(`/model/${f}`, { bytes: folder.files[f], type: TYPES[f.split('.').pop()!]! });
  for (const f of WASM_FILES) if (existsSync(join(wasmDir, f))) routes.set(`/wasm/${f}`, { bytes: readFileSync(join(wasmDir, f)), type: TYPES.wasm! });

  const host = options.host ?? '127.0.0.1';
  const allowed = allowedHostNames(host, options.allowedHosts ?? []);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    const name = hostName(req.headers.host);
    if (name === undefined || !allowed.has(name)) return send(res, 403, `host '${req.headers.host ?? ''}' is not served here; open the page at ${[...allowed][0]}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed');
    const route = routes.get((req.url ?? '/').split('?')[0]!);
    if (route === undefined) return send(res, 404, 'not found');
    res.writeHead(200, { 'Content-Type': route.type, 'Content-Length': route.bytes.length });
    res.end(req.method === 'HEAD' ? undefined : route.bytes);
  });
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = isWildcard(host) ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}/`,
    allowedHosts: [...allowed],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // close() alone waits for every open connection, a client holding a request half-sent included.
        server.closeAllConnections();
      }),
  };
}

/** Addresses that reach only this machine. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === '';
}

/**
 * The names a request's Host header may carry: the loopback names, the address listened on, and
 * for a server listening on every interface, this machine's name and its interfaces' addresses.
 */
export function allowedHostNames(host: string, extra: readonly string[]): Set<string> {
  const names = ['127.0.0.1', 'localhost', '[::1]', host, ...extra];
  if (isWildcard(host)) {
    names.push(hostname());
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.push(a.address);
  }
  return new Set(names.filter((n) => !isWildcard(n)).map((n) => normalizeHost(n.includes(':') && !n.startsWith('[') ? `[${n}]` : n)));
}

/** The host name of a Host header ("[::1]:8080" → "[::1]", "LocalHost.:80" → "localhost"), or undefined. */
export function hostName(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::\d*)?$/.exec(header.trim());
  return m === null ? undefined : normalizeHost(m[1]!);
}

function normalizeHost(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}
function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}
