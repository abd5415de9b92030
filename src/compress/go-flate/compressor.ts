/**
 * A raw deflate encoder whose output is byte for byte that of Go's `compress/flate` (as of Go
 * 1.19, whose `NewWriter` output has not changed since Go 1.8): level 1 through
 * {@link DeflateFast}, levels 2-9 through Go's hash-chain match finder (greedy with skipped
 * hashing at 2 and 3, lazy from 4), blocks chosen by {@link BlockWriter}, and the stream ended
 * by an empty final stored block, as Go's `Close` ends it.
 *
 * Go's output depends, in rare cases, on how its caller split the input into writes; this
 * encoder behaves as Go does for the writes it is given.
 *
 * @module
 */
import { BlockWriter } from './block-writer.js';
import { DeflateFast } from './deflate-fast.js';
import {
  BASE_MATCH_LENGTH,
  MAX_MATCH_LENGTH,
  MAX_STORE_BLOCK_SIZE,
  MIN_MATCH_LENGTH,
  matchToken,
} from './tokens.js';

const WINDOW_SIZE = 1 << 15;
const WINDOW_MASK = WINDOW_SIZE - 1;
const MAX_FLATE_BLOCK_TOKENS = 1 << 14;
const HASH_BITS = 17;
const HASH_SIZE = 1 << HASH_BITS;
const MAX_HASH_OFFSET = 1 << 24;
const SKIP_NEVER = 0x7fffffff;
const MAX_INT32 = 0x7fffffff;
const HASH_MUL = 0x1e35a7bd;

/** Go's table of level settings: good, lazy, nice, chain, fastSkipHashing. */
const LEVELS: readonly (readonly [number, number, number, number, number])[] = [
  [0, 0, 0, 0, 0],
  [0, 0, 0, 0, 0],
  [4, 0, 16, 8, 5],
  [4, 0, 32, 32, 6],
  [4, 4, 16, 16, SKIP_NEVER],
  [8, 16, 32, 32, SKIP_NEVER],
  [8, 16, 128, 128, SKIP_NEVER],
  [8, 32, 128, 256, SKIP_NEVER],
  [32, 128, 258, 1024, SKIP_NEVER],
  [32, 258, 258, 4096, SKIP_NEVER],
];

function hash4(b: Uint8Array, i: number): number {
  return (
    Math.imul((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!, HASH_MUL) >>>
    (32 - HASH_BITS)
  );
}

/** A Go-compatible raw deflate encoder. Push input with {@link write}, end with {@link close},
 * and collect output with {@link take} after each. */
export class GoFlateWriter {
  private readonly out = new BlockWriter();
  private readonly fast: DeflateFast | undefined;
  private readonly window: Uint8Array;
  private readonly tokens: Uint32Array;
  private readonly good: number;
  private readonly lazy: number;
  private readonly nice: number;
  private readonly chain: number;
  private readonly fastSkipHashing: number;
  /** Levels 2-9: the latest position (plus `hashOffset`) of each 4-byte hash. */
  private readonly hashHead: Uint32Array;
  /** Levels 2-9: the position before each one with the same hash. */
  private readonly hashPrev: Uint32Array;
  private sync = false;
  private closed = false;
  private chainHead = -1;
  private hashOffset = 1;
  private index = 0;
  private windowEnd = 0;
  private blockStart = 0;
  private byteAvailable = false;
  private ntokens = 0;
  private length = MIN_MATCH_LENGTH - 1;
  private offset = 0;
  private maxInsertIndex = 0;

  /** @param level - 1 (fastest) to 9 (smallest). */
  constructor(readonly level: number) {
    if (!Number.isInteger(level) || level < 1 || level > 9) {
      throw new RangeError(`Go deflate level must be 1-9, not ${level}`);
    }
    [this.good, this.lazy, this.nice, this.chain, this.fastSkipHashing] = LEVELS[level]!;
    if (level === 1) {
      this.window = new Uint8Array(MAX_STORE_BLOCK_SIZE);
      this.tokens = new Uint32Array(MAX_STORE_BLOCK_SIZE + 1);
      this.fast = new DeflateFast();
      this.hashHead = new Uint32Array(0);
      this.hashPrev = new Uint32Array(0);
    } else {
      this.window = new Uint8Array(2 * WINDOW_SIZE);
      this.tokens = new Uint32Array(MAX_FLATE_BLOCK_TOKENS + 1);
      this.hashHead = new Uint32Array(HASH_SIZE);
      this.hashPrev = new Uint32Array(WINDOW_SIZE);
    }
  }

  /** Compresses `input` (as one Go `Write` call). */
  write(input: Uint8Array): void {
    if (this.closed) throw new Error('write after close');
    let b = input;
    while (b.length > 0) {
      this.step();
      b = b.subarray(this.fill(b));
    }
  }

  /** Compresses what is left and ends the stream. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sync = true;
    this.step();
    this.out.writeStoredHeader(0, true);
    this.out.alignToByte();
  }

  /** The output written since the last call, if any. */
  take(): Uint8Array | undefined {
    return this.out.take();
  }

  private step(): void {
    if (this.fast) this.encodeFast(this.fast);
    else this.deflate();
  }

  private fill(b: Uint8Array): number {
    if (!this.fast && this.index >= 2 * WINDOW_SIZE - (MIN_MATCH_LENGTH + MAX_MATCH_LENGTH)) {
      this.slide();
    }
    const n = Math.min(b.length, this.window.length - this.windowEnd);
    this.window.set(b.subarray(0, n), this.windowEnd);
    this.windowEnd += n;
    return n;
  }

  /** Moves the window's upper half down, rebasing hash positions now and then. */
  private slide(): void {
    this.window.copyWithin(0, WINDOW_SIZE, 2 * WINDOW_SIZE);
    this.index -= WINDOW_SIZE;
    this.windowEnd -= WINDOW_SIZE;
    this.blockStart = this.blockStart >= WINDOW_SIZE ? this.blockStart - WINDOW_SIZE : MAX_INT32;
    this.hashOffset += WINDOW_SIZE;
    if (this.hashOffset > MAX_HASH_OFFSET) {
      const delta = this.hashOffset - 1;
      this.hashOffset -= delta;
      this.chainHead -= delta;
      for (const table of [this.hashPrev, this.hashHead]) {
        for (let i = 0; i < table.length; i++) table[i] = table[i]! > delta ? table[i]! - delta : 0;
      }
    }
  }

  /** Level 1: a block of 65,535 bytes at a time. */
  private encodeFast(fast: DeflateFast): void {
    const end = this.windowEnd;
    if (end < MAX_STORE_BLOCK_SIZE) {
      if (!this.sync) return;
      if (end < 128) {
        if (end === 0) return;
        if (end <= 16) this.out.writeStored(this.window.subarray(0, end), false);
        else this.out.writeBlockHuff(false, this.window.subarray(0, end));
        this.windowEnd = 0;
        fast.reset();
        return;
      }
    }
    const block = this.window.subarray(0, end);
    const n = fast.encode(this.tokens, block);
    if (n > end - (end >> 4)) this.out.writeBlockHuff(false, block);
    else this.out.writeBlockDynamic(this.tokens, n, false, block);
    this.windowEnd = 0;
  }

  private writeBlock(index: number): void {
    if (index <= 0) return;
    const input = this.blockStart <= index ? this.window.subarray(this.blockStart, index) : null;
    this.blockStart = index;
    this.out.writeBlock(this.tokens, this.ntokens, false, input);
    this.ntokens = 0;
  }

  private insertHash(i: number): number {
    const h = hash4(this.window, i);
    const head = this.hashHead[h]!;
    this.hashPrev[i & WINDOW_MASK] = head;
    this.hashHead[h] = i + this.hashOffset;
    return head;
  }

  /** Levels 2-9: tokens for the window up to `MAX_MATCH_LENGTH + 4` from its end. */
  private deflate(): void {
    const win = this.window;
    const fastSkip = this.fastSkipHashing;
    if (this.windowEnd - this.index < MIN_MATCH_LENGTH + MAX_MATCH_LENGTH && !this.sync) return;
    this.maxInsertIndex = this.windowEnd - (MIN_MATCH_LENGTH - 1);
    for (;;) {
      const lookahead = this.windowEnd - this.index;
      if (lookahead < MIN_MATCH_LENGTH + MAX_MATCH_LENGTH) {
        if (!this.sync) break;
        if (lookahead === 0) {
          if (this.byteAvailable) {
            this.tokens[this.ntokens++] = win[this.index - 1]!;
            this.byteAvailable = false;
          }
          if (this.ntokens > 0) this.writeBlock(this.index);
          break;
        }
      }
      if (this.index < this.maxInsertIndex) this.chainHead = this.insertHash(this.index);
      const prevLength = this.length;
      const prevOffset = this.offset;
      this.length = MIN_MATCH_LENGTH - 1;
      this.offset = 0;
      const minIndex = Math.max(this.index - WINDOW_SIZE, 0);
      if (
        this.chainHead - this.hashOffset >= minIndex &&
        ((fastSkip !== SKIP_NEVER && lookahead > MIN_MATCH_LENGTH - 1) ||
          (fastSkip === SKIP_NEVER && lookahead > prevLength && prevLength < this.lazy))
      ) {
        this.findMatch(this.index, this.chainHead - this.hashOffset, lookahead);
      }
      if (
        (fastSkip !== SKIP_NEVER && this.length >= MIN_MATCH_LENGTH) ||
        (fastSkip === SKIP_NEVER && prevLength >= MIN_MATCH_LENGTH && this.length <= prevLength)
      ) {
        this.tokens[this.ntokens++] =
          fastSkip !== SKIP_NEVER
            ? matchToken(this.length - BASE_MATCH_LENGTH, this.offset - 1)
            : matchToken(prevLength - BASE_MATCH_LENGTH, prevOffset - 1);
        if (this.length <= fastSkip) {
          const newIndex =
            fastSkip !== SKIP_NEVER ? this.index + this.length : this.index + prevLength - 1;
          let i = this.index + 1;
          for (; i < newIndex; i++) if (i < this.maxInsertIndex) this.insertHash(i);
          this.index = i;
          if (fastSkip === SKIP_NEVER) {
            this.byteAvailable = false;
            this.length = MIN_MATCH_LENGTH - 1;
          }
        } else {
          // Long match at level 2 or 3: skip it without hashing.
          this.index += this.length;
        }
        if (this.ntokens === MAX_FLATE_BLOCK_TOKENS) this.writeBlock(this.index);
      } else {
        if (fastSkip !== SKIP_NEVER || this.byteAvailable) {
          const i = fastSkip !== SKIP_NEVER ? this.index : this.index - 1;
          this.tokens[this.ntokens++] = win[i]!;
          if (this.ntokens === MAX_FLATE_BLOCK_TOKENS) this.writeBlock(i + 1);
        }
        this.index++;
        if (fastSkip === SKIP_NEVER) this.byteAvailable = true;
      }
    }
  }

  /**
   * The longest match for `pos` along the hash chain from `prevHead`, better than the current
   * `length`; sets `length` and `offset` when it finds one.
   */
  private findMatch(pos: number, prevHead: number, lookahead: number): void {
    const win = this.window;
    const look = Math.min(MAX_MATCH_LENGTH, lookahead);
    const nice = Math.min(look, this.nice);
    let length = MIN_MATCH_LENGTH - 1;
    let tries = length >= this.good ? this.chain >> 2 : this.chain;
    let wEnd = win[pos + length]!;
    const minIndex = pos - WINDOW_SIZE;
    for (let i = prevHead; tries > 0; tries--) {
      if (wEnd === win[i + length]) {
        let n = 0;
        while (n < look && win[i + n] === win[pos + n]) n++;
        if (n > length && (n > MIN_MATCH_LENGTH || pos - i <= 4096)) {
          length = n;
          this.length = n;
          this.offset = pos - i;
          if (n >= nice) break;
          wEnd = win[pos + n]!;
        }
      }
      if (i === minIndex) break;
      i = this.hashPrev[i & WINDOW_MASK]! - this.hashOffset;
      if (i < minIndex || i < 0) break;
    }
  }
}
