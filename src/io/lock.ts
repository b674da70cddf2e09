import { closeSync, constants, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LockedError, WriteError } from '../errors.js';

/** The lock file a training run holds in its model folder while it writes there. */
export const LOCK_FILE = 'train.lock';

/** Who holds a lock: written into the lock file as JSON. */
export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  since: string;
}

export interface FolderLock {
  readonly path: string;
  /** The folder holding the lock was renamed to `dir` (a new run's folder, moved into place). */
  moved(dir: string): void;
  /** Remove the lock (safe to call more than once, and from an exit handler). */
  release(): void;
}

/**
 * Take the writer's lock of a model folder: one training run at a time may write there. The lock
 * is a file created with O_EXCL (atomic on local file systems), holding the process id, host and
 * time. A lock left by a process of this host that no longer runs (killed with kill -9, a power
 * cut) is stale and taken over; a live holder, or one on another host, is refused with one line
 * naming it. The lock is removed when the run ends, and on any process exit.
 */
export function lockFolder(dir: string, action = 'train in'): FolderLock {
  const path = join(dir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== 'EEXIST') throw new WriteError(`cannot lock ${dir} (${code ?? (error as Error).message})`, { cause: error });
      const holder = readHolder(path);
      if (holder !== undefined && isStale(holder)) {
        rmSync(path, { force: true }); // its process is gone: the next O_EXCL create decides who takes it
        continue;
      }
      throw new LockedError(describeHolder(dir, path, holder, action));
    }
    try {
      writeSync(fd, `${JSON.stringify(me)}\n`);
    } finally {
      closeSync(fd);
    }
    return holdLock(path, me);
  }
  throw new LockedError(`${dir} is being locked and unlocked by other processes; try again (lock file ${path})`);
}

/** Who holds the lock at `path`, or undefined when there is none or it cannot be read. */
export function lockHolder(dir: string): LockHolder | undefined {
  return readHolder(join(dir, LOCK_FILE));
}

function holdLock(at: string, me: LockHolder): FolderLock {
  let held = true;
  let path = at;
  const release = () => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    // Remove only our own lock: a lock file replaced by someone else is theirs.
    const holder = readHolder(path);
    if (holder !== undefined && holder.pid === me.pid && holder.host === me.host && holder.since === me.since) rmSync(path, { force: true });
  };
  process.on('exit', release);
  return {
    get path() {
      return path;
    },
    moved: (dir) => void (path = join(dir, LOCK_FILE)),
    release,
  };
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const json = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    if (Number.isSafeInteger(json.pid) && typeof json.host === 'string' && typeof json.since === 'string') return json as LockHolder;
  } catch {
    // A lock file being written, or damaged: treated as held (by an unknown process).
  }
  return undefined;
}

/** A holder on this host whose process no longer exists. Holders on other hosts cannot be checked. */
function isStale(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return false;
  if (holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return (error as { code?: string }).code === 'ESRCH';
  }
}

function describeHolder(dir: string, path: string, holder: LockHolder | undefined, action: string): string {
  if (holder === undefined) return `cannot ${action} ${dir}: another process is writing there (lock file ${path}; delete it if no atencao process is running)`;
  const where = holder.host === hostname() ? '' : ` on ${holder.host}`;
  return `cannot ${action} ${dir}: process ${holder.pid}${where} is training there since ${holder.since} (lock file ${path}; delete it if that process is gone)`;
}
