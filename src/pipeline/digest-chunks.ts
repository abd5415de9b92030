/**
 * Digests every chunk, several at a time, keeping token order.
 *
 * @module
 */
import type { HashProvider } from '../hash/types.js';
import { intOption } from '../options.js';
import { createOrderedMap } from './ordered.js';
import type { ChunkedToken, DigestedToken } from './tokens.js';

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
    async (t) => {
      if (t.type !== 'chunk') return t;
      return { type: 'chunk', bytes: t.bytes, digest: await hash.digest(t.bytes) };
    },
    intOption(options.concurrency, 'concurrency', 4),
  );
}
