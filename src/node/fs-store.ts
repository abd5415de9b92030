/**
 * A content-addressed chunk store in a directory, for Node.
 *
 * Layout: `<root>/sha256/<first two hex digits>/<64 hex digits>`, one file per chunk holding
 * its raw bytes. Writes go to `<root>/tmp/` first and are linked into place, so a chunk file
 * is either absent or complete, and several conversions can share one store at once.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ChunkDigestError, ChunkNotFoundError, UsageError } from '../errors.js';
import { isDigest } from '../hash/digest.js';
import type { ChunkStore } from '../store/types.js';

/** Options of {@link FsStore.open}. */
export interface FsStoreOptions {
  /** Flush each new chunk to disk (`fsync`) before linking it into place. @default false */
  fsync?: boolean;
}

/** A {@link ChunkStore} on the local filesystem. Every read is verified against its digest. */
export class FsStore implements ChunkStore {
  readonly verifiesReads = true;
  private readonly madeDirs = new Set<string>();

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
    await mkdir(join(root, 'tmp'), { recursive: true });
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
    let bytes: Buffer;
    try {
      bytes = await readFile(this.pathOf(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ChunkNotFoundError(digest);
      throw err;
    }
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (actual !== digest)
      throw new ChunkDigestError(digest, `file holds bytes with digest ${actual}`);
    return bytes;
  }

  async has(digest: string): Promise<boolean> {
    try {
      await stat(this.pathOf(digest));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async put(digest: string, bytes: Uint8Array): Promise<boolean> {
    const final = this.pathOf(digest);
    if (await this.has(digest)) return false;
    const dir = join(this.root, 'sha256', digest.slice(7, 9));
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    const tmp = join(this.root, 'tmp', `${digest.slice(7)}.${randomBytes(6).toString('hex')}`);
    try {
      await writeFile(tmp, bytes, { flush: this.options.fsync === true });
      // link() never replaces an existing file: a concurrent writer of the same chunk wins cleanly.
      await link(tmp, final);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await unlink(tmp).catch(() => {});
    }
  }
}
