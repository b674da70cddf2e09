import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { ModelFormatError } from '../errors.js';

/** Files of a model folder are read whole, only if they are this size or smaller. */
export const MIB = 1024 * 1024;

export interface ReadLimits {
  /** Largest size accepted; a bigger file is refused before it is read. */
  maxBytes: number;
  /** What the file is, for messages: "model description", "tokenizer". */
  what: string;
  /** The exact size the file must have (weights: what the manifest lists), checked before reading. */
  exactBytes?: number;
}

/**
 * Read one file of a model folder, whole, refusing anything that is not plainly a file of that
 * folder: a symlink that leads out of it, a FIFO, a device (a symlink to /dev/zero would read
 * forever), a folder, or a file larger than `maxBytes`. The file is opened without following a
 * symlink and without blocking (a FIFO would block the open), and checked on the open descriptor,
 * so what is read is what was checked.
 */
export function readFolderFile(dir: string, name: string, limits: ReadLimits): Buffer {
  const path = join(dir, name);
  try {
    lstatSync(path);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') throw new ModelFormatError(`${path} is missing`, { cause: error });
    throw new ModelFormatError(`${path} cannot be read (${(error as { code?: string }).code ?? (error as Error).message})`, { cause: error });
  }
  // Where the path really leads, links in any of its parts followed: a link to another file of
  // the same folder is fine; one that leads elsewhere is not followed.
  let target: string;
  try {
    target = realpathSync(path);
  } catch (error) {
    throw new ModelFormatError(`${path} is a broken symbolic link`, { cause: error });
  }
  const inside = relative(realpathSync(dir), target);
  if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    throw new ModelFormatError(`${path} is a symbolic link to ${target}, outside the model folder; refusing to read it`);
  }
  let fd: number;
  try {
    fd = openSync(target, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') throw new ModelFormatError(`${path} is missing`, { cause: error });
    if (code === 'ELOOP') throw new ModelFormatError(`${path} became a symbolic link while it was read; refusing to follow it`, { cause: error });
    throw new ModelFormatError(`${path} cannot be read (${code ?? (error as Error).message})`, { cause: error });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new ModelFormatError(`${path} is ${kindOf(stat)}, not a regular file; refusing to read it`);
    if (limits.exactBytes !== undefined && stat.size !== limits.exactBytes) {
      throw new ModelFormatError(`${path} has ${stat.size} bytes but should have ${limits.exactBytes} (truncated or not this model's weights)`);
    }
    if (stat.size > limits.maxBytes) {
      throw new ModelFormatError(`${path} has ${stat.size} bytes, more than a ${limits.what} can have (${formatBytes(limits.maxBytes)}); refusing to read it`);
    }
    return readExactly(fd, stat.size, path, limits);
  } finally {
    closeSync(fd);
  }
}

/** Read `size` bytes (in pieces: one read returns at most 2 GiB), refusing a file that grows past its limit meanwhile. */
function readExactly(fd: number, size: number, path: string, limits: ReadLimits): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  let offset = 0;
  while (offset < size) {
    const n = readSync(fd, buffer, offset, Math.min(size - offset, 1 << 30), offset);
    if (n === 0) throw new ModelFormatError(`${path} was shortened while it was read`);
    offset += n;
  }
  // One more byte means the file grew while it was read: another process is writing it in place.
  if (readSync(fd, Buffer.alloc(1), 0, 1, size) !== 0) {
    throw new ModelFormatError(`${path} grew while it was read (being written in place?); refusing a ${limits.what} that changes under it`);
  }
  return buffer;
}

function kindOf(stat: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (stat.isDirectory()) return 'a folder';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  return 'a special file';
}

/** "16 MiB", "1 GiB", "512 bytes". */
export function formatBytes(n: number): string {
  if (n >= 1024 * MIB && n % (1024 * MIB) === 0) return `${n / (1024 * MIB)} GiB`;
  if (n >= MIB && n % MIB === 0) return `${n / MIB} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** Parse JSON read by `readFolderFile`; bad JSON is one ModelFormatError line naming the file. */
export function parseJsonFile(bytes: Buffer, path: string): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new ModelFormatError(`${path} is not valid UTF-8`, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelFormatError(`${path} is not valid JSON`, { cause: error });
  }
}
