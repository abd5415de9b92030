/**
 * Streaming zstd decompression, pull-driven and bounded. {@link ZstdWalker} walks the frames
 * and blocks, refusing frames whose window exceeds `maxWindow` before anything is allocated,
 * and each pull decodes a slice of about `sliceBytes` of output, never spanning two frames
 * (fzstd allocates a whole window for every frame: a slice of many tiny frames with huge
 * windows took gigabytes).
 *
 * Two engines decode the blocks:
 * - `wasm`, layerdiff's own block decoder (`assembly/zstd.ts`), wherever WebAssembly compiles
 *   from bytes at run time (Node, browsers), or given the precompiled module (workerd). About
 *   3 to 4 times as fast as fzstd on text (750–900 MB/s here); its memory is one window
 *   plus about half a megabyte, allocated once.
 * - `fzstd`, in pure JS, elsewhere (`node --jitless`; workerd without the module). It
 *   allocates per block, and a whole window per frame.
 *
 * Either way, this decoder checks each frame's content size and content checksum where the
 * frame has them (the `zstd` tool writes the checksum by default, and the content size when
 * it knows the input's size): fzstd checks neither, and decodes some corrupt blocks without
 * complaint, so such corruption fails the stream instead of becoming a wrong tar.
 *
 * @module
 */
import { Decompress } from 'fzstd';
import { CompressionError, LayerdiffError, UsageError, WasmUnavailableError } from '../errors.js';
import { Xxh64 } from '../hash/xxh64.js';
import { giveBack } from '../lend.js';
import { type ZstdFrame, ZstdWalker } from './zstd-walker.js';
import { zstdBlockDecoder } from './zstd-wasm.js';

/** Options of {@link createZstdDecoder}. */
export interface ZstdDecoderOptions {
  /** Largest frame window accepted, in bytes. @default 134217728 (128 MiB, zstd's own default limit) */
  maxWindow?: number;
  /**
   * Output produced per pull, at most, plus one block (128 KiB); with fzstd, plus up to two
   * more at the start of a frame, where it holds its first 18 bytes (up to three RLE blocks)
   * until it has them all.
   * @default 1048576
   */
  sliceBytes?: number;
  /**
   * Which decoder decodes the blocks (see the module's description).
   * @default 'wasm' where WebAssembly compiles, else 'fzstd'
   */
  engine?: 'wasm' | 'fzstd';
  /**
   * The `wasm` engine's module, precompiled (`layerdiff/zstd.wasm`), for runtimes that refuse
   * to compile WebAssembly at run time (workerd). By default the embedded module is compiled.
   */
  wasm?: WebAssembly.Module;
  /**
   * With the `wasm` engine: hand the output out in lent buffers and reuse those given back
   * (see `lend`), so a long stream does not leave its output to the garbage collector; and give
   * back each lent input buffer once it is decoded. Only for output that goes straight into
   * `convert`, `createConverter` or `createDiff` (which set it), never to a consumer that keeps
   * what it is given. @default false
   */
  recycle?: boolean;
}

/** What decodes the blocks the walker walks, and hands the output on. */
interface Engine {
  /** The walker; it may have a sink, which it then tells of every block. */
  readonly walker: ZstdWalker;
  /** `bytes[start, end)` were just walked. */
  walked(bytes: Uint8Array, start: number, end: number): void;
  /** The walk just ended a frame. */
  frameEnded(): void;
  /** The stream ended (at a frame boundary). */
  finish(): void;
}

/**
 * Decompresses a zstd stream (one or more frames, skippable frames allowed).
 * @param source - the compressed bytes.
 * @param options - limits.
 * @returns the decompressed bytes as a pull stream.
 * @throws {@link UsageError} when `maxWindow` is not a number >= 0, `sliceBytes` not >= 1 or
 * `engine` not one of the two;
 * {@link WasmUnavailableError} when `engine` is `'wasm'` and the runtime cannot compile the
 * module, or when it refuses to instantiate `wasm`.
 */
export function createZstdDecoder(
  source: ReadableStream<Uint8Array>,
  options: ZstdDecoderOptions = {},
): ReadableStream<Uint8Array> {
  const maxWindow = options.maxWindow ?? 128 * 1024 * 1024;
  const sliceBytes = options.sliceBytes ?? 1024 * 1024;
  // A NaN limit would accept every window; a slice budget below 1 would never advance.
  if (!(maxWindow >= 0)) throw new UsageError(`zstd: maxWindow must be >= 0, got ${maxWindow}`);
  if (!(sliceBytes >= 1)) throw new UsageError(`zstd: sliceBytes must be >= 1, got ${sliceBytes}`);
  if (options.engine !== undefined && options.engine !== 'wasm' && options.engine !== 'fzstd') {
    throw new UsageError(`zstd: engine must be 'wasm' or 'fzstd', got ${String(options.engine)}`);
  }
  const reader = source.getReader();
  const out: Uint8Array[] = [];
  /** The frame being decoded: what its header declares, and what it has produced so far. */
  let frame: { header: ZstdFrame; bytes: number; xxh?: Xxh64; stored?: number } | undefined;
  const onData = (data: Uint8Array) => {
    if (!data.length) return;
    out.push(data);
    // The walker hands the decoder one frame at a time, so all output is the current frame's.
    if (frame) {
      frame.bytes += data.length;
      frame.xxh?.update(data);
    }
  };
  const engine =
    options.engine === 'fzstd'
      ? undefined
      : wasmEngine(maxWindow, onData, options.wasm, options.recycle);
  if (options.engine === 'wasm' && !engine) {
    throw new WasmUnavailableError('zstd: this runtime cannot compile the zstd WebAssembly module');
  }
  const { walker, walked, frameEnded, finish } = engine ?? fzstdEngine(maxWindow, onData);

  /** Checks a frame, once decoded whole, against its header and its checksum. */
  const checkFrame = () => {
    if (!frame) return;
    const { header, bytes, xxh, stored } = frame;
    frame = undefined;
    const where = `the frame at compressed offset ${header.offset}`;
    if (header.contentSize !== undefined && bytes !== header.contentSize) {
      throw new CompressionError(
        `zstd: ${where} decoded to ${bytes} bytes, but its header declares ${header.contentSize}`,
      );
    }
    if (xxh && stored !== undefined) {
      const computed = xxh.digest().low;
      if (computed !== stored) {
        throw new CompressionError(
          `zstd: ${where} fails its content checksum (stored ${hex(stored)}, computed ${hex(computed)})`,
        );
      }
    }
  };

  /** Walks and decodes the next slice of `bytes` from `at`; returns where it stopped. */
  const decodeSlice = (bytes: Uint8Array, at: number): number => {
    const end = walker.walk(bytes, at, sliceBytes);
    if (walker.started) {
      const header = walker.started;
      frame = { header, bytes: 0, ...(header.checksum ? { xxh: new Xxh64() } : {}) };
    }
    walked(bytes, at, end);
    if (walker.ended) {
      frameEnded();
      if (frame) frame.stored = walker.ended.checksum;
      checkFrame();
    }
    return end;
  };
  let piece: Uint8Array | undefined;
  let pos = 0;
  let inputFailure: { err: unknown } | undefined;

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        while (out.length === 0) {
          if (!piece || pos >= piece.length) {
            const r = await reader.read().catch((err: unknown) => {
              inputFailure = { err };
              throw err;
            });
            if (r.done) {
              if (!walker.atFrameBoundary) {
                throw new CompressionError(
                  `zstd: stream truncated at compressed offset ${walker.offset}`,
                );
              }
              finish();
              for (const o of out.splice(0)) controller.enqueue(o);
              controller.close();
              return;
            }
            piece = r.value;
            pos = 0;
            continue;
          }
          pos = decodeSlice(piece, pos);
        }
        for (const o of out.splice(0)) controller.enqueue(o);
      } catch (err) {
        await reader.cancel(err).catch(() => {});
        // The input's own failure (an aborted fetch, a network error) is passed on as it is,
        // not taken for corrupt zstd.
        throw err instanceof LayerdiffError || err === inputFailure?.err
          ? err
          : new CompressionError(`zstd: ${(err as Error).message}`, { cause: err });
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** layerdiff's own block decoder, or undefined where WebAssembly does not compile. */
function wasmEngine(
  maxWindow: number,
  onData: (data: Uint8Array) => void,
  module: WebAssembly.Module | undefined,
  recycle = false,
): Engine | undefined {
  const blocks = zstdBlockDecoder(module, recycle);
  if (!blocks) return undefined;
  /** The lent buffer behind the last input piece: the decoder copies all it keeps of it. */
  let input: ArrayBufferLike | undefined;
  return {
    walker: new ZstdWalker(maxWindow, blocks),
    walked: (bytes) => {
      if (recycle && bytes.buffer !== input) {
        if (input) giveBack(input);
        input = bytes.buffer;
      }
      for (const o of blocks.take()) onData(o);
    },
    frameEnded: () => {},
    finish: () => {
      if (input) giveBack(input);
      input = undefined;
    },
  };
}

/**
 * fzstd, fed the walked bytes. fzstd holds back a frame's first 18 bytes until more come, so
 * a whole frame of fewer bytes would give its output only when the next frame's bytes arrive;
 * the decoder of a frame is flushed (`final`) at its end instead, and the next frame gets a
 * new one.
 */
function fzstdEngine(maxWindow: number, onData: (data: Uint8Array) => void): Engine {
  const walker = new ZstdWalker(maxWindow, {
    frame: () => {},
    block: (type, size, _max, offset) => {
      // Valid (libzstd skips it), but fzstd decodes it to a few zero bytes: refused here.
      if (type === 2 && size === 0) {
        throw new CompressionError(
          `zstd: an empty compressed block at compressed offset ${offset}, which fzstd cannot decode`,
        );
      }
    },
    body: () => {},
    end: () => {},
  });
  let decoder = new Decompress(onData);
  const push = (bytes: Uint8Array, final: boolean) => {
    try {
      decoder.push(bytes, final);
    } catch (err) {
      throw new CompressionError(
        `zstd: corrupt data near compressed offset ${walker.offset} (${(err as Error).message})`,
        { cause: err },
      );
    }
  };
  return {
    walker,
    walked: (bytes, start, end) => push(bytes.subarray(start, end), false),
    frameEnded: () => {
      // The frame is whole: flushed, its decoder has given out all it holds.
      push(new Uint8Array(0), true);
      decoder = new Decompress(onData);
    },
    finish: () => push(new Uint8Array(0), true),
  };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
