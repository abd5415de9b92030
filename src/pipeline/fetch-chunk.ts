/**
 * Fetching one chunk from a store and checking it against its reference, shared by every
 * stream that reads chunks back (`reassemble`, `flatten`).
 *
 * @module
 */
import { ChunkDigestError } from '../errors.js';
import type { ChunkRef } from '../format/records.js';
import { digestsEqual, formatDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import type { ChunkReader } from '../store/types.js';

/**
 * Fetches a chunk and verifies it: its length must be the referenced length and, unless the
 * store verifies its own reads ({@link ChunkReader.verifiesReads}), its SHA-256 the
 * referenced digest.
 *
 * @param store - where the chunk is.
 * @param hash - hashing for the digest check.
 * @param ref - the reference to fetch.
 * @returns the chunk's bytes.
 * @throws {@link ChunkNotFoundError} when the store lacks the chunk.
 * @throws {@link ChunkDigestError} when the bytes do not match the reference.
 */
export async function fetchVerifiedChunk(
  store: ChunkReader,
  hash: HashProvider,
  ref: ChunkRef,
): Promise<Uint8Array> {
  const digest = formatDigest(ref.digest);
  const bytes = await store.get(digest);
  if (bytes.length !== ref.length) {
    throw new ChunkDigestError(
      digest,
      `expected ${ref.length} bytes, store returned ${bytes.length}`,
    );
  }
  if (!store.verifiesReads && !digestsEqual(await hash.digest(bytes), ref.digest)) {
    throw new ChunkDigestError(digest, 'bytes do not match the digest');
  }
  return bytes;
}
