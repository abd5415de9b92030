/**
 * Pure placement of a sparse entry's body bytes in the expanded file: which stored byte goes
 * to which file offset. Covers every sparse format the tokenizer reports: old GNU (`S`) and
 * pax 0.0/0.1, whose map is in the headers, and pax 1.0, whose map opens the body. Imports
 * nothing from `node:`.
 *
 * @module
 */
import { TarFormatError, TarLimitError, type TarLocation } from '../errors.js';
import { paddingSize } from '../tar/header.js';
import type { TarSparse } from '../tar/types.js';

/** Stored bytes to write at a position of the expanded file. */
export interface SparsePiece {
  position: number;
  bytes: Uint8Array;
}

/**
 * Follows one sparse entry's body as it streams: {@link SparseBody.push} each body piece and
 * write the pieces it returns at their positions; after the body, {@link SparseBody.finish}
 * checks the map was filled exactly, and the file is then truncated (extended) to
 * {@link SparseBody.realSize}. Memory is the map plus, for pax 1.0, at most `maxMapBytes` of map
 * text.
 */
export class SparseBody {
  /** Size of the expanded file. */
  readonly realSize: number;
  private map: Array<[number, number]> | undefined;
  private seg = 0;
  private segDone = 0;
  /** pax 1.0: numbers of the map text read so far, the one being read, bytes read; then padding to skip. */
  private nums: number[] = [];
  private num = 0;
  private digits = 0;
  private textLen = 0;
  private skip = 0;

  /**
   * @param sparse - The entry's sparse description.
   * @param bodySize - Stored body bytes (the entry's `bodySize`).
   * @param location - The entry, for error messages.
   * @param maxMapBytes - Cap on pax 1.0 map text.
   */
  constructor(
    sparse: TarSparse,
    private readonly bodySize: number,
    private readonly location: TarLocation,
    private readonly maxMapBytes: number,
  ) {
    this.realSize = sparse.realSize;
    if (sparse.format !== 'pax-1.0') this.setMap(sparse.map ?? [], bodySize);
  }

  /**
   * Places the next body piece.
   * @param bytes - Body bytes, in order.
   * @returns Where its data bytes go (map text and padding of pax 1.0 go nowhere).
   * @throws {@link TarFormatError} when the map and the body disagree.
   */
  push(bytes: Uint8Array): SparsePiece[] {
    let at = 0;
    if (this.map === undefined) at = this.readMapText(bytes);
    if (this.skip > 0 && at < bytes.length) {
      const n = Math.min(this.skip, bytes.length - at);
      this.skip -= n;
      at += n;
    }
    const out: SparsePiece[] = [];
    const map = this.map;
    while (map !== undefined && this.skip === 0 && at < bytes.length) {
      const seg = map[this.seg];
      if (seg === undefined) throw this.error('body holds more bytes than the sparse map places');
      const n = Math.min(seg[1] - this.segDone, bytes.length - at);
      if (n > 0) out.push({ position: seg[0] + this.segDone, bytes: bytes.subarray(at, at + n) });
      this.segDone += n;
      at += n;
      if (this.segDone === seg[1]) {
        this.seg++;
        this.segDone = 0;
      }
    }
    return out;
  }

  /**
   * Checks the body filled the map exactly.
   * @throws {@link TarFormatError} otherwise.
   */
  finish(): void {
    if (this.map === undefined) throw this.error('body ended inside the pax 1.0 sparse map');
    if (this.skip > 0 || this.seg < this.map.length) {
      throw this.error('body ended before the sparse map was filled');
    }
  }

  private error(message: string): TarFormatError {
    return new TarFormatError(`sparse entry: ${message}`, this.location);
  }

  /** Checks a map against the data bytes and the real size, then uses it. */
  private setMap(map: Array<[number, number]>, dataBytes: number): void {
    let end = 0;
    let total = 0;
    for (const [offset, length] of map) {
      if (offset < end) throw this.error('map segments overlap or are out of order');
      end = offset + length;
      if (end > this.realSize) throw this.error(`map segment ends past realsize ${this.realSize}`);
      total += length;
    }
    if (total !== dataBytes) {
      throw this.error(`map places ${total} bytes but the body stores ${dataBytes}`);
    }
    // Zero-length segments are skipped when reached: drop them up front.
    this.map = map.filter(([, length]) => length > 0);
  }

  /** Reads pax 1.0 map text from the start of `bytes`; returns how many bytes it used. */
  private readMapText(bytes: Uint8Array): number {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      this.textLen++;
      if (this.textLen > this.maxMapBytes) {
        throw new TarLimitError(
          `pax 1.0 sparse map is over maxHeaderBytes ${this.maxMapBytes}`,
          this.location,
        );
      }
      if (b >= 0x30 && b <= 0x39) {
        this.num = this.num * 10 + (b - 0x30);
        this.digits++;
        if (this.num > Number.MAX_SAFE_INTEGER) {
          throw new TarLimitError('pax 1.0 sparse map number is too large', this.location);
        }
        continue;
      }
      if (b !== 0x0a || this.digits === 0) {
        throw this.error('pax 1.0 sparse map is not newline-terminated decimal numbers');
      }
      this.nums.push(this.num);
      this.num = 0;
      this.digits = 0;
      const count = this.nums[0]!;
      if (this.nums.length < 1 + 2 * count) continue;
      const map: Array<[number, number]> = [];
      for (let k = 0; k < count; k++) map.push([this.nums[1 + 2 * k]!, this.nums[2 + 2 * k]!]);
      const mapLen = this.textLen + paddingSize(this.textLen);
      if (mapLen > this.bodySize) throw this.error('pax 1.0 sparse map runs past the body');
      this.setMap(map, this.bodySize - mapLen);
      this.skip = mapLen - this.textLen;
      this.nums = [];
      return i + 1;
    }
    return bytes.length;
  }
}
