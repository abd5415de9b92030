/**
 * How the rebuilding pipelines (`reassemble`, `flatten`) fetch chunks: checked against their
 * references, and, when asked, read into pooled buffers that are lent to the consumer.
 *
 * @module
 */
import { MAX_CHUNK_MAX } from '../cdc/params.js';
import type { ChunkRef } from '../format/records.js';
import type { HashProvider } from '../hash/types.js';
import { lend } from '../lend.js';
import { readChunk } from '../store/read-chunk.js';
import type { ChunkReader } from '../store/types.js';
import { BufferPool } from './buffer-pool.js';

/** Fetches one referenced chunk, checked (see `readChunk`). */
export type ChunkFetcher = (ref: ChunkRef) => Promise<Uint8Array>;

/**
 * Makes a chunk fetcher. With `recycle`, each chunk is read into a buffer of a pool (when the
 * store reads into a given buffer: {@link ChunkReader.get}), and the buffer is lent (see
 * `lend`) for the one piece that is the chunk: once given back, it serves a later chunk.
 * @param store - where the chunks are.
 * @param hash - hashing for the digest check.
 * @param recycle - read into pooled, lent buffers.
 * @returns the fetcher.
 */
export function chunkFetcher(
  store: ChunkReader,
  hash: HashProvider,
  recycle: boolean,
): ChunkFetcher {
  if (!recycle) return (ref) => readChunk(store, ref, hash);
  const pool = new BufferPool(MAX_CHUNK_MAX);
  const back = (b: ArrayBuffer) => pool.give(new Uint8Array(b));
  return async (ref) => {
    const into = pool.take(ref.length);
    let bytes: Uint8Array;
    try {
      bytes = await readChunk(store, ref, hash, into);
    } catch (err) {
      pool.give(into);
      throw err;
    }
    // A store that ignored `into` returned a buffer of its own: nothing to lend.
    if (bytes.buffer === into.buffer) lend(into.buffer as ArrayBuffer, back);
    else pool.give(into);
    return bytes;
  };
}
