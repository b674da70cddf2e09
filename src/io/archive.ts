/**
 * A model folder as one file: an uncompressed POSIX tar (ustar) holding a single folder with the
 * files `atencao train` writes. The browser's training studio downloads models in this form and
 * loads them back; in Node, `unpackModelArchive` (or plain `tar -xf model.tar`) turns it into a
 * normal model folder that every command loads, checksums included.
 *
 * Reading refuses anything that is not such an archive, in one ModelFormatError line: a damaged
 * header, paths outside the folder, links or devices, files a model folder does not hold, sizes
 * past the limits below.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ModelFormatError, WriteError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';

/** Files a model folder holds, and so an archive may hold. */
export const ARCHIVE_FILES = /^(config\.json|tokenizer\.json|model\.json|weights\.bin|checksums\.json|metrics\.jsonl|film\.jsonl|evaluation\.json|optimizer-\d+\.bin)$/;
/** Largest archive read (weights, optimizer state, film). */
export const MAX_ARCHIVE_BYTES = 1024 * 1024 * 1024;
const BLOCK = 512;

export interface ArchiveFile {
  name: string;
  data: Uint8Array;
}

function writeString(header: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  header.set(bytes.subarray(0, length), offset);
}

function octal(header: Uint8Array, offset: number, length: number, value: number): void {
  writeString(header, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

function checksum(header: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  return sum;
}

/** Pack files into one folder `folder/` of a ustar archive (mtime `mtime` seconds, mode 0644). */
export function writeArchive(folder: string, files: readonly ArchiveFile[], mtime = 0): Uint8Array {
  checkName(folder, 'folder');
  const blocks: Uint8Array[] = [];
  const entry = (name: string, size: number, type: '0' | '5') => {
    const header = new Uint8Array(BLOCK);
    writeString(header, 0, 100, name);
    octal(header, 100, 8, type === '5' ? 0o755 : 0o644);
    octal(header, 108, 8, 0);
    octal(header, 116, 8, 0);
    octal(header, 124, 12, size);
    octal(header, 136, 12, Math.floor(mtime));
    header[156] = type.charCodeAt(0);
    writeString(header, 257, 6, 'ustar\0');
    writeString(header, 263, 2, '00');
    writeString(header, 148, 8, `${checksum(header).toString(8).padStart(6, '0')}\0 `);
    blocks.push(header);
  };
  entry(`${folder}/`, 0, '5');
  for (const file of files) {
    if (!ARCHIVE_FILES.test(file.name)) throw new ModelFormatError(`'${file.name}' is not a file of a model folder`);
    entry(`${folder}/${file.name}`, file.data.length, '0');
    blocks.push(file.data);
    const pad = (BLOCK - (file.data.length % BLOCK)) % BLOCK;
    if (pad > 0) blocks.push(new Uint8Array(pad));
  }
  blocks.push(new Uint8Array(2 * BLOCK));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let offset = 0;
  for (const b of blocks) {
    out.set(b, offset);
    offset += b.length;
  }
  return out;
}

function checkName(name: string, what: string): void {
  if (name === '' || name.length > 90 || /[/\\\0]/.test(name) || name === '.' || name === '..') throw new ModelFormatError(`a model archive's ${what} name '${name}' is not usable`);
}

function readString(bytes: Uint8Array, offset: number, length: number): string {
  const field = bytes.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
}

function readOctal(bytes: Uint8Array, offset: number, length: number, what: string, label: string): number {
  const text = readString(bytes, offset, length).trim();
  if (!/^[0-7]+$/.test(text)) throw new ModelFormatError(`${label} is not a model archive (a tar header's ${what} is damaged)`);
  return parseInt(text, 8);
}

/**
 * The folder name and files of a model archive, checked: every header's checksum, one folder
 * with only model-folder files in it (regular files, each once), every size within the archive.
 * `label` names the archive in messages.
 */
export function readArchive(bytes: Uint8Array, label: string): { folder: string; files: ArchiveFile[] } {
  if (bytes.length > MAX_ARCHIVE_BYTES) throw new ModelFormatError(`${label} is larger than ${MAX_ARCHIVE_BYTES / 2 ** 30} GiB`);
  if (bytes.length < BLOCK || bytes.length % BLOCK !== 0) throw new ModelFormatError(`${label} is not a model archive (a tar file is made of 512-byte blocks; this one has ${bytes.length} bytes)`);
  let folder: string | undefined;
  const files: ArchiveFile[] = [];
  let offset = 0;
  while (offset + BLOCK <= bytes.length) {
    const header = bytes.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break; // the end
    if (readOctal(header, 148, 8, 'checksum', label) !== checksum(header)) throw new ModelFormatError(`${label} is damaged (a tar header's checksum does not match)`);
    const size = readOctal(header, 124, 12, 'size', label);
    const type = String.fromCharCode(header[156]!);
    const prefix = readString(header, 345, 155);
    const path = (prefix ? `${prefix}/` : '') + readString(header, 0, 100);
    const start = offset + BLOCK;
    if (start + size > bytes.length) throw new ModelFormatError(`${label} is truncated (${path} needs ${size} bytes)`);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x' || type === 'g') continue; // pax attributes (names are taken from the ustar header)
    const parts = path.replace(/^\.\//, '').split('/').filter((p) => p !== '');
    if (parts.length === 0 || parts.length > 2 || parts.some((p) => p === '..' || p === '.') || path.startsWith('/')) {
      throw new ModelFormatError(`${label}: '${path}' is not inside one model folder`);
    }
    if (folder === undefined) folder = parts[0]!;
    if (parts[0] !== folder) throw new ModelFormatError(`${label} holds more than one folder ('${folder}' and '${parts[0]}')`);
    if (parts.length === 1) {
      if (type !== '5') throw new ModelFormatError(`${label}: '${path}' is not inside a folder`);
      continue;
    }
    const name = parts[1]!;
    if (type !== '0' && type !== '\0') throw new ModelFormatError(`${label}: '${path}' is not a regular file (a link or a device); refusing it`);
    if (!ARCHIVE_FILES.test(name)) throw new ModelFormatError(`${label}: '${path}' is not a file of a model folder`);
    if (files.some((f) => f.name === name)) throw new ModelFormatError(`${label} holds '${path}' twice`);
    files.push({ name, data: bytes.subarray(start, start + size) });
  }
  if (folder === undefined || files.length === 0) throw new ModelFormatError(`${label} is an empty archive`);
  checkName(folder, 'folder');
  return { folder, files };
}

/**
 * Unpack a model archive into the folder `out` (which must not exist yet): the files are written
 * beside it and the folder renamed into place, so it appears complete or not at all. The result is
 * a normal model folder, checked like any other when a command loads it.
 */
export function unpackModelArchive(archive: string, out: string): string[] {
  let bytes: Uint8Array;
  try {
    if (statSync(archive).size > MAX_ARCHIVE_BYTES) throw new ModelFormatError(`${archive} is larger than ${MAX_ARCHIVE_BYTES / 2 ** 30} GiB`);
    bytes = readFileSync(archive);
  } catch (error) {
    if (error instanceof ModelFormatError) throw error;
    throw new ModelFormatError(`cannot read ${archive} (${(error as { code?: string }).code ?? (error as Error).message})`, { cause: error });
  }
  const { files } = readArchive(bytes, archive);
  const dir = resolve(out);
  if (existsSync(dir)) throw new WriteError(`${out} already exists; choose a new folder to unpack into`);
  const partial = `${dir}.partial-${process.pid}`;
  try {
    mkdirSync(dirname(dir), { recursive: true });
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial);
    for (const f of files) writeFileAtomic(join(partial, f.name), f.data);
    renameSync(partial, dir);
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    if (error instanceof WriteError) throw error;
    throw new WriteError(`cannot unpack into ${out}: ${(error as Error).message}`, { cause: error });
  }
  return files.map((f) => f.name);
}
