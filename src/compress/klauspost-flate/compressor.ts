/**
 * klauspost/compress's `flate.Writer` (v1.15 to v1.19) at its fast levels: input collects in a window
 * of 65,535 bytes, and each full window is encoded and written as one block (see
 * {@link KlauspostBlockWriter}), whatever the sizes of the writes that filled it, so the
 * output depends on the input alone. A sync flush writes what the window holds and an empty
 * stored block; closing ends the stream with an empty final fixed-code block.
 *
 * @module
 */
import { MAX_MATCH_OFFSET, MAX_STORE_BLOCK_SIZE } from '../go-flate/tokens.js';
import { KlauspostBlockWriter } from './block-writer.js';
import { FastEncoderL5 } from './level5.js';
import { FastEncoderL6 } from './level6.js';
import { FastTokens } from './tokens.js';
import type { TwoTableEncoder } from './two-tables.js';

const EMPTY = new Uint8Array(0);

/**
 * The levels built: 5 (klauspost's `DefaultCompression`, so pgzip's) and 6 (Go 1.27's
 * `DefaultCompression`).
 */
export const KLAUSPOST_LEVELS: readonly number[] = [5, 6];

/**
 * Whose output: `1.15` for klauspost/compress v1.15.12 to v1.18.0 (at levels 5 and 6 their
 * output is the same), `1.18.2` for v1.18.2 on (and Go 1.27's port of it), whose block writer
 * codes a block it leaves open differently.
 */
export type KlauspostVersion = '1.15' | '1.18.2';

/** A raw deflate writer whose output is klauspost/compress's at the same level. */
export class KlauspostFlateWriter {
  private readonly window = new Uint8Array(MAX_STORE_BLOCK_SIZE);
  private windowEnd = 0;
  private readonly tokens = new FastTokens();
  private readonly fast: TwoTableEncoder;
  private readonly w: KlauspostBlockWriter;
  private sync = false;
  private closed = false;

  /**
   * @param level - the compression level; only {@link KLAUSPOST_LEVELS} are built.
   * @param version - whose output.
   */
  constructor(level: number, version: KlauspostVersion = '1.15') {
    if (!KLAUSPOST_LEVELS.includes(level)) {
      throw new RangeError(
        `klauspost flate level ${level} is not built (only ${KLAUSPOST_LEVELS.join(', ')})`,
      );
    }
    this.fast = level === 5 ? new FastEncoderL5() : new FastEncoderL6();
    this.w = new KlauspostBlockWriter(7, version === '1.18.2');
  }

  /**
   * Starts a new stream whose matches may reach into `dict` (its last 32 KiB), as
   * `ResetDict` does: the dictionary is encoded and the result thrown away.
   */
  resetDict(dict: Uint8Array | null): void {
    this.w.reset();
    this.sync = false;
    this.closed = false;
    this.fast.reset();
    this.windowEnd = 0;
    this.tokens.reset();
    // Matches may reach into the dictionary's last 32 KiB: encode it and drop the tokens.
    const d = dict ?? EMPTY;
    this.fast.encode(this.tokens, d.subarray(Math.max(0, d.length - MAX_MATCH_OFFSET)));
    this.tokens.reset();
  }

  /** Compresses `b`; output is ready for {@link KlauspostFlateWriter.take} per full window. */
  write(b: Uint8Array): void {
    if (this.closed) throw new Error('klauspost flate writer written after close');
    for (let at = 0; at < b.length; ) {
      if (this.windowEnd === this.window.length || this.sync) this.step();
      const n = Math.min(b.length - at, this.window.length - this.windowEnd);
      this.window.set(b.subarray(at, at + n), this.windowEnd);
      this.windowEnd += n;
      at += n;
    }
  }

  /** Writes out what the window holds, then an empty stored block (a sync flush). */
  flush(): void {
    this.sync = true;
    this.step();
    this.w.writeStoredHeader(0, false);
    this.w.flush();
    this.sync = false;
  }

  /** Writes out what the window holds and ends the stream. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sync = true;
    this.step();
    this.w.writeStoredHeader(0, true);
    this.w.flush();
    this.w.reset();
  }

  /** The output written since the last call, or `undefined` when there is none. */
  take(): Uint8Array | undefined {
    return this.w.take();
  }

  /** klauspost's `storeFast`: encodes the window (when full, or when flushing) as a block. */
  private step(): void {
    const end = this.windowEnd;
    const window = this.window.subarray(0, end);
    if (end < this.window.length) {
      if (!this.sync) return;
      if (end < 128) {
        if (end === 0) return;
        if (end <= 32) this.w.writeStored(window, false);
        else this.w.writeBlockHuff(false, window, true);
        this.tokens.reset();
        this.windowEnd = 0;
        this.fast.reset();
        return;
      }
    }
    this.fast.encode(this.tokens, window);
    const n = this.tokens.n;
    if (n === 0) this.w.writeStored(window, false);
    else if (n > end - (end >> 4)) this.w.writeBlockHuff(false, window, this.sync);
    else this.w.writeBlockDynamic(this.tokens, false, window, this.sync);
    this.tokens.reset();
    this.windowEnd = 0;
  }
}
