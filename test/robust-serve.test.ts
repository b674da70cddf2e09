import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allowedHostNames, hostName, startServer } from '../src/web/server.js';

const MODEL = new URL('../models/pt-en', import.meta.url).pathname;
const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'atencao-serve-'));

/** GET with a chosen Host header (Node's client sends what it is given). */
function get(url: URL, path: string, host?: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'GET', headers: host === undefined ? {} : { Host: host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
    req.end();
  });
}

/** The status line's code of a request sent as raw bytes. */
function rawStatus(url: URL, text: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let reply = '';
    const socket = connect(Number(url.port), url.hostname, () => socket.write(text));
    socket.on('data', (d) => (reply += d));
    socket.on('end', () => resolve(Number(/^HTTP\/1\.\d (\d+)/.exec(reply)?.[1] ?? -1)));
    socket.on('error', reject);
  });
}

/** A connection that sends half a request and then waits. */
function halfRequest(url: URL): Promise<ReturnType<typeof connect>> {
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(`GET /model/weights.bin HTTP/1.1\r\nHost: ${url.host}\r\nX-Slow: `);
      resolve(socket);
    });
    socket.on('error', () => {});
  });
}

describe('Host header (DNS rebinding)', () => {
  it('host names are read from the header as a browser sends them', () => {
    expect(hostName('127.0.0.1:8080')).toBe('127.0.0.1');
    expect(hostName('LocalHost.:80')).toBe('localhost');
    expect(hostName('[::1]:8080')).toBe('[::1]');
    expect(hostName('[::1]')).toBe('[::1]');
    expect(hostName('evil.example')).toBe('evil.example');
    expect(hostName('a:b:c')).toBeUndefined();
    expect(hostName('')).toBeUndefined();
    expect(hostName(undefined)).toBeUndefined();
    expect([...allowedHostNames('127.0.0.1', [])].sort()).toEqual(['127.0.0.1', '[::1]', 'localhost']);
    expect(allowedHostNames('::1', ['Proxy.Example']).has('proxy.example')).toBe(true);
    expect(allowedHostNames('0.0.0.0', []).has('0.0.0.0')).toBe(false);
  });

  it('answers only for the names it listens on', async () => {
    const server = await startServer({ model: MODEL, port: 0, allowedHosts: ['atencao.test'] });
    const url = new URL(server.url);
    try {
      for (const host of [url.host, `localhost:${url.port}`, `[::1]:${url.port}`, 'atencao.test']) expect((await get(url, '/model/config.json', host)).status, host).toBe(200);
      for (const host of ['evil.example', `evil.example:${url.port}`, 'localhost.evil.example', '127.0.0.1.nip.io']) {
        const r = await get(url, '/model/config.json', host);
        expect(r.status, host).toBe(403);
        expect(r.body.toString()).not.toContain('formatVersion');
      }
      expect(await rawStatus(url, 'GET /model/config.json HTTP/1.0\r\n\r\n'), 'no Host header').toBe(403);
    } finally {
      await server.close();
    }
  });
});

describe('the served files are the ones checked at start', () => {
  it('swapping a model file for a link to /etc/passwd or a FIFO changes nothing served, and nothing blocks', async () => {
    const dir = join(root, 'swapped');
    cpSync(MODEL, dir, { recursive: true });
    const original = { tokenizer: readFileSync(join(dir, 'tokenizer.json')), model: readFileSync(join(dir, 'model.json')), weights: readFileSync(join(dir, 'weights.bin')) };
    const server = await startServer({ model: dir, port: 0 });
    const url = new URL(server.url);
    try {
      rmSync(join(dir, 'tokenizer.json'));
      symlinkSync('/etc/passwd', join(dir, 'tokenizer.json'));
      rmSync(join(dir, 'model.json'));
      execFileSync('mkfifo', [join(dir, 'model.json')]);
      rmSync(join(dir, 'weights.bin'));
      const [tokenizer, model, weights] = await Promise.all(['/model/tokenizer.json', '/model/model.json', '/model/weights.bin'].map((p) => get(url, p)));
      expect(Buffer.compare(tokenizer!.body, original.tokenizer)).toBe(0);
      expect(Buffer.compare(model!.body, original.model)).toBe(0);
      expect(Buffer.compare(weights!.body, original.weights)).toBe(0);
      expect((await get(url, '/')).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('stopping', () => {
  it('close() returns at once while a client holds a request half-sent', async () => {
    const server = await startServer({ model: MODEL, port: 0 });
    const url = new URL(server.url);
    const socket = await halfRequest(url);
    const start = Date.now();
    await server.close();
    expect(Date.now() - start).toBeLessThan(1000);
    socket.destroy();
  });

  it('atencao serve on every interface warns, refuses foreign hosts, and exits within a second of SIGTERM', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--model', MODEL, '--port', '0', '--host', '0.0.0.0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const start = Date.now();
    while (!/serving .* at (http:\S+)/.test(err)) {
      if (Date.now() - start > 30_000 || child.exitCode !== null) throw new Error(`serve did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(err).toContain('warning: listening on 0.0.0.0, not only on this machine: anyone who can reach it can use the page and download the model files');
    const url = new URL(/serving .* at (http:\S+)/.exec(err)![1]!);
    expect((await get(url, '/model/config.json')).status).toBe(200);
    expect((await get(url, '/model/config.json', 'rebind.evil.example')).status).toBe(403);
    const socket = await halfRequest(url);
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const killedAt = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - killedAt).toBeLessThan(1500);
    socket.destroy();
  }, 60_000);
});
