/**
 * Locks of a store directory, so that a garbage collection ({@link collectGarbage}) never runs
 * while a store is open: a writer that found a chunk present and did not store it again relies
 * on that chunk staying until its index is written, and a reader on the packs it loaded.
 *
 * A store, when it opens, creates a **shared lock** `locks/<pid>-<random>.lock` and removes it
 * when it closes, and so does a collection's dry run (it removes nothing, so open stores do
 * not stop it). A collection creates an **exclusive lock** `locks/gc-<pid>-<random>.lock`,
 * then looks for other exclusive locks and for shared locks; a store, having created its
 * shared lock, looks for exclusive ones. Each takes its own lock before it looks for the
 * others', so of two starting at once at least one sees the other, and gives way with
 * {@link StoreLockedError}. Every lock has a name of its own: removing a stale lock, or
 * releasing one's own, never removes a lock another process has just taken (with one name
 * for the exclusive lock, a collection that judged a crashed one's lock stale could remove a
 * live one taken meanwhile, and two collections ran at once). A lock file is made whole (written
 * under a temporary name, then linked into place), so none is ever seen empty.
 *
 * A lock file holds `{"pid", "host", "since"}` of its holder. A lock whose holder was a process
 * of this host that no longer runs (what a crash or a store never closed leaves) is stale: it
 * is ignored, and a collection removes it; so is an empty file older than a minute (what an
 * older build left when a disk was full). A lock of another host (a store on a shared
 * filesystem, or in another container's process namespace) cannot be checked, so it holds
 * until someone removes its file. `locks/gc.lock`, the exclusive lock of older builds, is
 * still honoured. A temporary file a lock was written under (`locks/.tmp-<pid>-<hex>`, left
 * when its writer was killed before it removed it) is removed by a collection once it is stale
 * as a lock would be and older than a minute. docs/FORMAT.md §13.5 has the protocol.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, readdir, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StoreError, StoreLockedError, UsageError } from '../errors.js';

/** Name of the directory of lock files inside a store. */
export const LOCKS_DIR = 'locks';
/** Names of shared locks. */
const SHARED_RE = /^[0-9]+-[0-9a-f]{16}\.lock$/;
/** Names of exclusive locks (a collection's; `gc.lock` is older builds' one name for it). */
const EXCLUSIVE_RE = /^(?:gc-[0-9]+-[0-9a-f]{16}\.lock|gc\.lock)$/;
/** Temporary files a lock is written under before it is linked into place (see `create`). */
const TEMPORARY_RE = /^\.tmp-[0-9]+-[0-9a-f]{16}$/;
/**
 * An empty lock file older than this is stale; a temporary file is removed only once it is this
 * old (it lives for a write and a link, so only one its writer never removed gets there).
 */
const STALE_MS = 60_000;
/** Largest lock file read: anything longer is not one of ours, and is not stale. */
const MAX_LOCK_BYTES = 4096;

/** A lock held: {@link StoreLock.release} removes its file. */
export interface StoreLock {
  /** The lock file, or undefined when the store could not hold one (a read-only directory). */
  readonly path: string | undefined;
  /** Removes the lock file (again: a no-op). */
  release(): Promise<void>;
}

/** What a lock file says of its holder. */
interface Holder {
  pid: number;
  host: string;
  since: string;
}

const me = (): Holder => ({ pid: process.pid, host: hostname(), since: new Date().toISOString() });

/**
 * The holder a lock file names, or undefined when it names none this code can check (not
 * ours, cut short, or gone since it was listed).
 */
async function holderOf(path: string): Promise<Holder | undefined> {
  let text: string;
  try {
    // Without blocking: a FIFO in a lock's place must not hang the open.
    const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      if (!(await fh.stat()).isFile()) return undefined;
      const buf = new Uint8Array(MAX_LOCK_BYTES + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      if (bytesRead > MAX_LOCK_BYTES) return undefined;
      text = new TextDecoder().decode(buf.subarray(0, bytesRead));
    } finally {
      await fh.close();
    }
    const v = JSON.parse(text) as Partial<Holder>;
    if (!Number.isSafeInteger(v.pid) || v.pid! <= 0 || typeof v.host !== 'string') return undefined;
    return { pid: v.pid!, host: v.host, since: String(v.since ?? '') };
  } catch {
    return undefined;
  }
}

/**
 * Whether a lock file is stale: its holder was a process of this host that no longer runs. A
 * file gone since it was listed counts as stale too; one that names no holder does not.
 */
async function isStale(path: string): Promise<boolean> {
  const h = await holderOf(path);
  if (!h) {
    const st = await lstat(path).catch(() => undefined);
    if (!st) return true;
    return st.isFile() && st.size === 0 && Date.now() - st.mtimeMs > STALE_MS;
  }
  if (h.host !== hostname()) return false;
  if (h.pid === process.pid) return false;
  try {
    process.kill(h.pid, 0);
    return false;
  } catch (err) {
    // EPERM: the process runs, under another user.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** How a lock reads in an error message. */
async function describe(path: string): Promise<string> {
  const h = await holderOf(path);
  return h ? `${path} (pid ${h.pid} on ${h.host}, since ${h.since})` : path;
}

/**
 * Writes a new lock file whole: under a temporary name first, then linked into place, so that
 * a write that fails (a full disk) leaves no lock. On a filesystem without hard links (FAT,
 * some FUSE), it is written in place.
 */
async function create(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  const text = `${JSON.stringify(me())}\n`;
  const temp = join(dir, `.tmp-${process.pid}-${randomBytes(8).toString('hex')}`);
  try {
    await writeFile(temp, text, { flag: 'wx' });
    try {
      await link(temp, path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
      await writeFile(path, text, { flag: 'wx' });
    }
  } finally {
    await unlink(temp).catch(() => {});
  }
  return path;
}

/** Locks in `dir` named as `pattern` says, but `own`, that are not stale; stale ones are removed. */
async function liveLocks(dir: string, pattern: RegExp, own?: string): Promise<string[]> {
  const live: string[] = [];
  for (const name of await readdir(dir)) {
    if (!pattern.test(name)) continue;
    const p = join(dir, name);
    if (p === own) continue;
    if (await isStale(p)) await unlink(p).catch(() => {});
    else live.push(p);
  }
  return live;
}

/**
 * Removes the temporary files in `dir` that lock takers killed between writing a lock and
 * removing its temporary name left: those older than {@link STALE_MS} whose holder is stale as
 * a lock's would be (a process of this host that no longer runs, or an empty file). One of
 * another host holds, as its lock would.
 */
async function removeStaleTemporaries(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!TEMPORARY_RE.test(name)) continue;
    const p = join(dir, name);
    const st = await lstat(p).catch(() => undefined);
    if (!st?.isFile() || Date.now() - st.mtimeMs <= STALE_MS) continue;
    if (await isStale(p)) await unlink(p).catch(() => {});
  }
}

/** A lock whose release removes `path` once. */
function held(path: string | undefined): StoreLock {
  let released: Promise<void> | undefined;
  return {
    path,
    release: () => {
      released ??= path ? unlink(path).catch(() => {}) : Promise.resolve();
      return released;
    },
  };
}

/**
 * Tries `take` until it gets its lock, or until `waitMs` have passed with locks in the way:
 * between tries nothing is held, pausing 50 ms, then twice as long each time up to a second.
 */
async function waiting(take: () => Promise<StoreLock>, waitMs: number): Promise<StoreLock> {
  if (!(typeof waitMs === 'number' && waitMs >= 0 && Number.isFinite(waitMs))) {
    throw new UsageError(`lockWaitMs must be 0 or more milliseconds, got ${String(waitMs)}`);
  }
  const until = Date.now() + waitMs;
  for (let pause = 50; ; pause = Math.min(pause * 2, 1000)) {
    try {
      return await take();
    } catch (err) {
      if (!(err instanceof StoreLockedError) || Date.now() + pause > until) throw err;
      // Jittered: two collections that gave way to each other do not meet again each time.
      await new Promise((resolve) => setTimeout(resolve, pause * (0.5 + Math.random())));
    }
  }
}

/**
 * Takes a shared lock of the store at `root`, as every open store (and a collection's dry
 * run) holds one. It removes nothing, stale locks included.
 * @param waitMs - how long to keep trying while a garbage collection holds the store.
 * @returns the lock; one with no file when the directory is read-only or not ours to write
 *   (nothing can collect garbage there through this user either).
 * @throws {@link StoreLockedError} while a garbage collection holds the store.
 */
export function lockShared(root: string, waitMs = 0): Promise<StoreLock> {
  return waiting(() => trySharedLock(root), waitMs);
}

async function trySharedLock(root: string): Promise<StoreLock> {
  const dir = join(root, LOCKS_DIR);
  let path: string;
  try {
    await mkdir(dir, { recursive: true });
    path = await create(dir, `${process.pid}-${randomBytes(8).toString('hex')}.lock`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return held(undefined);
    throw new StoreError(`locking ${root}: ${(err as Error).message}`, { cause: err });
  }
  const gcs: string[] = [];
  try {
    for (const name of await readdir(dir)) {
      const p = join(dir, name);
      if (EXCLUSIVE_RE.test(name) && !(await isStale(p))) gcs.push(p);
    }
  } catch (err) {
    await unlink(path).catch(() => {});
    throw new StoreError(`locking ${root}: ${(err as Error).message}`, { cause: err });
  }
  if (gcs.length > 0) {
    await unlink(path).catch(() => {});
    throw new StoreLockedError(
      `${root} is being garbage-collected: ${await describe(gcs[0]!)}`,
      gcs,
    );
  }
  return held(path);
}

/**
 * Takes the exclusive lock of the store at `root`, for a garbage collection: no store may be
 * open, in this process or any other. Stale locks, and the stale temporary files of lock
 * takers (see the module's notes), are removed.
 * @param waitMs - how long to keep trying while stores are open (or another collection runs).
 * @throws {@link StoreLockedError} naming the locks in the way; {@link StoreError} when the
 *   lock cannot be written.
 */
export function lockExclusive(root: string, waitMs = 0): Promise<StoreLock> {
  return waiting(() => tryExclusiveLock(root), waitMs);
}

async function tryExclusiveLock(root: string): Promise<StoreLock> {
  const dir = join(root, LOCKS_DIR);
  let path: string;
  try {
    await mkdir(dir, { recursive: true });
    path = await create(dir, `gc-${process.pid}-${randomBytes(8).toString('hex')}.lock`);
  } catch (err) {
    throw new StoreError(`locking ${root}: ${(err as Error).message}`, { cause: err });
  }
  const lock = held(path);
  try {
    const gcs = await liveLocks(dir, EXCLUSIVE_RE, path);
    if (gcs.length > 0) {
      throw new StoreLockedError(
        `${root} is already being garbage-collected: ${await describe(gcs[0]!)}`,
        gcs,
      );
    }
    const live = await liveLocks(dir, SHARED_RE);
    if (live.length > 0) {
      const shown = await Promise.all(live.slice(0, 5).map(describe));
      const more = live.length > 5 ? ` and ${live.length - 5} more` : '';
      throw new StoreLockedError(
        `${root} is open in ${live.length} store(s): ${shown.join(', ')}${more}; close them first (a lock of another host is removed by hand once its holder is gone)`,
        live,
      );
    }
    await removeStaleTemporaries(dir);
  } catch (err) {
    await lock.release();
    if (err instanceof StoreLockedError) throw err;
    throw new StoreError(`locking ${root}: ${(err as Error).message}`, { cause: err });
  }
  return lock;
}
