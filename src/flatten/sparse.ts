/**
 * Expands a sparse entry's stored data into the whole file, holes as zeros. Pure and
 * incremental: feed the stored body piece by piece, get data pieces and zero-run lengths back,
 * so a hole of any size costs nothing until it is written.
 *
 * @module
 */
import { EntryDataError } from '../errors.js';
import type { EntryMeta } from '../format/records.js';

/** A piece of expanded output: bytes, or a number of zero bytes. */
export type SparsePiece = Uint8Array | number;

/** Most segments accepted in a sparse map read from a body (pax 1.0). @default 1048576 */
export const MAX_SPARSE_SEGMENTS = 1 << 20;

const BLOCK = 512;
/** Longest decimal number accepted in a pax 1.0 map (2^53 has 16 digits). */
const MAX_DIGITS = 16;

/**
 * Expands one sparse entry. Feed every byte of the stored body to {@link SparseExpander.push}
 * in order, then call {@link SparseExpander.finish}; the pieces returned, in order, are the
 * file's `realSize` bytes.
 *
 * For `pax-1.0` the map is read from the start of the body (decimal numbers, one per line: the
 * segment count, then offset and length of each; padded to a 512-byte boundary), as GNU tar
 * writes it. Every map is checked: segments in order, not overlapping, inside `realSize`, and
 * their lengths adding up to the stored data.
 */
export class SparseExpander {
  private readonly path: string;
  private readonly realSize: number;
  private readonly storedSize: number;
  private readonly maxSegments: number;
  private map: Array<[number, number]> | undefined;
  /** Bytes of the body seen so far. */
  private bodyPos = 0;
  /** Where the data starts in the body (after a pax 1.0 map and its padding). */
  private dataStart = 0;
  /** Output written so far. */
  private outPos = 0;
  private segment = 0;
  private segmentDone = 0;
  // pax 1.0 map parsing
  private numbers: number[] = [];
  private digits = '';

  /**
   * @param sparse - the entry's sparse description.
   * @param storedSize - the body size in the tar (`e.s`).
   * @param path - the entry path, for errors.
   * @param maxSegments - limit on a map read from the body. @default MAX_SPARSE_SEGMENTS
   * @throws {@link EntryDataError} when a map given in the metadata is inconsistent.
   */
  constructor(
    sparse: NonNullable<EntryMeta['sparse']>,
    storedSize: number,
    path: string,
    maxSegments = MAX_SPARSE_SEGMENTS,
  ) {
    this.path = path;
    this.realSize = sparse.realSize;
    this.storedSize = storedSize;
    this.maxSegments = maxSegments;
    if (sparse.format !== 'pax-1.0') {
      this.map = sparse.map ?? [];
      this.check(this.map, storedSize);
    }
  }

  /**
   * Takes the next piece of the stored body.
   * @param bytes - body bytes, in order.
   * @returns output pieces (possibly none).
   * @throws {@link EntryDataError} on a malformed map, or body bytes beyond the map's data.
   */
  push(bytes: Uint8Array): SparsePiece[] {
    const out: SparsePiece[] = [];
    let at = 0;
    if (!this.map) at = this.readMap(bytes);
    if (this.map && this.bodyPos < this.dataStart) {
      const skip = Math.min(bytes.length - at, this.dataStart - this.bodyPos);
      at += skip;
      this.bodyPos += skip;
    }
    const map = this.map;
    while (map && at < bytes.length) {
      const seg = map[this.segment];
      if (!seg) throw new EntryDataError(this.path, 'sparse data runs past its map');
      const [offset, length] = seg;
      if (this.segmentDone === length) {
        this.segment++;
        this.segmentDone = 0;
        continue;
      }
      if (this.outPos < offset) {
        out.push(offset - this.outPos);
        this.outPos = offset;
      }
      const take = Math.min(length - this.segmentDone, bytes.length - at);
      out.push(bytes.subarray(at, at + take));
      at += take;
      this.bodyPos += take;
      this.outPos += take;
      this.segmentDone += take;
    }
    return out;
  }

  /**
   * Ends the body.
   * @returns the trailing zeros up to `realSize`.
   * @throws {@link EntryDataError} when the body ended before the map or its data did.
   */
  finish(): SparsePiece[] {
    if (!this.map) throw new EntryDataError(this.path, 'body ends inside its sparse map');
    if (this.bodyPos !== this.storedSize) {
      throw new EntryDataError(this.path, 'sparse body is shorter than its size');
    }
    return this.outPos < this.realSize ? [this.realSize - this.outPos] : [];
  }

  /** Reads pax 1.0 map text from `bytes`; returns how many bytes it used. */
  private readMap(bytes: Uint8Array): number {
    let at = 0;
    while (at < bytes.length && !this.map) {
      const b = bytes[at++]!;
      this.bodyPos++;
      if (b >= 0x30 && b <= 0x39) {
        if (this.digits.length >= MAX_DIGITS) {
          throw new EntryDataError(this.path, 'sparse map number is too long');
        }
        this.digits += String.fromCharCode(b);
        continue;
      }
      if (b !== 0x0a || this.digits === '') {
        throw new EntryDataError(this.path, 'sparse map in the body is not decimal lines');
      }
      const n = Number(this.digits);
      this.digits = '';
      if (!Number.isSafeInteger(n))
        throw new EntryDataError(this.path, 'sparse map number is too large');
      this.numbers.push(n);
      const count = this.numbers[0]!;
      if (count > this.maxSegments) {
        throw new EntryDataError(
          this.path,
          `sparse map of ${count} segments exceeds the limit of ${this.maxSegments}`,
        );
      }
      if (this.numbers.length === 1 + 2 * count) {
        const map: Array<[number, number]> = [];
        for (let i = 1; i < this.numbers.length; i += 2) {
          map.push([this.numbers[i]!, this.numbers[i + 1]!]);
        }
        this.numbers = [];
        this.dataStart = Math.ceil(this.bodyPos / BLOCK) * BLOCK;
        if (this.dataStart > this.storedSize) {
          throw new EntryDataError(this.path, 'sparse map and its padding exceed the body');
        }
        this.check(map, this.storedSize - this.dataStart);
        this.map = map;
      }
    }
    return at;
  }

  private check(map: Array<[number, number]>, dataBytes: number): void {
    let end = 0;
    let total = 0;
    for (const [offset, length] of map) {
      if (offset < end || offset + length > this.realSize) {
        throw new EntryDataError(
          this.path,
          `sparse segment [${offset}, ${length}] is out of order or beyond the size ${this.realSize}`,
        );
      }
      end = offset + length;
      total += length;
    }
    if (total !== dataBytes) {
      throw new EntryDataError(
        this.path,
        `sparse map covers ${total} bytes but ${dataBytes} are stored`,
      );
    }
  }
}
