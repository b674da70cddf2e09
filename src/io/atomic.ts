import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { WriteError } from '../errors.js';
import { injectWriteFault } from './faults.js';

const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOENT: 'the folder does not exist',
  ENOTDIR: 'a parent is not a folder',
  EISDIR: 'it is a folder',
  EEXIST: 'a file is in the way',
};

/**
 * Write a file so that a crash at any moment leaves either the old or the new content, never a mix:
 * write a temporary file beside it, flush it to disk, rename it over the target, flush the folder.
 */
/** `writeFileAtomic`, creating the file's folder first if needed (a failure is one WriteError line). */
export function writeFileCreatingDir(path: string, data: string | Uint8Array): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    throw new WriteError(`cannot write ${path}: cannot create its folder (${REASONS[code] ?? code})`, { cause: error });
  }
  writeFileAtomic(path, data);
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const temp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    injectWriteFault(path);
    const fd = openSync(temp, 'w');
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      let offset = 0;
      while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    const code = (error as { code?: string }).code ?? '';
    throw new WriteError(`cannot write ${path}: ${REASONS[code] ?? (error as Error).message} (${code || 'error'}); the previous version is unchanged`, { cause: error });
  }
  syncDir(dirname(path));
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on folders; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
