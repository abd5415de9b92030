/**
 * The host side of layerdiff's zstd block decoder (`assembly/zstd.ts`, compiled to
 * `zstd.wasm`): a {@link ZstdBlockSink} that copies each block the walker finds into the
 * module, has it decoded into the module's history buffer, and hands out the output in
 * pieces of about a slice. Its memory is the window plus about half a megabyte (the
 * history buffer is a ring of the window and two blocks), allocated once per frame size and
 * reused, so decoding a layer allocates nothing per block but the output it hands out.
 *
 * @module
 */
import { CompressionError } from '../errors.js';
import { lend } from '../lend.js';
import { compileEmbeddedSync, instantiateModuleSync } from '../wasm.js';
import type { ZstdBlockSink } from './zstd-walker.js';
import { ZSTD_WASM_BASE64 } from './zstd-wasm.generated.js';

/** The exports of `zstd.wasm` (u32 results come back as signed numbers: read them `>>> 0`). */
interface ZstdExports {
  memory: WebAssembly.Memory;
  inputPtr(): number;
  historyPtr(): number;
  position(): number;
  room(): number;
  errorAt(): number;
  frame(window: number): number;
  wrap(): void;
  block(type: number, size: number, blockMax: number): number;
}

const BLOCK_MAX = 128 * 1024;
/** The largest window the module can hold (with its ring's two extra blocks, in 32-bit memory). */
const MAX_WINDOW = 2 ** 32 - 32 * 1024 * 1024;

/** What the module's fault codes mean (the `E_*` constants of `assembly/zstd.ts`). */
const FAULTS: Record<number, string> = {
  [-1]: 'malformed literals section header',
  [-2]: 'literals section size out of bounds',
  [-3]: 'malformed Huffman tree description',
  [-4]: 'treeless literals with no earlier Huffman tree in the frame',
  [-5]: 'malformed Huffman-coded literals stream',
  [-6]: 'malformed sequences section header',
  [-7]: 'malformed FSE table description',
  [-8]: 'repeat-mode sequence table with no earlier table in the frame',
  [-9]: 'malformed sequences bit stream',
  [-10]: 'a sequence takes more literals than the block has',
  [-11]: 'a sequence writes past the block maximum',
  [-12]: 'a match offset reaches before the frame or beyond its window',
  [-13]: 'bytes after an empty sequences section',
  [-14]: 'cannot allocate memory for the frame window',
};

/**
 * Bytes per output piece when output buffers are recycled. With 64 KiB pieces and the ring's
 * margin cut from 1 MiB and a block to two blocks, converting 400,000 small files as
 * `zstd -3` input peaked at 95.6-95.8 MiB instead of 98.0 (256 KiB pieces), no slower.
 */
const PIECE = 64 * 1024;
/** Spare output buffers a recycling decoder keeps. */
const MAX_SPARES = 8;

/**
 * A zstd block decoder on one instance of `zstd.wasm`. Give it to a {@link ZstdWalker} as
 * its sink; after each walk, {@link take} returns the output decoded so far, in order.
 */
export class ZstdBlockDecoder implements ZstdBlockSink {
  private readonly x: ZstdExports;
  private bytes: Uint8Array;
  private readonly input: number;
  private readonly historyAt: number;
  private type = 0;
  private size = 0;
  private blockMax = 0;
  private blockOffset = 0;
  /** Where the block's body goes: the input area, or the output for a raw block. */
  private to = 0;
  /** Where output not yet handed out starts in the history buffer. */
  private mark = 0;
  private readonly ready: Uint8Array[] = [];
  /** Output buffers given back, when output is lent (see {@link constructor}). */
  private readonly spares: ArrayBuffer[] | undefined;
  private readonly back = (b: ArrayBuffer) => {
    if (this.spares && this.spares.length < MAX_SPARES) this.spares.push(b);
  };

  /**
   * @param instance - an instance of `zstd.wasm`, used by this decoder alone.
   * @param recycle - hand out output in lent buffers of {@link PIECE} bytes and reuse those
   * given back (see `lend`), instead of a fresh copy each time; only for output that goes
   * straight into a conversion pipeline.
   */
  constructor(instance: WebAssembly.Instance, recycle = false) {
    this.x = instance.exports as unknown as ZstdExports;
    this.bytes = new Uint8Array(this.x.memory.buffer);
    this.input = this.x.inputPtr();
    this.historyAt = this.x.historyPtr();
    this.spares = recycle ? [] : undefined;
  }

  frame(window: number): void {
    this.cut();
    // The module's memory is 32-bit: a window with its buffer must fit below 4 GiB.
    if (window > MAX_WINDOW || this.x.frame(window) !== 0) {
      throw new CompressionError(`zstd: cannot allocate a ${window}-byte window`);
    }
    this.bytes = new Uint8Array(this.x.memory.buffer);
    this.mark = 0;
  }

  block(type: number, size: number, blockMax: number, offset: number): void {
    if (this.x.room() >>> 0 < BLOCK_MAX) {
      this.cut();
      this.x.wrap();
      this.mark = 0;
    }
    this.type = type;
    this.size = size;
    this.blockMax = blockMax;
    this.blockOffset = offset;
    // The walker bounds a block's body by its maximum (128 KiB): the size of the input area,
    // and no more than the room left.
    this.to = type === 0 ? this.historyAt + (this.x.position() >>> 0) : this.input;
  }

  body(bytes: Uint8Array, start: number, end: number): void {
    this.bytes.set(bytes.subarray(start, end), this.to);
    this.to += end - start;
  }

  end(): void {
    const n = this.x.block(this.type, this.size, this.blockMax);
    if (n < 0) {
      const what = FAULTS[n] ?? `fault ${n}`;
      const at = this.blockOffset + 3 + (this.x.errorAt() >>> 0);
      throw new CompressionError(
        `zstd: ${what}, near compressed offset ${at} (in the block at ${this.blockOffset})`,
      );
    }
  }

  /** The output decoded since the last call, in order (copies: the module reuses its memory). */
  take(): Uint8Array[] {
    this.cut();
    return this.ready.splice(0);
  }

  /** Moves the output not yet handed out to {@link ready}. */
  private cut(): void {
    const end = this.x.position() >>> 0;
    if (!this.spares) {
      if (end > this.mark)
        this.ready.push(this.bytes.slice(this.historyAt + this.mark, this.historyAt + end));
      this.mark = end;
      return;
    }
    while (end > this.mark) {
      const n = Math.min(PIECE, end - this.mark);
      const buffer = this.spares.pop() ?? new ArrayBuffer(PIECE);
      const piece = new Uint8Array(buffer, 0, n);
      piece.set(this.bytes.subarray(this.historyAt + this.mark, this.historyAt + this.mark + n));
      lend(buffer, this.back);
      this.ready.push(piece);
      this.mark += n;
    }
  }
}

let compiled: WebAssembly.Module | null | undefined;

/**
 * A block decoder on a new instance of `zstd.wasm`.
 * @param module - the precompiled module (for runtimes such as workerd, which refuse to
 * compile WebAssembly at run time); by default the embedded one, compiled once per process.
 * @param recycle - lend output buffers (see {@link ZstdBlockDecoder}'s constructor).
 * @returns the decoder, or null when no module is given and the runtime cannot compile the
 * embedded one synchronously (workerd; `node --jitless`).
 * @throws {@link WasmUnavailableError} when the runtime refuses to instantiate `module`.
 */
export function zstdBlockDecoder(
  module?: WebAssembly.Module,
  recycle = false,
): ZstdBlockDecoder | null {
  if (module) {
    return new ZstdBlockDecoder(instantiateModuleSync(module, 'zstd WebAssembly module'), recycle);
  }
  if (compiled === undefined) {
    try {
      compiled = compileEmbeddedSync(ZSTD_WASM_BASE64);
    } catch {
      compiled = null;
    }
  }
  return compiled ? new ZstdBlockDecoder(new WebAssembly.Instance(compiled, {}), recycle) : null;
}
