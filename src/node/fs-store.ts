/**
 * A content-addressed chunk store in a directory, for Node.
 *
 * Layout: `<root>/sha256/<first two hex digits>/<64 hex digits>`, one file per chunk holding
 * its raw bytes, or, when that is smaller, the same name plus {@link DEFLATE_SUFFIX} holding them
 * raw-deflated (RFC 1951) or plus {@link LZ4_SUFFIX} holding them as one LZ4 block. The digest
 * is always over the uncompressed bytes. Each chunk is written to a temporary file beside its
 * final name (ending in {@link TMP_SUFFIX}) and renamed into place, so a chunk file is either
 * absent or complete, and several conversions, in one process or several, can share one store
 * at once.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants, statSync } from 'node:fs';
import { mkdir, open, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { MAX_CHUNK_MAX } from '../cdc/params.js';
import type { ChunkCodec, ChunkCoding } from '../compress/chunk-codec.js';
import {
  ChunkDigestError,
  ChunkNotFoundError,
  CompressionError,
  StoreError,
  UsageError,
} from '../errors.js';
import { isDigest } from '../hash/digest.js';
import { checkChunkSize } from '../store/chunk-size.js';
import type { ChunkStore } from '../store/types.js';
import { nodeChunkCodec } from './chunk-codec.js';
import { syncDir } from './io.js';
import { lockShared, type StoreLock } from './store-lock.js';

/** Suffix of the temporary files a write leaves only if the process dies mid-write. */
export const TMP_SUFFIX = '.tmp';

/** Suffix of a chunk file holding raw-deflated bytes. */
export const DEFLATE_SUFFIX = '.d';

/** Suffix of a chunk file holding one LZ4 block. */
export const LZ4_SUFFIX = '.l';

/** A file name suffix as a pattern that matches it alone. */
const literal = (s: string) => s.replace(/\./g, '\\.');

/**
 * Names of chunk files in `sha256/<2 hex>/`: the digest's 64 hex digits (group 1), then the
 * suffix of its coding, if any.
 */
export const CHUNK_FILE_RE = new RegExp(
  `^([0-9a-f]{64})(${literal(DEFLATE_SUFFIX)}|${literal(LZ4_SUFFIX)})?$`,
);

/** Names of the temporary files a write makes beside its chunk file (see `put`). */
export const TEMPORARY_FILE_RE = new RegExp(
  `^\\.[0-9a-f]{64}\\.[0-9a-f]{12}${literal(TMP_SUFFIX)}$`,
);

/** The file name suffix of each coding. */
const SUFFIXES: Record<ChunkCoding, string> = {
  identity: '',
  'deflate-raw': DEFLATE_SUFFIX,
  'lz4-block': LZ4_SUFFIX,
};

/**
 * The coding of a chunk file from its name (see {@link CHUNK_FILE_RE}).
 * @returns the coding, or `undefined` for a name that is not a chunk file's.
 */
export function chunkFileCoding(name: string): ChunkCoding | undefined {
  const m = CHUNK_FILE_RE.exec(name);
  if (!m) return undefined;
  return m[2] === DEFLATE_SUFFIX ? 'deflate-raw' : m[2] === LZ4_SUFFIX ? 'lz4-block' : 'identity';
}

/** Options of {@link FsStore.open}. */
export interface FsStoreOptions {
  /**
   * Flush each new chunk to disk (`fsync`) before linking it into place, and the directories
   * that gained names at every `flush`. @default false
   */
  fsync?: boolean;
  /**
   * How new chunks are compressed; `false` stores them as they are. Reads understand every
   * form whatever this says. @default nodeChunkCodec({ algorithm: 'lz4' }) (see
   * `PackStoreOptions.codec`)
   */
  codec?: ChunkCodec | false;
  /**
   * Hold a shared lock of the store from `open` to {@link FsStore.close}, so that no garbage
   * collection runs meanwhile, and refuse to open while one runs (see `PackStoreOptions.lock`).
   * @default true
   */
  lock?: boolean;
  /**
   * How long `open` keeps trying, in milliseconds, while a garbage collection holds the store
   * (then {@link StoreLockedError}). @default 0
   */
  lockWaitMs?: number;
  /**
   * Rename a chunk file `get` finds bad aside (`.corrupt`, see {@link FsStore.get}); `false`
   * leaves it in place, so that the store writes nothing it is not asked to (a garbage
   * collection's dry run). @default true
   */
  markBad?: boolean;
}

/** A {@link ChunkStore} on the local filesystem. Every read is verified against its digest. */
export class FsStore implements ChunkStore {
  readonly verifiesReads = true;
  private readonly madeDirs = new Set<string>();
  private readonly writing = new Map<string, Promise<boolean>>();
  /** With `fsync`: directories that gained a name since the last `flush`. */
  private readonly unsynced = new Set<string>();
  /** The directory syncs of the flushes under way. */
  private syncing: Promise<void> = Promise.resolve();
  private readonly codec: ChunkCodec | false;
  /** The forms `get` tries, the last one found first. */
  private order: ChunkCoding[];
  /** The store's shared lock, held until `close`. */
  private lock: StoreLock | undefined;

  private constructor(
    /** The store's root directory. */
    readonly root: string,
    private readonly options: FsStoreOptions,
  ) {
    this.codec = options.codec ?? nodeChunkCodec({ algorithm: 'lz4' });
    this.order = this.codec
      ? ['lz4-block', 'deflate-raw', 'identity']
      : ['identity', 'deflate-raw', 'lz4-block'];
  }

  /**
   * Opens (creating if needed) a store in a directory.
   * @param root - the directory.
   * @param options - durability.
   * @returns the store.
   * @throws {@link StoreLockedError} while a garbage collection runs on the store.
   */
  static async open(root: string, options: FsStoreOptions = {}): Promise<FsStore> {
    const top = resolve(root, 'sha256');
    const made = await mkdir(top, { recursive: true });
    const store = new FsStore(root, options);
    if (made !== undefined && options.fsync) {
      // Each directory made, from the first down to sha256/, is a new name in its parent.
      for (let d = top; d.startsWith(made); d = dirname(d)) store.unsynced.add(dirname(d));
    }
    if (options.lock !== false) store.lock = await lockShared(root, options.lockWaitMs);
    return store;
  }

  /** Flushes, then gives up the store's lock. Reads and writes still work (unlocked). */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.lock?.release();
    }
  }

  /**
   * Path of a chunk's file when stored as it is (add {@link DEFLATE_SUFFIX} or
   * {@link LZ4_SUFFIX} for the compressed forms).
   * @param digest - `sha256:<hex>`.
   */
  pathOf(digest: string): string {
    if (!isDigest(digest)) throw new UsageError(`not a sha256 digest: ${JSON.stringify(digest)}`);
    const hex = digest.slice(7);
    return join(this.root, 'sha256', hex.slice(0, 2), hex);
  }

  /**
   * Returns a chunk's bytes, decompressed and verified against the digest. A file that fails
   * verification is renamed aside (`.corrupt`), so that the next `put` repairs the chunk.
   * @throws {@link ChunkNotFoundError}, {@link ChunkDigestError} (corrupt file), {@link StoreError}.
   */
  async get(digest: string): Promise<Uint8Array> {
    // Try the form found last first; a corrupt file does not hide a good one.
    const order = this.order;
    let found = false;
    let failure: ChunkDigestError | undefined;
    for (const coding of order) {
      const got = await this.readForm(digest, coding);
      if (got === undefined) continue;
      found = true;
      if (got instanceof Uint8Array) {
        if (coding !== order[0]) this.order = [coding, ...order.filter((c) => c !== coding)];
        return got;
      }
      failure ??= new ChunkDigestError(digest, got.problem);
    }
    if (!found) throw new ChunkNotFoundError(digest);
    throw failure!;
  }

  /**
   * Reads the one file of a chunk in one coding, as `get` reads each, and checks it: a file
   * that fails is set aside (`.corrupt`) unless `markBad` is false. `verifyStore` reads every
   * file this way, where `get` stops at the first good form.
   * @param digest - `sha256:<hex>`.
   * @param coding - which of the chunk's files (no suffix, `.d` or `.l`).
   * @returns `undefined` when the file holds the chunk, `'absent'` when there is no such file,
   *   else what is wrong with it.
   * @throws {@link StoreError} for a read that fails (an I/O error).
   */
  async checkFile(digest: string, coding: ChunkCoding): Promise<string | 'absent' | undefined> {
    const got = await this.readForm(digest, coding);
    if (got === undefined) return 'absent';
    return got instanceof Uint8Array ? undefined : got.problem;
  }

  /**
   * The chunk from its file in `coding`, decoded and verified; what is wrong with the file
   * (set aside, unless `markBad` is false); or `undefined` when there is no such file.
   */
  private async readForm(
    digest: string,
    coding: ChunkCoding,
  ): Promise<Uint8Array | { problem: string } | undefined> {
    const file = this.pathOf(digest) + SUFFIXES[coding];
    const read = await readChunkFile(digest, file);
    if (!read) return undefined;
    let problem = read.problem;
    if (read.bytes) {
      try {
        const bytes = await (this.codec || READ_CODEC).decode({ coding, bytes: read.bytes });
        const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
        if (actual === digest) return bytes;
        problem = `${file} holds bytes with digest ${actual}`;
      } catch (err) {
        // Only bytes that do not decode are the file's fault; anything else (the decoder
        // itself failing) must not set a good file aside.
        if (!(err instanceof CompressionError)) throw err;
        problem = `${file}: ${err.message}`;
      }
    }
    if (this.options.markBad !== false) await quarantine(file, read.file);
    return { problem: problem! };
  }

  async has(digest: string): Promise<boolean> {
    // A synchronous stat: on a local filesystem it is a microsecond-scale dentry lookup, far
    // cheaper than a round trip through the thread pool, and it runs once per chunk.
    const path = this.pathOf(digest);
    try {
      return this.order.some(
        (coding) => statSync(path + SUFFIXES[coding], { throwIfNoEntry: false }) !== undefined,
      );
    } catch (err) {
      throw new StoreError(`checking chunk ${digest} at ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async put(digest: string, bytes: Uint8Array): Promise<boolean> {
    const final = this.pathOf(digest);
    checkChunkSize(digest, bytes.length);
    // One write per chunk at a time in this process; concurrent puts of it wait for that one,
    // and try on their own if it fails.
    const pending = this.writing.get(digest);
    if (pending) {
      if (
        await pending.then(
          () => true,
          () => false,
        )
      )
        return false;
      return this.put(digest, bytes);
    }
    const write = this.write(digest, final, bytes);
    this.writing.set(digest, write);
    try {
      return await write;
    } finally {
      this.writing.delete(digest);
    }
  }

  /**
   * With `fsync`, puts the names of the chunks stored since the last call on disk: pipelines
   * call it before they publish an index that names them. Without, it does nothing.
   * @throws {@link StoreError} when a directory cannot be flushed (the next call tries again).
   */
  async flush(): Promise<void> {
    // Flushes run one after another, each syncing what is unsynced when its turn comes: one
    // that finds nothing new still waits for the syncs under way, which may hold its chunks'
    // names, and tries again what a failed one before it put back.
    const run = this.syncing.then(async () => {
      const dirs = [...this.unsynced];
      this.unsynced.clear();
      try {
        for (const dir of dirs) await syncDir(dir);
      } catch (err) {
        for (const dir of dirs) this.unsynced.add(dir);
        throw new StoreError(`flushing ${this.root}: ${(err as Error).message}`, { cause: err });
      }
    });
    this.syncing = run.catch(() => {});
    await run;
  }

  private async write(digest: string, final: string, bytes: Uint8Array): Promise<boolean> {
    if (await this.has(digest)) return false;
    const dir = dirname(final);
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true }).catch((err: Error) => {
        throw new StoreError(`creating ${dir}: ${err.message}`, { cause: err });
      });
      this.madeDirs.add(dir);
      if (this.options.fsync) this.unsynced.add(dirname(dir));
    }
    // The temporary file sits beside its final name: a rename within one directory is the
    // cheapest atomic publish. Renaming over a file another process just published is harmless,
    // since both hold the same bytes.
    const tmp = `${dirname(final)}/.${digest.slice(7)}.${randomBytes(6).toString('hex')}${TMP_SUFFIX}`;
    try {
      const encoded = this.codec ? await this.codec.encode(bytes) : undefined;
      await writeFile(tmp, encoded?.bytes ?? bytes, { flush: this.options.fsync === true });
      await rename(tmp, final + SUFFIXES[encoded?.coding ?? 'identity']);
      if (this.options.fsync) this.unsynced.add(dir);
      return true;
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw new StoreError(`writing chunk ${digest} to ${final}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}

/** Suffix a corrupt chunk file is renamed to, so that a later `put` can write it anew. */
export const CORRUPT_SUFFIX = '.corrupt';

/**
 * Moves a chunk file that failed verification out of the way (kept for inspection), so that
 * `has` stops reporting it and the next `put` of the chunk repairs it. Best effort: a
 * read-only store keeps the file and keeps failing reads. Another process may have repaired
 * the chunk since it was read (after a third had moved the bad file aside): a file that is not
 * the one read goes back.
 * @param file - the chunk file's path.
 * @param read - the file that was read (device and inode).
 */
async function quarantine(file: string, read: FileId): Promise<void> {
  const aside = file + CORRUPT_SUFFIX;
  try {
    await rename(file, aside);
  } catch {
    return;
  }
  // stat, not lstat: what was read is the file a symbolic link in the store points to.
  const moved = await stat(aside).catch(() => undefined);
  if (moved && (moved.dev !== read.dev || moved.ino !== read.ino)) {
    await rename(aside, file).catch(() => {});
  }
}

/** Decodes compressed chunk files when the store itself writes them uncompressed. */
const READ_CODEC = nodeChunkCodec();

/** Which file a path named when it was opened. */
interface FileId {
  dev: number;
  ino: number;
}

/** A chunk file as read: its bytes, or what makes it unreadable as a chunk. */
interface ChunkFile {
  file: FileId;
  bytes?: Uint8Array;
  problem?: string;
}

/**
 * Reads a chunk file, refusing to read more than any chunk can hold.
 * @returns its bytes, or undefined when there is no such file.
 */
async function readChunkFile(digest: string, path: string): Promise<ChunkFile | undefined> {
  try {
    // The file is outside input: non-blocking, so that a FIFO in its place cannot hang the open.
    const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      const file = { dev: st.dev, ino: st.ino };
      if (!st.isFile()) return { file, problem: `${path} is not a regular file` };
      const { size } = st;
      if (size > MAX_CHUNK_MAX + 1024) {
        return { file, problem: `${path}: file of ${size} bytes is larger than any chunk` };
      }
      const bytes = Buffer.allocUnsafe(size);
      let at = 0;
      while (at < size) {
        const { bytesRead } = await fh.read(bytes, at, size - at, at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      return { file, bytes: at === size ? bytes : bytes.subarray(0, at) };
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StoreError(`reading chunk ${digest} from ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
