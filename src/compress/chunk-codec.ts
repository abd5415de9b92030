/**
 * Per-chunk compression for chunk stores and diff streams. A chunk is kept compressed only
 * when that saves space; its digest is always over the uncompressed bytes. This file holds the
 * interface and the implementation that runs everywhere (CompressionStream `deflate-raw`);
 * the `./node` entry has a faster one over node:zlib.
 *
 * @module
 */

import { readBytes, streamOfBytes } from '../bytes-stream.js';
import { MAX_CHUNK_MAX } from '../cdc/params.js';
import { CompressionError } from '../errors.js';
import { looksIncompressible } from './entropy.js';
import { pullThrough } from './lockstep.js';

/** How a chunk's bytes are stored: as they are, or raw deflate (RFC 1951). */
export type ChunkCoding = 'identity' | 'deflate-raw';

/** A chunk as stored or sent. */
export interface EncodedChunk {
  coding: ChunkCoding;
  bytes: Uint8Array;
}

/** Compresses and decompresses single chunks. */
export interface ChunkCodec {
  /**
   * Encodes a chunk, keeping the compressed form only when it is smaller. May return `bytes`
   * itself (identity).
   */
  encode(bytes: Uint8Array): Promise<EncodedChunk>;
  /**
   * Decodes a chunk. Never produces more than `maxSize` bytes, whatever the input claims.
   * @throws {@link CompressionError} when the bytes do not decode or exceed `maxSize`.
   */
  decode(chunk: EncodedChunk, maxSize?: number): Promise<Uint8Array>;
}

/** Input slice written to a DecompressionStream at once: bounds its output (deflate ≤ 1032:1). */
const DECODE_SLICE = 16 * 1024;

/**
 * The checks every codec's `decode` starts with.
 * @returns false for an identity chunk within `maxSize` (its bytes are the chunk), true for a
 * deflate-raw chunk to inflate.
 * @throws {@link CompressionError} for an identity chunk over `maxSize` or an unknown coding.
 */
export function needsInflate(chunk: EncodedChunk, maxSize: number): boolean {
  if (chunk.coding === 'identity') {
    if (chunk.bytes.length > maxSize) {
      throw new CompressionError(`chunk of ${chunk.bytes.length} bytes exceeds ${maxSize}`);
    }
    return false;
  }
  if (chunk.coding !== 'deflate-raw') {
    throw new CompressionError(`unknown chunk coding ${JSON.stringify(chunk.coding)}`);
  }
  return true;
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
 * Decodes a chunk with `DecompressionStream`, bounded (see {@link ChunkCodec.decode}).
 * Shared by codecs that compress differently but decode the same way.
 */
export async function webDecode(chunk: EncodedChunk, maxSize = MAX_CHUNK_MAX): Promise<Uint8Array> {
  if (!needsInflate(chunk, maxSize)) return chunk.bytes;
  try {
    return await readBytes(
      pullThrough(
        streamOfBytes(chunk.bytes),
        new DecompressionStream('deflate-raw') as TransformStream<Uint8Array, Uint8Array>,
        DECODE_SLICE,
      ),
      maxSize,
      () => new CompressionError(`compressed chunk expands beyond ${maxSize} bytes`),
    );
  } catch (err) {
    if (err instanceof CompressionError) throw err;
    throw new CompressionError(`chunk does not inflate: ${(err as Error).message}`, {
      cause: err,
    });
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
