/**
 * Per-chunk compression for chunk stores and diff streams. A chunk is kept compressed only
 * when that saves space; its digest is always over the uncompressed bytes, and every codec
 * decodes every coding (docs/FORMAT.md §14). This file holds the interface and the deflate
 * codec that runs everywhere (CompressionStream `deflate-raw`); `lz4-codec.ts` has the LZ4
 * codec (WebAssembly), and the `./node` entry one over node:zlib and LZ4.
 *
 * @module
 */

import { readBytes, streamOfBytes } from '../bytes-stream.js';
import { MAX_CHUNK_MAX } from '../cdc/params.js';
import { CompressionError } from '../errors.js';
import { looksIncompressible } from './entropy.js';
import { inflateRawBounded } from './inflate-raw.js';
import { decodeLz4Block } from './lz4-block.js';

/**
 * How a chunk's bytes are stored: as they are, raw deflate (RFC 1951), or one LZ4 block (the
 * lz4 project's block format, no frame).
 */
export type ChunkCoding = 'identity' | 'deflate-raw' | 'lz4-block';

/** Every coding, at the index that is its number in the binary formats (FORMAT.md §11, §13). */
export const CHUNK_CODINGS: readonly ChunkCoding[] = ['identity', 'deflate-raw', 'lz4-block'];

/** A chunk as stored or sent. */
export interface EncodedChunk {
  coding: ChunkCoding;
  bytes: Uint8Array;
}

/** Compresses and decompresses single chunks. */
export interface ChunkCodec {
  /**
   * Encodes a chunk, keeping the compressed form only when it is smaller. May return `bytes`
   * itself (identity). The compressed bytes may be a view of a buffer shared with other
   * results (the LZ4 codec packs small blocks together): copy them before transferring their
   * buffer. `into`, when given, is memory the compressed bytes may go into (the result is then
   * a view of it), so that a caller can reuse its buffers; a codec may ignore it. It may be
   * `bytes` itself: a codec that writes into it must have read them first.
   */
  encode(bytes: Uint8Array, into?: Uint8Array): Promise<EncodedChunk>;
  /**
   * Decodes a chunk. Never produces more than `maxSize` bytes, whatever the input claims.
   * `into`, when given, is a buffer the decoded bytes may go into when they fit (the result is
   * then a view of it), so that a caller can reuse its buffers; a codec may ignore it. It may
   * hold `chunk.bytes` itself: a codec that writes into it must have read them first.
   * @throws {@link CompressionError} when the bytes do not decode or exceed `maxSize`.
   */
  decode(chunk: EncodedChunk, maxSize?: number, into?: Uint8Array): Promise<Uint8Array>;
}

/**
 * What every codec's `decode` starts with: the codings that need no inflater.
 * @returns the chunk's bytes for an identity or LZ4 chunk, `undefined` for a deflate-raw chunk
 * (the caller inflates it, bounded by `maxSize`).
 * @throws {@link CompressionError} for an identity chunk over `maxSize`, an LZ4 block that is
 * malformed or decodes past `maxSize`, or an unknown coding.
 */
export function decodeWithoutInflate(chunk: EncodedChunk, maxSize: number): Uint8Array | undefined {
  switch (chunk.coding) {
    case 'identity':
      if (chunk.bytes.length > maxSize) {
        throw new CompressionError(`chunk of ${chunk.bytes.length} bytes exceeds ${maxSize}`);
      }
      return chunk.bytes;
    case 'lz4-block':
      return decodeLz4Block(chunk.bytes, maxSize);
    case 'deflate-raw':
      return undefined;
    default:
      throw new CompressionError(`unknown chunk coding ${JSON.stringify(chunk.coding)}`);
  }
}

/**
 * Raw deflate (RFC 1951) of some bytes with the runtime's `CompressionStream`.
 * @param bytes - the input.
 * @returns the deflated bytes.
 */
export function webDeflateRaw(bytes: Uint8Array): Promise<Uint8Array> {
  return readBytes(
    streamOfBytes(bytes).pipeThrough(
      new CompressionStream('deflate-raw') as TransformStream<Uint8Array, Uint8Array>,
    ),
  );
}

/**
 * Decodes a chunk on any runtime, bounded (see {@link ChunkCodec.decode}): deflate-raw with
 * {@link inflateRawBounded}, which refuses bytes after the end of the deflate stream. Shared by
 * codecs that compress differently but decode the same way.
 */
export async function webDecode(chunk: EncodedChunk, maxSize = MAX_CHUNK_MAX): Promise<Uint8Array> {
  return decodeWithoutInflate(chunk, maxSize) ?? inflateChunk(chunk.bytes, maxSize);
}

/**
 * Inflates a deflate-raw chunk's bytes with {@link inflateRawBounded}, its errors named as a
 * chunk's. They carry no cause: what fails here is the bytes, which a store takes as proof of
 * a bad record (a cause with an error code would say the decoder failed).
 */
function inflateChunk(bytes: Uint8Array, maxSize: number): Uint8Array {
  try {
    return inflateRawBounded(bytes, maxSize);
  } catch (err) {
    throw new CompressionError(`chunk: ${(err as Error).message}`);
  }
}

/**
 * The codec that runs everywhere: `CompressionStream('deflate-raw')` at the runtime's default
 * level; chunks that look incompressible (sampled entropy) are not tried.
 * @returns the codec.
 */
export function webChunkCodec(): ChunkCodec {
  return {
    async encode(bytes) {
      if (bytes.length < 64 || looksIncompressible(bytes)) return { coding: 'identity', bytes };
      const packed = await webDeflateRaw(bytes);
      return packed.length < bytes.length
        ? { coding: 'deflate-raw', bytes: packed }
        : { coding: 'identity', bytes };
    },
    decode: webDecode,
  };
}
