/**
 * Where a bundle's entries are in its zip, and the check that they lie apart and leave no
 * bytes between them.
 *
 * @module
 */
import { BundleError } from '../errors.js';
import { quoted } from '../quoted.js';
import { MAX_DATA_DESCRIPTOR_BYTES } from './data-descriptor.js';

/** Bytes of a zip local file header before its name. */
const LOCAL_HEADER_BYTES = 30;

/**
 * The most bytes an entry may have past what {@link endOf} counts: the longest local extra
 * field (its length is 16 bits) and the longest data descriptor.
 */
export const MAX_UNCOUNTED_BYTES = 65_535 + MAX_DATA_DESCRIPTOR_BYTES;

/**
 * What is kept of an entry: where its bytes are and what they must be. zip.js's own entry
 * objects took about 7.5 KB each (a review measured a bundle of 150,000 chunks unbundled in
 * 2.9 GB).
 */
export interface EntryPlace {
  /** Its name (ASCII, as every name of the layout is: one character is one byte). */
  name: string;
  /** Where its local header starts. */
  offset: number;
  compressedSize: number;
  uncompressedSize: number;
  deflated: boolean;
  crc: number;
}

/**
 * Where an entry's bytes end, at least: its local header, its name and its data (the local
 * header's extra field and a data descriptor after the data, read only when the entry is
 * read, only add; {@link EntryLimits} checks them then).
 */
function endOf(e: EntryPlace): number {
  return e.offset + LOCAL_HEADER_BYTES + e.name.length + e.compressedSize;
}

/**
 * Where the entries of a zip end: at the next entry's local header, or at the central
 * directory after the last entry.
 */
export interface EntryLimits {
  /**
   * Where the bytes of the entry whose local header starts at `offset` must end, exactly:
   * the start of the next entry in offset order, or the central directory's.
   */
  limitOf(offset: number): number;
}

/**
 * Checks that the entries lie apart, with no bytes between them: none reaches into another's
 * local header or into the central directory, and none ends further before the next (or the
 * central directory) than its local extra field and a data descriptor can fill. Two entries
 * that share bytes (two directory records for one local entry, or data that runs into the
 * next entry) mean different things to different zip readers, and so do bytes no entry holds
 * (a reader that walks the local headers finds what they hide, one that follows the central
 * directory does not); a bundle writer makes neither. The local headers are not read here
 * (that would read every one at open), so each entry is checked again when it is read, to end
 * exactly at its limit: up to {@link MAX_UNCOUNTED_BYTES} bytes after an entry never read are
 * not checked.
 *
 * Costs two `Float64Array`s of `count` numbers (32 MiB for 2,097,152 entries), sorted: the
 * entries lie apart exactly when, starts and ends each sorted, every end is at most the next
 * start. The sorted starts are kept for the limits (16 MiB for 2,097,152 entries).
 * @param places - gives every entry, in any order, on each call (it is called again to name
 * the entries of an overlap).
 * @param count - how many entries `places` gives.
 * @param directoryOffset - where the central directory starts.
 * @returns where each entry ends.
 * @throws {@link BundleError} naming an entry that overlaps another or the central directory,
 * or that ends further before the next than its local extra field and data descriptor can fill.
 */
export function checkEntriesApart(
  places: () => Iterable<EntryPlace>,
  count: number,
  directoryOffset: number,
): EntryLimits {
  const starts = new Float64Array(count);
  const ends = new Float64Array(count);
  let i = 0;
  for (const e of places()) {
    starts[i] = e.offset;
    ends[i] = endOf(e);
    i++;
  }
  starts.sort();
  ends.sort();
  for (let k = 0; k + 1 < count; k++) {
    if (ends[k]! > starts[k + 1]!) throw overlapAt(places, starts[k + 1]!);
  }
  if (count > 0 && ends[count - 1]! > directoryOffset) {
    let last: EntryPlace | undefined;
    for (const e of places()) if (!last || endOf(e) > endOf(last)) last = e;
    throw new BundleError(
      `entry reaches into the central directory (at byte ${directoryOffset})`,
      last?.name,
    );
  }
  // Entries apart, the k-th start and the k-th end are one entry's.
  for (let k = 0; k < count; k++) {
    const next = k + 1 < count ? starts[k + 1]! : directoryOffset;
    if (next - ends[k]! > MAX_UNCOUNTED_BYTES) {
      const at = starts[k]!;
      let entry: EntryPlace | undefined;
      for (const e of places()) {
        if (e.offset !== at) continue;
        entry = e;
        break;
      }
      throw new BundleError(
        `${next - ends[k]!} bytes lie between the entry's data (without its local extra field) and ${
          k + 1 < count ? 'the next entry' : 'the central directory'
        } (at byte ${next}), more than its local extra field and a data descriptor can hold (${MAX_UNCOUNTED_BYTES}): bytes no entry holds`,
        entry?.name,
      );
    }
  }
  return {
    limitOf(offset) {
      // The first start after `offset` (starts are distinct: two equal ones were refused).
      let lo = 0;
      let hi = count;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (starts[mid]! <= offset) lo = mid + 1;
        else hi = mid;
      }
      return lo < count ? starts[lo]! : directoryOffset;
    },
  };
}

/**
 * The error for an overlap found at `at`: the start of an entry that another entry covers
 * (found again by a second pass).
 */
function overlapAt(places: () => Iterable<EntryPlace>, at: number): BundleError {
  let starting: EntryPlace | undefined;
  let covering: EntryPlace | undefined;
  for (const e of places()) {
    if (e.offset === at && !starting) starting = e;
    else if (e.offset <= at && at < endOf(e)) covering ??= e;
    if (starting && covering) break;
  }
  if (covering?.offset === at) {
    return new BundleError(
      `entry starts at byte ${at}, as entry ${quoted(starting?.name)} does: two directory records for one local entry`,
      covering.name,
    );
  }
  return new BundleError(
    `entry overlaps entry ${quoted(starting?.name)}, whose local header is at byte ${at}`,
    covering?.name,
  );
}
