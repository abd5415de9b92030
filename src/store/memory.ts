/**
 * An in-memory chunk store, for tests, browsers and Workers.
 *
 * @module
 */

import { ChunkNotFoundError, UsageError } from '../errors.js';
import { isDigest } from '../hash/digest.js';
import { checkChunkSize } from './chunk-size.js';
import type { ChunkStore } from './types.js';

function check(digest: string): void {
  if (!isDigest(digest)) throw new UsageError(`not a sha256 digest: ${JSON.stringify(digest)}`);
}

/**
 * A {@link ChunkStore} held in a `Map`. It does not verify reads; reassembly does. Like every
 * store, it rejects a digest that is not `sha256:<64 lowercase hex>` with {@link UsageError}.
 */
export class MemoryStore implements ChunkStore {
  private readonly chunks = new Map<string, Uint8Array>();
  private total = 0;

  /** Number of chunks held. */
  get size(): number {
    return this.chunks.size;
  }

  /** Total bytes of the chunks held. */
  get bytes(): number {
    return this.total;
  }

  async get(digest: string): Promise<Uint8Array> {
    check(digest);
    const bytes = this.chunks.get(digest);
    if (!bytes) throw new ChunkNotFoundError(digest);
    return bytes;
  }

  async has(digest: string): Promise<boolean> {
    check(digest);
    return this.chunks.has(digest);
  }

  async put(digest: string, bytes: Uint8Array): Promise<boolean> {
    check(digest);
    checkChunkSize(digest, bytes.length);
    if (this.chunks.has(digest)) return false;
    // Copy: the caller's buffer may be a view into a larger one that is reused.
    this.chunks.set(digest, bytes.slice());
    this.total += bytes.length;
    return true;
  }

  /** Lists the digests held, in insertion order. */
  digests(): IterableIterator<string> {
    return this.chunks.keys();
  }
}
