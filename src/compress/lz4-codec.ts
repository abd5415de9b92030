/**
 * The LZ4 chunk codec: chunks are compressed into LZ4 blocks, and decoded, by the WebAssembly
 * module built from `assembly/lz4.ts`; it compresses several times faster than deflate for
 * about a fifth more bytes (README, "Chunk stores and compression"). Where the module is not at
 * hand, `decodeLz4Block` decodes the same blocks in JS.
 *
 * @module
 */

import { MAX_CHUNK_MAX } from '../cdc/params.js';
import { UsageError } from '../errors.js';
import { Slabs } from '../slabs.js';
import {
  decodeBase64,
  instantiateEmbeddedSync,
  instantiateWasm,
  type WasmSource,
} from '../wasm.js';
import { type ChunkCodec, webDecode } from './chunk-codec.js';
import { looksIncompressible } from './entropy.js';
import { decodeLz4Block } from './lz4-block.js';
import { LZ4_WASM_BASE64 } from './lz4-wasm.generated.js';

/** The exports of `lz4.wasm`. */
interface Lz4Exports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  compress(src: number, len: number, dst: number): number;
  decompress(src: number, len: number, dst: number, cap: number): number;
}

const FUNCTIONS = ['heapBase', 'compress', 'decompress'] as const;

/** Largest input `compress` takes; chunks are at most 16 MiB. */
const MAX_INPUT = 16 * 1024 * 1024;
/** Largest output `decode` asks of the module; larger ones decode in JS. */
const MAX_WASM_OUTPUT = 1024 * 1024;
const PAGE = 65536;
/** Bytes the module may touch after its input and after its output's bound (assembly/lz4.ts). */
const DECODE_SLACK = 32;
/**
 * Chunks from this size on are sampled for entropy before compressing. LZ4 itself gives up
 * quickly on random data (2 GB/s on 5 KiB chunks, 4 GB/s on 64 KiB), so smaller chunks, whose
 * sample would be the whole chunk, cost less compressed outright.
 */
const SAMPLED = 16 * 1024;

/**
 * LZ4 blocks of single chunks, compressed and decoded by one instance of `lz4.wasm`. Calls are
 * synchronous, so one instance serves any number of concurrent encodes and decodes, and
 * several kernels may share an instance.
 */
export class Lz4Kernel {
  readonly #x: Lz4Exports;
  readonly #base: number;
  /** A view of the module's memory, made anew when the memory grows. */
  #mem: Uint8Array;
  /** Where compressed blocks are copied out of the module's memory. */
  readonly #blocks = new Slabs();

  /**
   * @param instance - an instance of `lz4.wasm`.
   * @throws {@link UsageError} when the instance does not export what the module does.
   */
  constructor(instance: WebAssembly.Instance) {
    const x = instance.exports as Partial<Lz4Exports>;
    if (
      !(x.memory instanceof WebAssembly.Memory) ||
      FUNCTIONS.some((f) => typeof x[f] !== 'function')
    ) {
      throw new UsageError(`not an instance of lz4.wasm (memory, ${FUNCTIONS.join(', ')})`);
    }
    this.#x = x as Lz4Exports;
    this.#base = (this.#x.heapBase() + 63) & ~63;
    this.#mem = new Uint8Array(x.memory.buffer);
  }

  /** The module's memory, grown to at least `need` bytes. Memory only grows. */
  #memory(need: number): Uint8Array {
    const { memory } = this.#x;
    // Another kernel on this instance may have grown (and so detached) the memory.
    if (this.#mem.buffer !== memory.buffer) this.#mem = new Uint8Array(memory.buffer);
    if (need > this.#mem.length) {
      memory.grow(Math.ceil((need - this.#mem.length) / PAGE));
      this.#mem = new Uint8Array(memory.buffer);
    }
    return this.#mem;
  }

  /**
   * Compresses `bytes` into one LZ4 block.
   * @param bytes - at most 16 MiB.
   * @param into - where to put the block when it fits (the result is then a view of it); it may
   *   be `bytes` itself, which is read before anything is written.
   * @returns the block, or `undefined` when it would not be smaller than `bytes`.
   */
  compress(bytes: Uint8Array, into?: Uint8Array): Uint8Array | undefined {
    const len = bytes.length;
    if (len > MAX_INPUT) throw new RangeError(`LZ4 input of ${len} bytes exceeds ${MAX_INPUT}`);
    const src = this.#base;
    const dst = src + len + 64;
    // Input, then the worst-case output (all literals): 0.5 MiB for the default chunker's
    // largest chunk, 256 KiB.
    const mem = this.#memory(dst + len + Math.ceil(len / 255) + 16 + DECODE_SLACK);
    mem.set(bytes, src);
    const size = this.#x.compress(src, len, dst);
    if (size >= len) return undefined;
    const block = mem.subarray(dst, dst + size);
    if (into && into.length >= size) {
      into.set(block);
      return into.subarray(0, size);
    }
    // Blocks of small chunks share buffers (see Slabs).
    return this.#blocks.copy(block);
  }

  /**
   * Decodes one LZ4 block, as {@link decodeLz4Block} does (same checks, same errors), three to
   * four times faster on 64 KiB chunks. The module decodes outputs of up to 1 MiB; a block it
   * refuses, or whose output is larger, is decoded in JS, which is the reference and names the
   * fault.
   * @param block - the block.
   * @param maxSize - the most bytes it may decode to.
   * @param into - where to put the decoded bytes when they fit (the result is then a view of
   *   it); it may hold `block` itself, which is read before anything is written.
   * @returns the decoded bytes.
   * @throws {@link CompressionError} for a malformed block or one that decodes past `maxSize`;
   * `RangeError` when `maxSize` is not a size.
   */
  decode(block: Uint8Array, maxSize: number, into?: Uint8Array): Uint8Array {
    if (!(Number.isSafeInteger(maxSize) && maxSize >= 0)) return decodeLz4Block(block, maxSize);
    const n = block.length;
    const cap = Math.min(maxSize, n * 255 + 16, MAX_WASM_OUTPUT);
    // A block that decodes to at most `cap` bytes is at most about as long (literals cost a
    // byte each, plus a byte per 255 of run length); longer ones go straight to JS, so that
    // the module's memory stays within a few MiB.
    if (n > 2 * cap + 64) return decodeLz4Block(block, maxSize);
    const src = this.#base;
    const dst = src + n + 64;
    const mem = this.#memory(dst + cap + DECODE_SLACK);
    mem.set(block, src);
    const size = this.#x.decompress(src, n, dst, cap);
    // Refused: malformed (JS names the fault), or more than `cap` bytes (JS decodes it).
    if (size < 0) return decodeLz4Block(block, maxSize);
    if (!into || into.length < size) return mem.slice(dst, dst + size);
    into.set(mem.subarray(dst, dst + size));
    return into.subarray(0, size);
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
   * Decodes the codings other than LZ4 (the kernel decodes LZ4 blocks).
   * @default webDecode, which inflates deflate-raw chunks with pako (`inflateRawBounded`)
   */
  decode?: ChunkCodec['decode'];
}

let embedded: Promise<WebAssembly.Instance> | undefined;

/**
 * Creates a codec that stores chunks as LZ4 blocks (`lz4-block`) when that is smaller, and
 * chunks of 16 KiB or more whose sampled entropy says they will not shrink as they are,
 * without trying.
 * @param kernel - the module instance that compresses (and decodes LZ4 blocks).
 * @param inflate - how the codec decodes the other codings (see
 * {@link LoadLz4CodecOptions.decode}).
 * @returns the codec.
 */
export function lz4ChunkCodec(
  kernel: Lz4Kernel,
  inflate: ChunkCodec['decode'] = webDecode,
): ChunkCodec {
  return {
    async encode(bytes, into) {
      if (bytes.length < 64 || (bytes.length >= SAMPLED && looksIncompressible(bytes))) {
        return { coding: 'identity', bytes };
      }
      const packed = kernel.compress(bytes, into);
      return packed ? { coding: 'lz4-block', bytes: packed } : { coding: 'identity', bytes };
    },
    async decode(chunk, maxSize = MAX_CHUNK_MAX, into) {
      return chunk.coding === 'lz4-block'
        ? kernel.decode(chunk.bytes, maxSize, into)
        : inflate(chunk, maxSize);
    },
  };
}

/**
 * Loads the LZ4 module and makes a codec of it (see {@link lz4ChunkCodec}).
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
  return lz4ChunkCodec(new Lz4Kernel(await instance), options.decode);
}

/**
 * Compiles and instantiates the embedded module synchronously, where the runtime allows it
 * (Node does; browsers refuse large modules on the main thread, workerd refuses any).
 * @returns a kernel.
 */
export function embeddedLz4KernelSync(): Lz4Kernel {
  return new Lz4Kernel(instantiateEmbeddedSync(LZ4_WASM_BASE64));
}
