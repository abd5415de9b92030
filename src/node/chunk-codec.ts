/**
 * The chunk codec for Node: LZ4 blocks (WebAssembly, on the calling thread) or raw deflate
 * through node:zlib (on the libuv thread pool, off the main thread, or blocking, on the calling
 * thread). It decodes every coding.
 *
 * @module
 */
import { promisify } from 'node:util';
import { deflateRaw, deflateRawSync, inflateRaw, inflateRawSync } from 'node:zlib';
import { MAX_CHUNK_MAX } from '../cdc/params.js';
import { type ChunkCodec, decodeWithoutInflate } from '../compress/chunk-codec.js';
import { looksIncompressible } from '../compress/entropy.js';
import { embeddedLz4KernelSync, type Lz4Kernel, lz4ChunkCodec } from '../compress/lz4-codec.js';
import { CompressionError, UsageError } from '../errors.js';
import { intOption } from '../options.js';

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

/** Options of {@link nodeChunkCodec}. */
export interface NodeChunkCodecOptions {
  /**
   * How new chunks are compressed: `'lz4'` (LZ4 blocks; on the README's Debian layer 4.3
   * times faster than deflate level 1, for a fifth more bytes) or `'deflate'` (raw deflate at
   * `level`). Where WebAssembly cannot be compiled (`node --jitless`), `'lz4'` deflates at
   * `level` (1 unless given). Reading handles every coding, whatever this says.
   * @default 'deflate'
   */
  algorithm?: 'lz4' | 'deflate';
  /** zlib level, 1 (fastest) to 9 (smallest). @default 6 for `'deflate'`, 1 for `'lz4'` */
  level?: number;
  /**
   * Deflate and inflate with node:zlib's synchronous calls, on the calling thread. Each thread
   * pool call sets up a stream and costs two thread hand-offs: on 65 MB of text in 1 to 64 KiB
   * chunks, level 1 took 0.36 s of CPU this way against 0.54 to 0.67 s on the pool. The event
   * loop waits meanwhile (up to a few milliseconds a chunk): for command-line tools, not
   * servers. @default false
   */
  blocking?: boolean;
}

/**
 * Creates a codec over LZ4 or node:zlib raw deflate. Chunks whose sampled entropy says they will
 * not shrink (already compressed or random data) are stored as they are without trying.
 * @param options - the algorithm, the level, and which thread does the work.
 * @returns the codec.
 */
export function nodeChunkCodec(options: NodeChunkCodecOptions = {}): ChunkCodec {
  const algorithm = options.algorithm ?? 'deflate';
  if (algorithm !== 'lz4' && algorithm !== 'deflate') {
    throw new UsageError(`algorithm must be 'lz4' or 'deflate', got ${JSON.stringify(algorithm)}`);
  }
  // Level 1 when deflate stands in for LZ4 (no WebAssembly), as the stores did before LZ4.
  const level = intOption(options.level, 'level', algorithm === 'lz4' ? 1 : 6);
  if (level > 9) throw new UsageError(`level must be 1 to 9, got ${level}`);
  const blocking = options.blocking === true;
  const codec: ChunkCodec = {
    async encode(bytes) {
      if (bytes.length < 64 || looksIncompressible(bytes)) return { coding: 'identity', bytes };
      const packed = blocking ? deflateRawSync(bytes, { level }) : await deflate(bytes, { level });
      return packed.length < bytes.length
        ? { coding: 'deflate-raw', bytes: packed }
        : { coding: 'identity', bytes };
    },
    async decode(chunk, maxSize = MAX_CHUNK_MAX, into) {
      if (chunk.coding === 'lz4-block') {
        const k = lz4Kernel();
        if (k) return k.decode(chunk.bytes, maxSize, into);
      }
      // Identity, and LZ4 in JS where the module cannot be loaded.
      const decoded = decodeWithoutInflate(chunk, maxSize);
      if (decoded) return decoded;
      let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
      try {
        // maxOutputLength stops a bomb inside zlib, before the output is allocated; `info`
        // tells how much input zlib took, since it ignores bytes after the stream's end.
        const options = { maxOutputLength: maxSize, info: true };
        inflated = (blocking
          ? inflateRawSync(chunk.bytes, options)
          : await inflate(chunk.bytes, options)) as unknown as typeof inflated;
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const why =
          e.code === 'ERR_BUFFER_TOO_LARGE'
            ? `deflate data inflates past ${maxSize} bytes`
            : `deflate data does not inflate: ${e.message}`;
        throw new CompressionError(`chunk: ${why}`, { cause: err });
      }
      const left = chunk.bytes.length - inflated.engine.bytesWritten;
      if (left > 0) {
        throw new CompressionError(`chunk: ${left} bytes follow the end of the deflate data`);
      }
      return inflated.buffer;
    },
  };
  // Node compiles WebAssembly synchronously, so this codec needs no loading step.
  const k = algorithm === 'lz4' ? lz4Kernel() : undefined;
  return k ? lz4ChunkCodec(k, codec.decode) : codec;
}

/** The process's one LZ4 kernel (it is synchronous, so one serves every codec); null: none. */
let kernel: Lz4Kernel | null | undefined;

/**
 * The LZ4 kernel, or `undefined` where WebAssembly cannot be compiled (`node --jitless`, an
 * embedder that forbids it): reads then decode LZ4 in JS, and writes deflate.
 */
function lz4Kernel(): Lz4Kernel | undefined {
  if (kernel === undefined) {
    try {
      kernel = embeddedLz4KernelSync();
    } catch {
      kernel = null;
    }
  }
  return kernel ?? undefined;
}
