/**
 * Digests every chunk, several at a time, keeping token order.
 *
 * @module
 */
import type { HashProvider } from '../hash/types.js';
import { intOption } from '../options.js';
import { createOrderedMap } from './ordered.js';
import type { ChunkedToken, ChunkToken, DigestedChunkToken, DigestedToken } from './tokens.js';

/** Options of {@link createChunkDigester}. */
export interface ChunkDigesterOptions {
  /** Hashing for chunk digests. */
  hash: HashProvider;
  /** Chunks digested at once. @default 4 */
  concurrency?: number;
}

/**
 * Creates the stream that adds a SHA-256 digest to every chunk token.
 * @param options - hashing and concurrency.
 * @returns a `TransformStream` from {@link ChunkedToken}s to {@link DigestedToken}s.
 */
export function createChunkDigester(
  options: ChunkDigesterOptions,
): TransformStream<ChunkedToken, DigestedToken> {
  const { hash } = options;
  return createOrderedMap<ChunkedToken, DigestedToken>(
    (t) => (t.type === 'chunk' ? digestChunk(hash, t) : t),
    intOption(options.concurrency, 'concurrency', 4),
  );
}

/**
 * The digester's work for one chunk (also done by `createTarChunker`'s single stage).
 * @param hash - hashing for chunk digests.
 * @param t - the chunk.
 * @returns the chunk with its digest.
 */
export async function digestChunk(hash: HashProvider, t: ChunkToken): Promise<DigestedChunkToken> {
  return { type: 'chunk', bytes: t.bytes, digest: await hash.digest(t.bytes) };
}
