/**
 * Walks the frame and block structure of a zstd stream without decompressing it, so the
 * streaming decoder can (1) refuse frames whose window exceeds a memory limit before any
 * buffer is allocated, (2) feed the decoder slices whose decompressed size is bounded,
 * defusing RLE "bombs", (3) tell it what each frame's header declares (content size) and
 * what the frame ends with (content checksum), for the checks fzstd does not make, and (4)
 * hand a block decoder each block ({@link ZstdBlockSink}). Frames that name a dictionary are
 * refused. Pure; follows RFC 8878 sections 3.1.1 and 3.1.1.2.
 *
 * @module
 */
import { CompressionError } from '../errors.js';

const ZSTD_MAGIC = 0xfd2fb528;
const BLOCK_MAX = 128 * 1024;

type State =
  | { kind: 'magic' }
  | { kind: 'frame-header'; need: number }
  | { kind: 'block-header'; window: number }
  | { kind: 'block-body'; window: number; left: number; last: boolean }
  | { kind: 'checksum'; left: number; value: number }
  | { kind: 'skip'; left: number }
  | { kind: 'skip-size' };

/** What a frame's header declares about its output. */
export interface ZstdFrame {
  /** Compressed offset of the frame's magic number. */
  offset: number;
  /** Frame_Content_Size, when the header has it. */
  contentSize?: number;
  /** Whether the frame ends with a content checksum. */
  checksum: boolean;
}

/** A frame the walker has walked to its end. */
export interface ZstdFrameEnd {
  /** The stored content checksum (the low 32 bits of the XXH64 of the output), if any. */
  checksum?: number;
}

/**
 * What receives the blocks a {@link ZstdWalker} walks, for a decoder that works block by
 * block (`src/compress/zstd-wasm.ts`). Calls come in stream order during
 * {@link ZstdWalker.walk}.
 */
export interface ZstdBlockSink {
  /** A frame whose window is `window` bytes starts. */
  frame(window: number): void;
  /**
   * A block starts: `type` 0 raw, 1 RLE, 2 compressed; `size` the header's Block_Size (for
   * RLE, the bytes it regenerates from its one byte of body); `blockMax` the largest output
   * the frame allows a block; `offset` the compressed offset of its header.
   */
  block(type: number, size: number, blockMax: number, offset: number): void;
  /** The next bytes of the block's body. */
  body(bytes: Uint8Array, start: number, end: number): void;
  /** The block's body is complete. */
  end(): void;
}

/** Tracks where a zstd stream is, byte by byte across pieces. */
export class ZstdWalker {
  private state: State = { kind: 'magic' };
  private head = new Uint8Array(18);
  private headLen = 0;
  private checksum = false;
  private frameOffset = 0;
  /** A frame whose header the last {@link walk} completed (at most one: see there). */
  started: ZstdFrame | undefined;
  /** Set when the last {@link walk} reached the end of the current frame. */
  ended: ZstdFrameEnd | undefined;
  /** Absolute offset in the compressed stream of the next byte to be walked. */
  offset = 0;

  /**
   * @param maxWindow - the largest frame window accepted, in bytes.
   * @param sink - told of every frame and block, if given.
   */
  constructor(
    private readonly maxWindow: number,
    private readonly sink?: ZstdBlockSink,
  ) {}

  /** True when the walker sits exactly between frames (a valid place for the stream to end). */
  get atFrameBoundary(): boolean {
    return this.state.kind === 'magic' && this.headLen === 0;
  }

  /**
   * Walks `bytes` from `start`, stopping after the first whole block (or frame part) once at
   * least `budget` bytes of output could have been produced, and at the end of every frame:
   * the decoder then never takes more than one frame (one window buffer) at a time, and the
   * walked bytes belong to one frame at most. A frame whose header this walk completes is
   * left in {@link started}, and the end of the frame, if this walk reached it, in
   * {@link ended}; both are cleared at the start of the next walk.
   * @returns where it stopped in `bytes`.
   * @throws {@link CompressionError} on a malformed header or a window over the limit.
   */
  walk(bytes: Uint8Array, start: number, budget: number): number {
    this.started = undefined;
    this.ended = undefined;
    let i = start;
    let out = 0;
    const base = this.offset - start;
    while (i < bytes.length && out < budget) {
      if (i > start && this.atFrameBoundary) break;
      // Kept current so that an error names the offset of the byte that broke the stream.
      this.offset = base + i;
      const s = this.state;
      switch (s.kind) {
        case 'magic':
        case 'frame-header':
        case 'skip-size': {
          this.head[this.headLen++] = bytes[i++]!;
          this.onHeadByte();
          break;
        }
        case 'block-header': {
          this.head[this.headLen++] = bytes[i++]!;
          if (this.headLen < 3) break;
          const h = this.head[0]! | (this.head[1]! << 8) | (this.head[2]! << 16);
          this.headLen = 0;
          const last = (h & 1) === 1;
          const type = (h >> 1) & 3;
          const size = h >>> 3;
          const blockMax = Math.min(s.window, BLOCK_MAX);
          if (type === 3) this.fail('reserved block type');
          if (size > blockMax) this.fail(`block of ${size} bytes exceeds its maximum ${blockMax}`);
          // Raw and RLE blocks regenerate exactly `size` bytes; compressed ones at most blockMax.
          out += type === 2 ? blockMax : size;
          const left = type === 1 ? 1 : size;
          this.sink?.block(type, size, blockMax, this.offset - 2);
          if (left === 0) this.sink?.end();
          this.state =
            left > 0
              ? { kind: 'block-body', window: s.window, left, last }
              : this.afterBlock(last, s.window);
          break;
        }
        case 'block-body': {
          const n = Math.min(s.left, bytes.length - i);
          this.sink?.body(bytes, i, i + n);
          i += n;
          s.left -= n;
          if (s.left === 0) {
            // Kept current for the sink's errors, which name the end of the block.
            this.offset = base + i;
            this.sink?.end();
            this.state = this.afterBlock(s.last, s.window);
          }
          break;
        }
        case 'checksum': {
          // Little-endian, one byte at a time (the four may come in different pieces).
          s.value += bytes[i++]! * 2 ** (8 * (4 - s.left));
          s.left--;
          if (s.left === 0) {
            this.ended = { checksum: s.value };
            this.state = { kind: 'magic' };
          }
          break;
        }
        case 'skip': {
          const n = Math.min(s.left, bytes.length - i);
          i += n;
          s.left -= n;
          if (s.left === 0) this.state = { kind: 'magic' };
          break;
        }
      }
    }
    this.offset = base + i;
    return i;
  }

  private afterBlock(last: boolean, window: number): State {
    if (!last) return { kind: 'block-header', window };
    if (this.checksum) return { kind: 'checksum', left: 4, value: 0 };
    this.ended = {};
    return { kind: 'magic' };
  }

  private onHeadByte(): void {
    const s = this.state;
    const h = this.head;
    if (s.kind === 'magic') {
      if (this.headLen < 4) return;
      const magic = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
      this.headLen = 0;
      this.frameOffset = this.offset - 3;
      if (magic === ZSTD_MAGIC) this.state = { kind: 'frame-header', need: 1 };
      else if (magic >>> 4 === 0x184d2a5) this.state = { kind: 'skip-size' };
      else this.fail('bad frame magic');
      return;
    }
    if (s.kind === 'skip-size') {
      if (this.headLen < 4) return;
      const size = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
      this.headLen = 0;
      this.state = size > 0 ? { kind: 'skip', left: size } : { kind: 'magic' };
      return;
    }
    if (s.kind !== 'frame-header') return;
    if (this.headLen === 1) {
      const fhd = h[0]!;
      if (fhd & 0x08) this.fail('reserved bit set in frame header');
      const single = (fhd >> 5) & 1;
      const dictBytes = [0, 1, 2, 4][fhd & 3]!;
      const fcsCode = fhd >> 6;
      const fcsBytes = fcsCode === 0 ? single : [1, 2, 4, 8][fcsCode]!;
      s.need = 1 + (single ? 0 : 1) + dictBytes + fcsBytes;
    }
    if (this.headLen < s.need) return;
    const fhd = h[0]!;
    const single = (fhd >> 5) & 1;
    this.checksum = ((fhd >> 2) & 1) === 1;
    // Frame_Content_Size: after the descriptor, the window descriptor (unless single-segment)
    // and the dictionary ID; the 2-byte form is offset by 256.
    const dictAt = 1 + (single ? 0 : 1);
    const dictBytes = [0, 1, 2, 4][fhd & 3]!;
    let dictId = 0;
    for (let k = dictBytes - 1; k >= 0; k--) dictId = dictId * 256 + h[dictAt + k]!;
    // A frame made with a dictionary refers to bytes before its start; none is at hand here
    // (a layer never names one), so it cannot be decoded. (ID 0 means none.)
    if (dictId !== 0) this.fail(`frame needs dictionary ${dictId}, and none is available`);
    const at = dictAt + dictBytes;
    const n = s.need - at;
    let contentSize: number | undefined;
    if (n > 0) {
      contentSize = 0;
      for (let k = n - 1; k >= 0; k--) contentSize = contentSize * 256 + h[at + k]!;
      if (n === 2) contentSize += 256;
    }
    let window: number;
    if (!single) {
      const wd = h[1]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    } else {
      // Single-segment frames: the window is the frame content size (always present).
      window = contentSize!;
    }
    if (window > this.maxWindow) {
      this.fail(`frame window of ${window} bytes exceeds the ${this.maxWindow}-byte limit`);
    }
    this.headLen = 0;
    this.started = { offset: this.frameOffset, contentSize, checksum: this.checksum };
    this.state = { kind: 'block-header', window: Math.max(window, 1) };
    this.sink?.frame(Math.max(window, 1));
  }

  private fail(msg: string): never {
    throw new CompressionError(`zstd: ${msg} near compressed offset ${this.offset}`);
  }
}
