/**
 * Sparse maps of stored entries, for flatten's output: checking that a sparse entry's map
 * fits its stored body, piece by piece, and writing a map the way a pax 1.0 sparse body
 * starts. Pure; a hole of any size costs nothing.
 *
 * @module
 */
import { EntryDataError } from '../errors.js';
import type { EntryMeta } from '../format/records.js';

/** Most segments accepted in a sparse map read from a body (pax 1.0). @default 1048576 */
export const MAX_SPARSE_SEGMENTS = 1 << 20;

const BLOCK = 512;
/** Longest decimal number accepted in a pax 1.0 map (2^53 has 16 digits). */
const MAX_DIGITS = 16;

/**
 * Checks one sparse entry's map against its stored body. Feed every byte of the body to
 * {@link SparseMapCheck.push} in order, then call {@link SparseMapCheck.finish}.
 *
 * For `pax-1.0` the map is read from the start of the body (decimal numbers, one per line: the
 * segment count, then offset and length of each; padded to a 512-byte boundary), as GNU tar
 * writes it. Every map is checked: segments in order, not overlapping, inside `realSize`, and
 * their lengths adding up to the stored data.
 */
export class SparseMapCheck {
  private readonly path: string;
  private readonly realSize: number;
  private readonly storedSize: number;
  private readonly maxSegments: number;
  /** Set once the map is checked (at once when it is in the metadata). */
  private mapRead = false;
  /** Bytes of the body seen so far. */
  private bodyPos = 0;
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
      this.check(sparse.map ?? [], storedSize);
      this.mapRead = true;
    }
  }

  /**
   * Takes the next piece of the stored body.
   * @param bytes - body bytes, in order.
   * @throws {@link EntryDataError} on a malformed map, or body bytes beyond the stored size.
   */
  push(bytes: Uint8Array): void {
    const at = this.mapRead ? 0 : this.readMap(bytes);
    this.bodyPos += bytes.length - at;
    if (this.bodyPos > this.storedSize) {
      throw new EntryDataError(this.path, 'sparse body is longer than its size');
    }
  }

  /**
   * Ends the body.
   * @throws {@link EntryDataError} when the body ended before the map or its data did.
   */
  finish(): void {
    if (!this.mapRead) throw new EntryDataError(this.path, 'body ends inside its sparse map');
    if (this.bodyPos !== this.storedSize) {
      throw new EntryDataError(this.path, 'sparse body is shorter than its size');
    }
  }

  /** Reads pax 1.0 map text from `bytes`; returns how many bytes it used. */
  private readMap(bytes: Uint8Array): number {
    let at = 0;
    while (at < bytes.length && !this.mapRead) {
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
        // The data starts after the map's padding.
        const dataStart = Math.ceil(this.bodyPos / BLOCK) * BLOCK;
        if (dataStart > this.storedSize) {
          throw new EntryDataError(this.path, 'sparse map and its padding exceed the body');
        }
        this.check(map, this.storedSize - dataStart);
        this.mapRead = true;
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

/** Map text gathered before it is handed out as one piece. */
const MAP_PIECE = 64 * 1024;

/**
 * The map that starts a pax 1.0 sparse body, as GNU tar writes it: decimal lines (the segment
 * count, then each segment's offset and length), padded with zeros to a 512-byte boundary.
 * @param map - the segments, `[offset, length]`, in order.
 * @returns its size in bytes (padding included) and its bytes in pieces of about 64 KiB.
 */
export function paxSparseMap(map: ReadonlyArray<readonly [number, number]>): {
  size: number;
  pieces(): Generator<Uint8Array, void>;
} {
  let text = String(map.length).length + 1;
  for (const [offset, length] of map) text += String(offset).length + String(length).length + 2;
  const size = Math.ceil(text / BLOCK) * BLOCK;
  const encoder = new TextEncoder();
  return {
    size,
    *pieces() {
      let lines = `${map.length}\n`;
      let written = 0;
      for (const [offset, length] of map) {
        lines += `${offset}\n${length}\n`;
        if (lines.length < MAP_PIECE) continue;
        written += lines.length;
        yield encoder.encode(lines);
        lines = '';
      }
      const last = new Uint8Array(size - written);
      last.set(encoder.encode(lines));
      yield last;
    },
  };
}
