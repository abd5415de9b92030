/**
 * A content-addressed chunk store in a directory, for Node.
 *
 * Layout: `<root>/sha256/<first two hex digits>/<64 hex digits>`, one file per chunk holding
 * its raw bytes. Each chunk is written to a temporary file beside its final name (ending in
 * {@link TMP_SUFFIX}) and renamed into place, so a chunk file is either absent or complete,
 * and several conversions, in one process or several, can share one store at once.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir, open, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MAX_CHUNK_MAX } from '../cdc/params.js';
import { ChunkDigestError, ChunkNotFoundError, StoreError, UsageError } from '../errors.js';
import { isDigest } from '../hash/digest.js';
import type { ChunkStore } from '../store/types.js';

/** Suffix of the temporary files a write leaves only if the process dies mid-write. */
export const TMP_SUFFIX = '.tmp';

/** Options of {@link FsStore.open}. */
export interface FsStoreOptions {
  /** Flush each new chunk to disk (`fsync`) before linking it into place. @default false */
  fsync?: boolean;
}

/** A {@link ChunkStore} on the local filesystem. Every read is verified against its digest. */
export class FsStore implements ChunkStore {
  readonly verifiesReads = true;
  private readonly madeDirs = new Set<string>();
  private readonly writing = new Map<string, Promise<boolean>>();

  private constructor(
    /** The store's root directory. */
    readonly root: string,
    private readonly options: FsStoreOptions,
  ) {}

  /**
   * Opens (creating if needed) a store in a directory.
   * @param root - the directory.
   * @param options - durability.
   * @returns the store.
   */
  static async open(root: string, options: FsStoreOptions = {}): Promise<FsStore> {
    await mkdir(join(root, 'sha256'), { recursive: true });
    return new FsStore(root, options);
  }

  /**
   * Path of a chunk's file.
   * @param digest - `sha256:<hex>`.
   */
  pathOf(digest: string): string {
    if (!isDigest(digest)) throw new UsageError(`not a sha256 digest: ${JSON.stringify(digest)}`);
    const hex = digest.slice(7);
    return join(this.root, 'sha256', hex.slice(0, 2), hex);
  }

  async get(digest: string): Promise<Uint8Array> {
    const path = this.pathOf(digest);
    let bytes: Buffer;
    try {
      const fh = await open(path, 'r');
      try {
        // The file is outside input: refuse to read more than any chunk can hold.
        const { size } = await fh.stat();
        if (size > MAX_CHUNK_MAX) {
          throw new ChunkDigestError(digest, `file of ${size} bytes is larger than any chunk`);
        }
        bytes = Buffer.allocUnsafe(size);
        const { bytesRead } = await fh.read(bytes, 0, size, 0);
        if (bytesRead !== size) bytes = bytes.subarray(0, bytesRead);
      } finally {
        await fh.close();
      }
    } catch (err) {
      if (err instanceof ChunkDigestError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ChunkNotFoundError(digest);
      throw new StoreError(`reading chunk ${digest} from ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (actual !== digest) {
      throw new ChunkDigestError(digest, `file holds bytes with digest ${actual}`);
    }
    return bytes;
  }

  async has(digest: string): Promise<boolean> {
    // A synchronous stat: on a local filesystem it is a microsecond-scale dentry lookup, far
    // cheaper than a round trip through the thread pool, and it runs once per chunk.
    const path = this.pathOf(digest);
    try {
      return statSync(path, { throwIfNoEntry: false }) !== undefined;
    } catch (err) {
      throw new StoreError(`checking chunk ${digest} at ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async put(digest: string, bytes: Uint8Array): Promise<boolean> {
    const final = this.pathOf(digest);
    // One write per chunk at a time in this process; concurrent puts of it wait for that one.
    const pending = this.writing.get(digest);
    if (pending) {
      await pending;
      return false;
    }
    const write = this.write(digest, final, bytes);
    this.writing.set(digest, write);
    try {
      return await write;
    } finally {
      this.writing.delete(digest);
    }
  }

  private async write(digest: string, final: string, bytes: Uint8Array): Promise<boolean> {
    if (await this.has(digest)) return false;
    const dir = dirname(final);
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true }).catch((err: Error) => {
        throw new StoreError(`creating ${dir}: ${err.message}`, { cause: err });
      });
      this.madeDirs.add(dir);
    }
    // The temporary file sits beside its final name: a rename within one directory is the
    // cheapest atomic publish. Renaming over a file another process just published is harmless,
    // since both hold the same bytes.
    const tmp = `${dirname(final)}/.${digest.slice(7)}.${randomBytes(6).toString('hex')}${TMP_SUFFIX}`;
    try {
      await writeFile(tmp, bytes, { flush: this.options.fsync === true });
      await rename(tmp, final);
      return true;
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw new StoreError(`writing chunk ${digest} to ${final}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}
