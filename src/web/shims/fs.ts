/**
 * The synchronous part of Node's `fs` the library uses, over an in-memory file system, for the
 * browser's training worker: a dropped data file is put here and read by the same corpus code as
 * in Node, a trained model is saved here by the same checkpoint code (then packed into an
 * archive), and an archive or folder loaded in the page is unpacked here and checked by the same
 * `readModelFolder`. Nothing here touches a disk.
 */
import { Buffer } from './buffer.js';
import { dirname, normalize } from './path.js';

const files = new Map<string, Uint8Array>();
const folders = new Set<string>(['/']);
const open = new Map<number, { path: string; data: Uint8Array; chunks?: Uint8Array[] }>();
let nextFd = 3;

function fail(code: string, what: string, path: string): never {
  const error = new Error(`${code}: ${what}, '${path}'`) as Error & { code: string };
  error.code = code;
  throw error;
}

const key = (path: string) => normalize(path.startsWith('/') ? path : `/${path}`);

interface Stats {
  size: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
  isSymbolicLink(): boolean;
}

function stats(size: number, folder: boolean): Stats {
  const no = () => false;
  return { size, isFile: () => !folder, isDirectory: () => folder, isFIFO: no, isCharacterDevice: no, isBlockDevice: no, isSocket: no, isSymbolicLink: no };
}

export const constants = { O_RDONLY: 0, O_NOFOLLOW: 0, O_NONBLOCK: 0 };

/** Put a file in the memory file system (the worker's own use: dropped files, unpacked archives). */
export function putFile(path: string, data: Uint8Array): void {
  mkdirSync(dirname(key(path)), { recursive: true });
  files.set(key(path), data);
}

export function existsSync(path: string): boolean {
  return files.has(key(path)) || folders.has(key(path));
}

export function statSync(path: string): Stats {
  const k = key(path);
  if (folders.has(k)) return stats(0, true);
  const data = files.get(k);
  if (data === undefined) fail('ENOENT', 'no such file or directory', path);
  return stats(data.length, false);
}

export const lstatSync = statSync;

export function realpathSync(path: string): string {
  statSync(path);
  return key(path);
}

export function fstatSync(fd: number): Stats {
  const f = open.get(fd);
  if (f === undefined) fail('EBADF', 'bad file descriptor', String(fd));
  return stats(f.data.length, false);
}

export function openSync(path: string, flags: number | string = 'r'): number {
  const k = key(path);
  if (folders.has(k)) fail('EISDIR', 'illegal operation on a directory', path);
  if (flags === 'w' || flags === 'wx') {
    if (!folders.has(dirname(k))) fail('ENOENT', 'no such file or directory', path);
    const fd = nextFd++;
    open.set(fd, { path: k, data: new Uint8Array(0), chunks: [] });
    return fd;
  }
  const data = files.get(k);
  if (data === undefined) fail('ENOENT', 'no such file or directory', path);
  const fd = nextFd++;
  open.set(fd, { path: k, data });
  return fd;
}

/** Reads from `position`, or (null) from where the last read of this descriptor stopped. */
const cursors = new Map<number, number>();
export function readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): number {
  const f = open.get(fd);
  if (f === undefined) fail('EBADF', 'bad file descriptor', String(fd));
  const at = position ?? cursors.get(fd) ?? 0;
  const n = Math.max(0, Math.min(length, f.data.length - at));
  buffer.set(f.data.subarray(at, at + n), offset);
  if (position === null) cursors.set(fd, at + n);
  return n;
}

export function writeSync(fd: number, bytes: Uint8Array, offset = 0, length = bytes.length - offset): number {
  const f = open.get(fd);
  if (f?.chunks === undefined) fail('EBADF', 'bad file descriptor', String(fd));
  f.chunks.push(bytes.slice(offset, offset + length));
  return length;
}

export function closeSync(fd: number): void {
  const f = open.get(fd);
  open.delete(fd);
  cursors.delete(fd);
  if (f?.chunks !== undefined) files.set(f.path, Buffer.concat(f.chunks));
}

export function fsyncSync(): void {
  // Memory is as durable as it gets here.
}

export function mkdirSync(path: string, options: { recursive?: boolean } = {}): void {
  const k = key(path);
  if (folders.has(k)) {
    if (options.recursive === true) return;
    fail('EEXIST', 'file already exists', path);
  }
  if (files.has(k)) fail('EEXIST', 'file already exists', path);
  const parent = dirname(k);
  if (!folders.has(parent)) {
    if (options.recursive !== true) fail('ENOENT', 'no such file or directory', path);
    mkdirSync(parent, { recursive: true });
  }
  folders.add(k);
}

let temp = 0;
export function mkdtempSync(prefix: string): string {
  const path = `${prefix}${(temp++).toString(36)}`;
  mkdirSync(path, { recursive: true });
  return key(path);
}

export function readFileSync(path: string, encoding?: string | { encoding?: string }): Buffer | string {
  const k = key(path);
  const data = files.get(k);
  if (data === undefined) fail(folders.has(k) ? 'EISDIR' : 'ENOENT', 'cannot read', path);
  const bytes = Buffer.view(data);
  const enc = typeof encoding === 'string' ? encoding : encoding?.encoding;
  return enc === undefined ? bytes : bytes.toString(enc);
}

export function writeFileSync(path: string, data: string | Uint8Array): void {
  const k = key(path);
  if (!folders.has(dirname(k))) fail('ENOENT', 'no such file or directory', path);
  files.set(k, typeof data === 'string' ? Buffer.from(data) : data.slice());
}

export function readdirSync(path: string): string[] {
  const k = key(path);
  if (!folders.has(k)) fail('ENOENT', 'no such file or directory', path);
  const prefix = k === '/' ? '/' : `${k}/`;
  const names = new Set<string>();
  for (const p of [...files.keys(), ...folders]) if (p.startsWith(prefix) && p !== k) names.add(p.slice(prefix.length).split('/')[0]!);
  return [...names].sort();
}

export function renameSync(from: string, to: string): void {
  const a = key(from);
  const b = key(to);
  const data = files.get(a);
  if (data !== undefined) {
    if (!folders.has(dirname(b))) fail('ENOENT', 'no such file or directory', to);
    files.delete(a);
    files.set(b, data);
    return;
  }
  if (!folders.has(a)) fail('ENOENT', 'no such file or directory', from);
  for (const p of [...files.keys()]) if (p.startsWith(`${a}/`)) { files.set(b + p.slice(a.length), files.get(p)!); files.delete(p); }
  for (const p of [...folders]) if (p === a || p.startsWith(`${a}/`)) { folders.delete(p); folders.add(b + p.slice(a.length)); }
}

export function rmSync(path: string, options: { recursive?: boolean; force?: boolean } = {}): void {
  const k = key(path);
  if (files.delete(k)) return;
  if (!folders.has(k)) {
    if (options.force === true) return;
    fail('ENOENT', 'no such file or directory', path);
  }
  if (options.recursive !== true && readdirSync(k).length > 0) fail('ENOTEMPTY', 'directory not empty', path);
  for (const p of [...files.keys()]) if (p.startsWith(`${k}/`)) files.delete(p);
  for (const p of [...folders]) if (p === k || p.startsWith(`${k}/`)) folders.delete(p);
}

export function rmdirSync(path: string): void {
  rmSync(path);
}

export default { constants, existsSync, statSync, lstatSync, realpathSync, fstatSync, openSync, readSync, writeSync, closeSync, fsyncSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, readdirSync, renameSync, rmSync, rmdirSync };
