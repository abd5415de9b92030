/**
 * The LZ4 chunk codec: chunks are compressed into LZ4 blocks by the WebAssembly module built
 * from `assembly/lz4.ts`, several times faster than deflate for about a fifth more bytes
 * (README, "Chunk compression"), and decoded in plain JS.
 *
 * @module
 */

import { UsageError } from '../errors.js';
import { decodeBase64, instantiateWasm, type WasmSource } from '../wasm.js';
import { type ChunkCodec, webDecode } from './chunk-codec.js';
import { looksIncompressible } from './entropy.js';
import { LZ4_WASM_BASE64 } from './lz4-wasm.generated.js';

/** The exports of `lz4.wasm`. */
interface Lz4Exports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  compress(src: number, len: number, dst: number): number;
}

/** Largest input one call takes; chunks are at most 16 MiB. */
const MAX_INPUT = 16 * 1024 * 1024;
const PAGE = 65536;
/**
 * Chunks from this size on are sampled for entropy before compressing. LZ4 itself gives up
 * quickly on random data (2 GB/s on 5 KiB chunks, 4 GB/s on 64 KiB), so smaller chunks, whose
 * sample would be the whole chunk, cost less compressed outright.
 */
const SAMPLED = 16 * 1024;

/**
 * LZ4 block compression of single chunks by one instance of `lz4.wasm`. Calls are synchronous,
 * so one instance serves any number of concurrent encodes.
 */
export class Lz4Compressor {
  readonly #x: Lz4Exports;
  readonly #base: number;
  /** A view of the module's memory, made anew when the memory grows. */
  #mem: Uint8Array;

  /**
   * @param instance - an instance of `lz4.wasm`.
   * Several compressors may share an instance (calls are synchronous).
   * @throws {@link UsageError} when the instance does not export what the module does.
   */
  constructor(instance: WebAssembly.Instance) {
    const x = instance.exports as Partial<Lz4Exports>;
    if (
      !(x.memory instanceof WebAssembly.Memory) ||
      typeof x.heapBase !== 'function' ||
      typeof x.compress !== 'function'
    ) {
      throw new UsageError('not an instance of lz4.wasm (memory, heapBase, compress)');
    }
    this.#x = x as Lz4Exports;
    this.#base = (this.#x.heapBase() + 63) & ~63;
    this.#mem = new Uint8Array(x.memory.buffer);
  }

  /**
   * Compresses `bytes` into one LZ4 block.
   * @param bytes - at most 16 MiB.
   * @returns the block, or `undefined` when it would not be smaller than `bytes`.
   */
  compress(bytes: Uint8Array): Uint8Array | undefined {
    const len = bytes.length;
    if (len > MAX_INPUT) throw new RangeError(`LZ4 input of ${len} bytes exceeds ${MAX_INPUT}`);
    const { memory, compress } = this.#x;
    const src = this.#base;
    const dst = src + len + 64;
    // Input, then the worst-case output (all literals). Memory only grows, to fit the largest
    // chunk seen: 0.5 MiB for the default chunker's 256 KiB maximum.
    const need = dst + len + Math.ceil(len / 255) + 16;
    // Another compressor on this instance may have grown (and so detached) the memory.
    if (this.#mem.buffer !== memory.buffer) this.#mem = new Uint8Array(memory.buffer);
    if (need > this.#mem.length) {
      memory.grow(Math.ceil((need - this.#mem.length) / PAGE));
      this.#mem = new Uint8Array(memory.buffer);
    }
    const mem = this.#mem;
    mem.set(bytes, src);
    const size = compress(src, len, dst);
    return size < len ? mem.slice(dst, dst + size) : undefined;
  }
}

/** Options of {@link loadLz4Codec}. */
export interface LoadLz4CodecOptions {
  /**
   * The module: `undefined` for the one embedded in this library, a precompiled
   * `WebAssembly.Module` (workerd: `import lz4 from 'layerdiff/lz4.wasm'`), or its bytes.
   * @default undefined
   */
  wasm?: WasmSource;
  /**
   * Decodes what the codec reads (every coding, identity and LZ4 included).
   * @default webDecode, which inflates deflate-raw chunks with `DecompressionStream`
   */
  decode?: ChunkCodec['decode'];
}

let embedded: Promise<WebAssembly.Instance> | undefined;

/**
 * Creates a codec that stores chunks as LZ4 blocks (`lz4-block`) when that is smaller, and
 * chunks of 16 KiB or more whose sampled entropy says they will not shrink as they are,
 * without trying.
 * @param compressor - the compressor.
 * @param decode - how chunks are decoded (see {@link LoadLz4CodecOptions.decode}).
 * @returns the codec.
 */
export function lz4ChunkCodec(
  compressor: Lz4Compressor,
  decode: ChunkCodec['decode'] = webDecode,
): ChunkCodec {
  return {
    async encode(bytes) {
      if (bytes.length < 64 || (bytes.length >= SAMPLED && looksIncompressible(bytes))) {
        return { coding: 'identity', bytes };
      }
      const packed = compressor.compress(bytes);
      return packed ? { coding: 'lz4-block', bytes: packed } : { coding: 'identity', bytes };
    },
    decode,
  };
}

/**
 * Loads the LZ4 compressor and makes a codec of it (see {@link lz4ChunkCodec}).
 * @param options - which module, and how to decode.
 * @returns the codec.
 * @throws {@link WasmUnavailableError} (as a rejection) when the runtime cannot instantiate the
 * module; a caller that must go on can fall back to {@link webChunkCodec}.
 * @example
 * ```ts
 * const { stream, done } = createDiff(layer, { bases, store, codec: await loadLz4Codec() });
 * ```
 */
export async function loadLz4Codec(options: LoadLz4CodecOptions = {}): Promise<ChunkCodec> {
  let instance: Promise<WebAssembly.Instance>;
  if (options.wasm === undefined) {
    embedded ??= instantiateWasm(decodeBase64(LZ4_WASM_BASE64), 'LZ4 WebAssembly module');
    instance = embedded;
  } else {
    instance = instantiateWasm(options.wasm, 'LZ4 WebAssembly module');
  }
  return lz4ChunkCodec(new Lz4Compressor(await instance), options.decode);
}

/**
 * Compiles and instantiates the embedded module synchronously, where the runtime allows it
 * (Node does; browsers refuse large modules on the main thread, workerd refuses any).
 * @returns a compressor.
 */
export function embeddedLz4CompressorSync(): Lz4Compressor {
  const module = new WebAssembly.Module(decodeBase64(LZ4_WASM_BASE64));
  return new Lz4Compressor(new WebAssembly.Instance(module, {}));
}
