/**
 * A zip entry's data descriptor: the CRC-32 and sizes a writer that streams puts after an
 * entry's data (its local header's flag bit 3 says one follows), the check that the bytes
 * after an entry's data are exactly one that agrees with the central directory, and the
 * check that a stored entry's data holds none a reader could end it at.
 *
 * @module
 */
import { crc32 } from '../hash/crc32.js';
import type { EntryPlace } from './entry-place.js';

/** The signature a data descriptor may start with (APPNOTE 4.3.9.3: writers should write it). */
const DATA_DESCRIPTOR_SIGNATURE = 0x08074b50;

/**
 * Bytes of a data descriptor, by form: CRC-32 and 4-byte sizes (12), the same after the
 * signature (16), CRC-32 and 8-byte zip64 sizes (20), the same after the signature (24).
 */
const FORMS: ReadonlyMap<number, { signed: boolean; wide: boolean }> = new Map([
  [12, { signed: false, wide: false }],
  [16, { signed: true, wide: false }],
  [20, { signed: false, wide: true }],
  [24, { signed: true, wide: true }],
]);

/** Bytes of the longest data descriptor: signature, CRC-32 and two 8-byte sizes. */
export const MAX_DATA_DESCRIPTOR_BYTES = 24;

/** Tells whether `length` bytes can be a data descriptor (12, 16, 20 or 24). */
export function isDataDescriptorLength(length: number): boolean {
  return FORMS.has(length);
}

/**
 * Tells whether `bytes`, all the bytes between an entry's data and the next entry (or the
 * central directory), are one data descriptor that gives the CRC-32 and sizes the central
 * directory gives the entry. The form is told by the length: a descriptor of 16 or 24 bytes
 * must start with its signature.
 * @param bytes - the bytes after the entry's data.
 * @param e - the entry, as the central directory gives it.
 */
export function dataDescriptorAgrees(bytes: Uint8Array, e: EntryPlace): boolean {
  const form = FORMS.get(bytes.length);
  if (!form) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let at = 0;
  if (form.signed) {
    if (view.getUint32(0, true) !== DATA_DESCRIPTOR_SIGNATURE) return false;
    at = 4;
  }
  const size = (offset: number) =>
    form.wide ? Number(view.getBigUint64(offset, true)) : view.getUint32(offset, true);
  const sizeAt = form.wide ? 8 : 4;
  return (
    view.getUint32(at, true) === e.crc &&
    size(at + 4) === e.compressedSize &&
    size(at + 4 + sizeAt) === e.uncompressedSize
  );
}

/**
 * Where a stored entry's data holds a data descriptor that a reader scanning the data for one
 * would end the entry at: its signature, then the CRC-32 of the data before it (libarchive
 * checks that) or that data's length as the compressed size. A stored entry
 * with flag bit 3 set has no other end than such a scan finds, so a reader that walks local
 * headers reads on from there: the rest of the data can hold an entry only it lists.
 * @param data - the stored entry's data, all of it (not the descriptor after it).
 * @returns the offset in `data` of the first such descriptor; `undefined` when there is none.
 */
export function descriptorInStoredData(data: Uint8Array): number | undefined {
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  let crc = 0;
  let crcTo = 0;
  for (let p = data.indexOf(0x50); p >= 0 && p + 4 <= data.length; p = data.indexOf(0x50, p + 1)) {
    if (view.getUint32(p, true) !== DATA_DESCRIPTOR_SIGNATURE) continue;
    crc = crc32(data.subarray(crcTo, p), crc);
    crcTo = p;
    if (p + 8 <= data.length && view.getUint32(p + 4, true) === crc) return p;
    // A zip64 descriptor's 8-byte size is `p` only where its first 4 bytes are.
    if (p + 12 <= data.length && view.getUint32(p + 8, true) === p) return p;
  }
  return undefined;
}
