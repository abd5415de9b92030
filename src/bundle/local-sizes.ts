/**
 * The CRC-32 and sizes in a zip entry's local header, checked against the central directory's.
 *
 * @module
 */
import type { EntryPlace } from './entry-place.js';

/** A local header size that says "see the zip64 extra field". */
const SENTINEL = 0xffff_ffff;

/** The id of the zip64 extended information extra field. */
const ZIP64_EXTRA = 0x0001;

/**
 * The 8-byte numbers of the local extra field's zip64 record, in order; `undefined` when it
 * has none; a reason (a string) when it cannot be read one way only (two zip64 records, or one
 * that runs past the end of the field).
 */
function zip64Numbers(extra: Uint8Array): bigint[] | string | undefined {
  const view = new DataView(extra.buffer, extra.byteOffset, extra.length);
  let found: bigint[] | undefined;
  for (let at = 0; at + 4 <= extra.length; ) {
    const id = view.getUint16(at, true);
    const length = view.getUint16(at + 2, true);
    const end = at + 4 + length;
    if (id === ZIP64_EXTRA) {
      if (found) return 'its local extra field has two zip64 records';
      if (end > extra.length) return 'its local zip64 extra field runs past the extra field';
      found = [];
      for (let i = at + 4; i + 8 <= end; i += 8) found.push(view.getBigUint64(i, true));
    }
    at = end;
  }
  return found;
}

/**
 * Tells how an entry's local header disagrees with the central directory about its CRC-32 and
 * sizes, if it does. A reader that walks local headers (`bsdtar -tvf - < x.zip`) takes the
 * local sizes: a local header that gives fewer bytes than the central directory lets the rest
 * of the entry's data hold another local header, an entry that only such readers list.
 *
 * With flag bit 3 clear (no data descriptor), the local CRC-32 and sizes must be the central
 * directory's; a size of 0xFFFFFFFF is read from the local zip64 extra field, whose numbers
 * must give the central sizes whichever way readers take them (in the order of the fields that
 * are 0xFFFFFFFF, or, where it holds two numbers or more, uncompressed then compressed, as
 * APPNOTE 4.5.3 puts them in a local header). With bit 3 set, the writer did not know them when it wrote the header:
 * each may be 0, 0xFFFFFFFF for a size, or the central value (the data descriptor after the
 * data is checked against the central directory elsewhere), and so may the zip64 numbers.
 * @param head - the local header's first 30 bytes.
 * @param extra - its extra field.
 * @param e - the entry, as the central directory gives it.
 * @returns the disagreement, in words; `undefined` when there is none.
 */
export function localSizesDisagree(
  head: DataView,
  extra: Uint8Array,
  e: EntryPlace,
): string | undefined {
  const described = (head.getUint16(6, true) & 8) !== 0;
  const crc = head.getUint32(14, true);
  const fields = [
    { what: 'uncompressed size', local: head.getUint32(22, true), central: e.uncompressedSize },
    { what: 'compressed size', local: head.getUint32(18, true), central: e.compressedSize },
  ];
  const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
  const bit3 = described ? 'with flag bit 3 set' : 'with flag bit 3 clear';
  if (crc !== e.crc && !(described && crc === 0)) {
    return `its local header (${bit3}) gives CRC-32 ${hex(crc)}, the central directory ${hex(e.crc)}`;
  }
  for (const f of fields) {
    if (f.local === f.central || f.local === SENTINEL || (described && f.local === 0)) continue;
    return `its local header (${bit3}) gives ${f.what} ${f.local}, the central directory ${f.central}`;
  }
  const wide = fields.filter((f) => f.local === SENTINEL);
  if (wide.length === 0) return undefined;
  const numbers = zip64Numbers(extra);
  if (typeof numbers === 'string') return numbers;
  if (!numbers) {
    if (described) return undefined;
    return `its local header gives ${wide[0]!.what} 0xffffffff and has no zip64 extra field`;
  }
  // Each sentinel field with every number a reader may take for it.
  const readings = wide.map((f, i) => ({ f, taken: [numbers[i]] }));
  if (numbers.length >= 2) {
    for (const r of readings) r.taken.push(numbers[r.f.what === 'uncompressed size' ? 0 : 1]);
  }
  for (const { f, taken } of readings) {
    for (const n of taken) {
      if (n === BigInt(f.central) || (described && (n === undefined || n === 0n))) continue;
      return n === undefined
        ? `its local zip64 extra field gives no ${f.what}`
        : `its local zip64 extra field gives ${f.what} ${n}, the central directory ${f.central}`;
    }
  }
  return undefined;
}
