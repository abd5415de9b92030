/**
 * An in-memory chunk store, for tests, browsers and Workers.
 *
 * @module
 */
import { ChunkNotFoundError } from '../errors.js';
import type { ChunkStore } from './types.js';

/** A {@link ChunkStore} held in a `Map`. It does not verify reads; reassembly does. */
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
    const bytes = this.chunks.get(digest);
    if (!bytes) throw new ChunkNotFoundError(digest);
    return bytes;
  }

  async has(digest: string): Promise<boolean> {
    return this.chunks.has(digest);
  }

  async put(digest: string, bytes: Uint8Array): Promise<boolean> {
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
