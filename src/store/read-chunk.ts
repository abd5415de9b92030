/**
 * Reading one referenced chunk back from a store, checked against its reference.
 *
 * @module
 */
import { ChunkDigestError, ChunkNotFoundError } from '../errors.js';
import type { ChunkRef } from '../format/records.js';
import { digestsEqual, formatDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import type { ChunkReader } from './types.js';

/**
 * Fetches the chunk a reference names and checks it: its length always, and its digest
 * unless the store already verifies every read ({@link ChunkReader.verifiesReads}).
 *
 * @param store - where the chunk is.
 * @param ref - the reference (digest and length).
 * @param hash - hashing for the digest check.
 * @param into - a buffer the store may read the chunk into (see {@link ChunkReader.get}).
 * @returns the chunk's bytes.
 * @throws {@link ChunkNotFoundError} when the store lacks the chunk.
 * @throws {@link ChunkDigestError} when the bytes do not match the reference.
 */
export async function readChunk(
  store: ChunkReader,
  ref: ChunkRef,
  hash: HashProvider,
  into?: Uint8Array,
): Promise<Uint8Array> {
  const digest = formatDigest(ref.digest);
  const bytes = await store.get(digest, into);
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

/**
 * Tells whether a store's copy of a chunk reads back intact: of the reference's length, and
 * hashing to its digest. A store that sets a corrupt copy aside when a read fails (as
 * `FsStore` and `PackStore` do) takes a good one on the next put.
 *
 * @param store - where the chunk may be.
 * @param ref - the reference (digest and length).
 * @param hash - hashing for the digest check.
 * @returns false when the store lacks the chunk or its copy is bad.
 */
export async function holdsIntact(
  store: ChunkReader,
  ref: ChunkRef,
  hash: HashProvider,
): Promise<boolean> {
  try {
    await readChunk(store, ref, hash);
    return true;
  } catch (err) {
    if (err instanceof ChunkDigestError || err instanceof ChunkNotFoundError) return false;
    throw err;
  }
}
