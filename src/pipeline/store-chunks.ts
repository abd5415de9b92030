/**
 * Puts every chunk into a store (a no-op for chunks it already holds) and drops the bytes.
 *
 * @module
 */
import { formatDigest } from '../hash/digest.js';
import { intOption } from '../options.js';
import type { ChunkWriter } from '../store/types.js';
import type { ChunkBlocks } from './chunk-blocks.js';
import { createOrderedMap } from './ordered.js';
import type { DigestedChunkToken, DigestedToken, StoredChunkToken, StoredToken } from './tokens.js';

/** Options of {@link createChunkStorer}. */
export interface ChunkStorerOptions {
  /** Where chunks go. */
  store: ChunkWriter;
  /** Chunks written at once. @default 4 */
  concurrency?: number;
  /**
   * Where chunks go back once the store has them (those cut into {@link ChunkBlocks}). The store
   * may write over those chunks (`put`'s `scratch`): their bytes are not to be read once stored.
   */
  blocks?: ChunkBlocks;
}

/**
 * Creates the stream that stores chunks and replaces each with a reference.
 * @param options - the store and concurrency.
 * @returns a `TransformStream` from {@link DigestedToken}s to {@link StoredToken}s.
 */
export function createChunkStorer(
  options: ChunkStorerOptions,
): TransformStream<DigestedToken, StoredToken> {
  const { store, blocks } = options;
  return createOrderedMap<DigestedToken, StoredToken>(
    (t) => (t.type === 'chunk' ? storeChunk(store, t, blocks) : t),
    intOption(options.concurrency, 'concurrency', 4),
  );
}

/**
 * The storer's work for one chunk (also done by `createTarChunker`'s single stage).
 * @param store - where the chunk goes.
 * @param t - the chunk and its digest.
 * @param blocks - where the chunk goes back once the store has it.
 * @returns the reference that replaces the chunk.
 */
export async function storeChunk(
  store: ChunkWriter,
  t: DigestedChunkToken,
  blocks?: ChunkBlocks,
): Promise<StoredChunkToken> {
  // A chunk out of the blocks goes back to them once stored, so the store may compress into
  // it; anything else is the caller's and left alone.
  const isNew = await store.put(
    formatDigest(t.digest),
    t.bytes,
    blocks?.holds(t.bytes) ? { scratch: true } : undefined,
  );
  blocks?.give(t.bytes);
  return { type: 'chunk', digest: t.digest, length: t.bytes.length, isNew };
}
