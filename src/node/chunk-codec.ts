/**
 * The chunk codec for Node: raw deflate through node:zlib, which runs on the libuv thread
 * pool, off the main thread.
 *
 * @module
 */
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import { MAX_CHUNK_MAX } from '../cdc/params.js';
import { type ChunkCodec, needsInflate } from '../compress/chunk-codec.js';
import { looksIncompressible } from '../compress/entropy.js';
import { CompressionError, UsageError } from '../errors.js';
import { intOption } from '../options.js';

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

/** Options of {@link nodeChunkCodec}. */
export interface NodeChunkCodecOptions {
  /** zlib level, 1 (fastest) to 9 (smallest). @default 6 */
  level?: number;
}

/**
 * Creates a codec over node:zlib raw deflate. Chunks whose sampled entropy says they will not
 * shrink (already compressed or random data) are stored as they are without trying.
 * @param options - the level.
 * @returns the codec.
 */
export function nodeChunkCodec(options: NodeChunkCodecOptions = {}): ChunkCodec {
  const level = intOption(options.level, 'level', 6);
  if (level > 9) throw new UsageError(`level must be 1 to 9, got ${level}`);
  return {
    async encode(bytes) {
      if (bytes.length < 64 || looksIncompressible(bytes)) return { coding: 'identity', bytes };
      const packed = await deflate(bytes, { level });
      return packed.length < bytes.length
        ? { coding: 'deflate-raw', bytes: packed }
        : { coding: 'identity', bytes };
    },
    async decode(chunk, maxSize = MAX_CHUNK_MAX) {
      if (!needsInflate(chunk, maxSize)) return chunk.bytes;
      try {
        // maxOutputLength stops a bomb inside zlib, before the output is allocated.
        return await inflate(chunk.bytes, { maxOutputLength: maxSize });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const why =
          e.code === 'ERR_BUFFER_TOO_LARGE' ? `expands beyond ${maxSize} bytes` : e.message;
        throw new CompressionError(`chunk does not inflate: ${why}`, { cause: err });
      }
    },
  };
}
