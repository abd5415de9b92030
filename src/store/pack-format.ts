/**
 * The byte formats of a pack store (docs/FORMAT.md §13), pure: a pack file is a header and a
 * run of chunk records (each a fixed header and the stored bytes); its index file lists every
 * record with its offset, and ends with a CRC-32. Both are outside input when read back:
 * every field is checked, and a failure names the file and byte offset.
 *
 * @module
 */

import { MAX_CHUNK_MAX } from '../cdc/params.js';
import { CHUNK_CODINGS, type ChunkCoding } from '../compress/chunk-codec.js';
import { PackFormatError } from '../errors.js';
import { crc32 } from '../hash/crc32.js';
import { digestsEqual, SHA256_BYTES } from '../hash/digest.js';
import { compareDigests, searchEntries } from './pack-filter.js';

/** Magic and version at the start of a pack file: `\x89LDP`, 1, three zero bytes. */
export const PACK_MAGIC: Uint8Array = Uint8Array.of(0x89, 0x4c, 0x44, 0x50, 1, 0, 0, 0);
/** Magic and version at the start of a pack index file: `\x89LDX`, 1, three zero bytes. */
export const PACK_INDEX_MAGIC: Uint8Array = Uint8Array.of(0x89, 0x4c, 0x44, 0x58, 1, 0, 0, 0);

/** Bytes of a chunk record's header in a pack: digest, coding, 3 zero bytes, stored and raw sizes. */
export const RECORD_HEADER_BYTES = SHA256_BYTES + 4 + 4 + 4;
/** Bytes of one entry of a pack index. */
export const INDEX_ENTRY_BYTES = SHA256_BYTES + 8 + 4 + 4 + 4;
/** Bytes of a pack index's header: magic, entry count, pack size. */
export const INDEX_HEADER_BYTES = 8 + 4 + 8;
/** Stored bytes of a chunk may exceed its raw size by this much (deflate's worst case). */
const STORED_SLACK = 64 * 1024;
/** The most entries a pack index may list. */
export const MAX_PACK_ENTRIES = 1 << 22;
/** Slots a builder sorts apart in a key (see `PackIndexBuilder.sort`): 2^22. */
const SLOT_SPAN = MAX_PACK_ENTRIES;

/** One chunk record of a pack, as its index lists it. */
export interface PackEntry {
  /** The raw SHA-256 of the uncompressed chunk. */
  digest: Uint8Array;
  /** Offset of the record's header in the pack file. */
  offset: number;
  /** How the stored bytes are coded. */
  coding: ChunkCoding;
  /** Bytes stored after the record header. */
  stored: number;
  /** Bytes of the chunk once decoded. */
  raw: number;
}

/** The header of one chunk record. */
export type RecordHeader = Omit<PackEntry, 'offset'>;

function checkSizes(file: string, at: number, h: RecordHeader): void {
  if (h.raw > MAX_CHUNK_MAX) throw new PackFormatError(file, at, `chunk of ${h.raw} bytes`);
  if (h.coding === 'identity' ? h.stored !== h.raw : h.stored > h.raw + STORED_SLACK) {
    throw new PackFormatError(
      file,
      at,
      `${h.stored} bytes stored for a ${h.coding} chunk of ${h.raw}`,
    );
  }
}

function codingAt(file: string, at: number, bytes: Uint8Array, i: number): ChunkCoding {
  const coding = CHUNK_CODINGS[bytes[i]!];
  if (!coding || bytes[i + 1] || bytes[i + 2] || bytes[i + 3]) {
    throw new PackFormatError(file, at, `unknown chunk coding ${bytes[i]}`);
  }
  return coding;
}

/**
 * Encodes a chunk record's header.
 * @param h - digest, coding and sizes.
 * @returns {@link RECORD_HEADER_BYTES} bytes.
 */
export function encodeRecordHeader(h: RecordHeader): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER_BYTES);
  const view = new DataView(out.buffer);
  out.set(h.digest, 0);
  out[SHA256_BYTES] = CHUNK_CODINGS.indexOf(h.coding);
  view.setUint32(SHA256_BYTES + 4, h.stored);
  view.setUint32(SHA256_BYTES + 8, h.raw);
  return out;
}

/**
 * Decodes and checks a chunk record's header.
 * @param bytes - {@link RECORD_HEADER_BYTES} bytes.
 * @param file - the pack's name, for errors. @param at - the header's offset, for errors.
 * @throws {@link PackFormatError} for an unknown coding or impossible sizes.
 */
export function decodeRecordHeader(bytes: Uint8Array, file: string, at: number): RecordHeader {
  if (bytes.length < RECORD_HEADER_BYTES) {
    throw new PackFormatError(file, at, 'chunk record header cut short');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, RECORD_HEADER_BYTES);
  const h: RecordHeader = {
    digest: bytes.slice(0, SHA256_BYTES),
    coding: codingAt(file, at, bytes, SHA256_BYTES),
    stored: view.getUint32(SHA256_BYTES + 4),
    raw: view.getUint32(SHA256_BYTES + 8),
  };
  checkSizes(file, at, h);
  return h;
}

/**
 * Encodes a pack's index file.
 * @param entries - every record of the pack, in any order.
 * @param packSize - the pack file's size in bytes.
 */
export function encodePackIndex(entries: readonly PackEntry[], packSize: number): Uint8Array {
  const builder = new PackIndexBuilder();
  for (const e of entries) builder.add(e);
  return builder.encode(packSize);
}

/**
 * The index of a pack being written, built up entry by entry in its encoded form: 52 bytes an
 * entry, where an object per entry (and one for its digest) took about 250, and a writer of
 * small chunks held 60,000 of them.
 */
export class PackIndexBuilder {
  private bytes = new Uint8Array(INDEX_HEADER_BYTES + 256 * INDEX_ENTRY_BYTES);
  private view = new DataView(this.bytes.buffer);
  /** Entries added, removed ones included. */
  private slots = 0;
  /** Removed entries: their coding byte is set to this. */
  private static readonly REMOVED = 0xff;
  private removed = 0;
  /** Set by {@link encode}, which sorts the entries; cleared by {@link add}. */
  private sorted = false;

  /** Entries added and not removed. */
  get size(): number {
    return this.slots - this.removed;
  }

  /**
   * Adds an entry.
   * @returns its slot, for {@link remove}.
   * @throws RangeError past {@link MAX_PACK_ENTRIES} slots.
   */
  add(e: Readonly<PackEntry>): number {
    if (this.slots === MAX_PACK_ENTRIES) {
      throw new RangeError(`a pack index lists at most ${MAX_PACK_ENTRIES} entries`);
    }
    let at = INDEX_HEADER_BYTES + this.slots * INDEX_ENTRY_BYTES;
    this.reserve(at + INDEX_ENTRY_BYTES);
    const coding = CHUNK_CODINGS.indexOf(e.coding);
    if (coding < 0) throw new RangeError(`no pack coding is called ${String(e.coding)}`);
    this.bytes.set(e.digest, at);
    at += SHA256_BYTES;
    this.view.setBigUint64(at, BigInt(e.offset));
    this.bytes[at + 8] = coding;
    this.view.setUint32(at + 12, e.stored);
    this.view.setUint32(at + 16, e.raw);
    this.sorted = false;
    return this.slots++;
  }

  /**
   * Leaves an entry out of the index (its record was never written).
   * @throws RangeError for a slot not handed out, or once {@link encode} has sorted the
   *   entries (slots then name none).
   */
  remove(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slots || this.sorted) {
      throw new RangeError(`no pack index slot ${slot}${this.sorted ? ' (index encoded)' : ''}`);
    }
    const at = INDEX_HEADER_BYTES + slot * INDEX_ENTRY_BYTES + SHA256_BYTES + 8;
    if (this.bytes[at] === PackIndexBuilder.REMOVED) return;
    this.bytes[at] = PackIndexBuilder.REMOVED;
    this.removed++;
  }

  /**
   * The entry in `slot` when it holds `digest` (a removed entry holds none), as a copy: where
   * the record is, its coding and sizes. Once {@link encode} has sorted the entries, slots no
   * longer name them, and the entry of `digest` is found wherever it is.
   */
  find(slot: number, digest: Uint8Array): PackEntry | undefined {
    if (this.sorted) {
      const body = this.bytes.subarray(
        INDEX_HEADER_BYTES,
        INDEX_HEADER_BYTES + this.slots * INDEX_ENTRY_BYTES,
      );
      slot = searchEntries(body, INDEX_ENTRY_BYTES, digest);
    }
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slots) return undefined;
    const at = INDEX_HEADER_BYTES + slot * INDEX_ENTRY_BYTES;
    if (this.bytes[at + SHA256_BYTES + 8] === PackIndexBuilder.REMOVED) return undefined;
    if (!digestsEqual(this.bytes.subarray(at, at + SHA256_BYTES), digest)) return undefined;
    const entry = this.bytes.slice(at, at + INDEX_ENTRY_BYTES);
    return decodeIndexEntry(entry, Number.MAX_SAFE_INTEGER, 'the index being built', at);
  }

  /**
   * Calls `visit` with the digest and slot of every entry not removed, in slot order (in
   * digest order once {@link encode} has sorted them); the digest is a view, valid during the
   * call.
   */
  forEachDigest(visit: (digest: Uint8Array, slot: number) => void): void {
    for (let i = 0; i < this.slots; i++) {
      const at = INDEX_HEADER_BYTES + i * INDEX_ENTRY_BYTES;
      if (this.bytes[at + SHA256_BYTES + 8] === PackIndexBuilder.REMOVED) continue;
      visit(this.bytes.subarray(at, at + SHA256_BYTES), i);
    }
  }

  /**
   * The index file: header, the entries in ascending digest order (removed ones left out),
   * CRC-32. Sorted, a reader can look entries up on disk instead of keeping them in memory
   * (see `PackFilter`). Built in place, with no second copy of a large index: removed entries
   * are dropped for good and the rest sorted (slots handed out before no longer name their
   * entries: {@link find} then looks for the digest), and the result is a view of the
   * builder's buffer, valid until the next `add`.
   */
  encode(packSize: number): Uint8Array {
    if (this.removed > 0) {
      let to = INDEX_HEADER_BYTES;
      for (let i = 0; i < this.slots; i++) {
        const from = INDEX_HEADER_BYTES + i * INDEX_ENTRY_BYTES;
        if (this.bytes[from + SHA256_BYTES + 8] === PackIndexBuilder.REMOVED) continue;
        if (to !== from) this.bytes.copyWithin(to, from, from + INDEX_ENTRY_BYTES);
        to += INDEX_ENTRY_BYTES;
      }
      this.slots -= this.removed;
      this.removed = 0;
    }
    if (!this.sorted) this.sort();
    const body = INDEX_HEADER_BYTES + this.slots * INDEX_ENTRY_BYTES;
    this.reserve(body + 4);
    this.bytes.set(PACK_INDEX_MAGIC, 0);
    this.view.setUint32(8, this.slots);
    this.view.setBigUint64(12, BigInt(packSize));
    this.view.setUint32(body, crc32(this.bytes.subarray(0, body)));
    return this.bytes.subarray(0, body + 4);
  }

  /** Puts the entries (none removed) in ascending digest order, in place. */
  private sort(): void {
    const b = this.bytes;
    const at = (i: number) => INDEX_HEADER_BYTES + i * INDEX_ENTRY_BYTES;
    const n = this.slots;
    // Sorted as numbers, natively: each entry's key is the top 31 bits of its digest above its
    // slot (22 bits: 53 in all, exact in a double). Runs of equal tops are then sorted by
    // whole digests (rare but for digests chosen to share them). A comparator over digests
    // sorted 200,000 entries in 130 ms.
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const top = ((b[at(i)]! << 23) | (b[at(i) + 1]! << 15) | (b[at(i) + 2]! << 7)) >>> 0;
      keys[i] = (top + (b[at(i) + 3]! >>> 1)) * SLOT_SPAN + i;
    }
    keys.sort();
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = keys[i]! % SLOT_SPAN;
    for (let i = 0; i < n; ) {
      let j = i + 1;
      const top = Math.floor(keys[i]! / SLOT_SPAN);
      while (j < n && Math.floor(keys[j]! / SLOT_SPAN) === top) j++;
      if (j - i > 1) order.subarray(i, j).sort((x, y) => compareDigests(b, at(x), b, at(y)));
      i = j;
    }
    // Entry i takes entry order[i]: each cycle of the permutation is followed once, with one
    // entry set aside.
    const held = new Uint8Array(INDEX_ENTRY_BYTES);
    for (let i = 0; i < n; i++) {
      if (order[i] === i) continue;
      held.set(b.subarray(at(i), at(i) + INDEX_ENTRY_BYTES));
      let j = i;
      for (;;) {
        const k = order[j]!;
        order[j] = j;
        if (k === i) {
          b.set(held, at(j));
          break;
        }
        b.copyWithin(at(j), at(k), at(k) + INDEX_ENTRY_BYTES);
        j = k;
      }
    }
    this.sorted = true;
  }

  /** Grows the buffer, doubling, to hold at least `bytes`. */
  private reserve(bytes: number): void {
    if (bytes <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < bytes) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes);
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }
}

/** A decoded pack index. */
export interface PackIndex {
  /** The size the pack file must have. */
  packSize: number;
  entries: PackEntry[];
}

/**
 * Decodes and checks a pack's index file: magic, length, checksum, every entry inside the
 * pack's declared size, and no more record bytes than the pack holds.
 * @param bytes - the whole index file.
 * @param file - its name, for errors.
 * @throws {@link PackFormatError} naming what was wrong and where.
 */
export function decodePackIndex(bytes: Uint8Array, file: string): PackIndex {
  const entries: PackEntry[] = [];
  const packSize = visitPackIndex(bytes, file, (e) => {
    entries.push({ ...e, digest: e.digest.slice() });
  });
  return { packSize, entries };
}

/**
 * Checks a pack's index file as {@link decodePackIndex} does, then hands each entry to `visit`
 * (none when a check fails) without keeping any: the entry object and its digest (a view of
 * `bytes`) are reused for the next, so a store can load millions of entries without an object
 * each.
 * @param bytes - the whole index file.
 * @param file - its name, for errors.
 * @param visit - called for each entry in order, after it was checked.
 * @returns the pack's size, as the index says.
 * @throws {@link PackFormatError} naming what was wrong and where.
 */
export function visitPackIndex(
  bytes: Uint8Array,
  file: string,
  visit: (entry: Readonly<PackEntry>) => void,
): number {
  const check = new PackIndexCheck(bytes.subarray(0, INDEX_HEADER_BYTES), bytes.length, file);
  const body = check.body;
  check.entries(bytes.subarray(INDEX_HEADER_BYTES, body));
  check.finish(bytes.subarray(body));
  // Every entry checked: only now is any handed over, so a bad index gives none.
  const e: PackEntry = { digest: bytes, offset: 0, coding: 'identity', stored: 0, raw: 0 };
  for (let at = INDEX_HEADER_BYTES; at < body; at += INDEX_ENTRY_BYTES) {
    visit(
      decodeIndexEntry(bytes.subarray(at, at + INDEX_ENTRY_BYTES), check.packSize, file, at, e),
    );
  }
  return check.packSize;
}

/**
 * Checks a pack index file read in pieces, as {@link visitPackIndex} checks a whole one, so
 * that a reader never holds a large index whole (the format allows 2^22 entries, 218 MB): the
 * header first, then every entry in order, in pieces of whole entries, then the checksum. A
 * damaged file reports a checksum mismatch before what its entries seem to say, as when it is
 * checked whole.
 */
export class PackIndexCheck {
  /** Entries the index lists. */
  readonly count: number;
  /** The size the pack file must have. */
  readonly packSize: number;
  /** Where the entries end and the checksum starts. */
  readonly body: number;
  private crc: number;
  private at = INDEX_HEADER_BYTES;
  /** Bytes the records claim: records never overlap, so at most the pack's size. */
  private claimed = PACK_MAGIC.length;
  /** The first fault found in an entry: reported unless the checksum fails. */
  private fault: PackFormatError | undefined;
  private ascending = true;
  /** The digest of the last entry of the bytes checked so far. */
  private readonly last = new Uint8Array(SHA256_BYTES);
  private readonly entry: PackEntry = {
    digest: new Uint8Array(0),
    offset: 0,
    coding: 'identity',
    stored: 0,
    raw: 0,
  };

  /**
   * @param header - the file's first {@link INDEX_HEADER_BYTES} bytes (fewer when it is shorter).
   * @param fileSize - the file's size in bytes.
   * @param file - its name, for errors.
   * @throws {@link PackFormatError} for a bad header, or a size that does not fit the count.
   */
  constructor(
    header: Uint8Array,
    fileSize: number,
    private readonly file: string,
  ) {
    if (fileSize < INDEX_HEADER_BYTES + 4 || header.length < INDEX_HEADER_BYTES) {
      throw new PackFormatError(file, fileSize, 'pack index cut short');
    }
    for (let i = 0; i < PACK_INDEX_MAGIC.length; i++) {
      if (header[i] !== PACK_INDEX_MAGIC[i]) {
        throw new PackFormatError(file, i, 'not a layerdiff pack index (bad magic or version)');
      }
    }
    this.count = u32(header, 8);
    this.packSize = u32(header, 12) * 2 ** 32 + u32(header, 16);
    this.body = INDEX_HEADER_BYTES + this.count * INDEX_ENTRY_BYTES;
    if (this.count > MAX_PACK_ENTRIES || fileSize !== this.body + 4) {
      throw new PackFormatError(
        file,
        8,
        `${this.count} entries do not fit a file of ${fileSize} bytes`,
      );
    }
    this.crc = crc32(header.subarray(0, INDEX_HEADER_BYTES));
  }

  /**
   * Checks the next entries.
   * @param bytes - a whole number of entries, the next in the file.
   */
  entries(bytes: Uint8Array): void {
    if (bytes.length % INDEX_ENTRY_BYTES !== 0 || this.at + bytes.length > this.body) {
      throw new RangeError(`${bytes.length} bytes are not the next whole entries of ${this.file}`);
    }
    this.crc = crc32(bytes, this.crc);
    for (let i = 0; i < bytes.length && !this.fault; i += INDEX_ENTRY_BYTES) {
      const at = this.at + i;
      if (this.ascending && at > INDEX_HEADER_BYTES) {
        // Against the entry before: in these bytes, or the last of the bytes checked before.
        const order =
          i > 0
            ? compareDigests(bytes, i, bytes, i - INDEX_ENTRY_BYTES)
            : compareDigests(bytes, i, this.last, 0);
        this.ascending = order > 0;
      }
      try {
        const e = decodeIndexEntry(
          bytes.subarray(i, i + INDEX_ENTRY_BYTES),
          this.packSize,
          this.file,
          at,
          this.entry,
        );
        this.claimed += RECORD_HEADER_BYTES + e.stored;
        if (this.claimed > this.packSize) {
          // Overlapping records: a few bytes of pack could otherwise claim millions of chunks.
          throw new PackFormatError(
            this.file,
            at,
            `records claim more than the pack's ${this.packSize} bytes`,
          );
        }
      } catch (err) {
        if (!(err instanceof PackFormatError)) throw err;
        this.fault = err;
      }
    }
    const end = bytes.length - INDEX_ENTRY_BYTES;
    if (end >= 0) this.last.set(bytes.subarray(end, end + SHA256_BYTES));
    this.at += bytes.length;
  }

  /**
   * Whether the entries checked so far list their digests in strictly ascending order, as
   * this store's writers write them (so that a reader may look them up on disk): true of none
   * or one.
   */
  get sorted(): boolean {
    return this.ascending;
  }

  /**
   * Checks the checksum, once every entry has been checked, then reports the first fault an
   * entry had.
   * @param checksum - the file's last 4 bytes.
   * @throws {@link PackFormatError}.
   */
  finish(checksum: Uint8Array): void {
    if (this.at !== this.body || checksum.length !== 4) {
      throw new RangeError(`the checksum of ${this.file} comes after its ${this.count} entries`);
    }
    if (u32(checksum, 0) !== this.crc) {
      throw new PackFormatError(this.file, this.body, 'pack index checksum mismatch');
    }
    if (!Number.isSafeInteger(this.packSize)) {
      throw new PackFormatError(this.file, 12, `pack size ${this.packSize} out of range`);
    }
    if (this.fault) throw this.fault;
  }
}

/** The big-endian 32-bit word at `at`. */
function u32(bytes: Uint8Array, at: number): number {
  return (
    ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0
  );
}

/**
 * Decodes and checks one entry of a pack index: a known coding, sizes a chunk can have, and a
 * record that lies inside the pack.
 * @param entry - its {@link INDEX_ENTRY_BYTES} bytes; the entry's digest is a view of them.
 * @param packSize - the pack's size, as its index states.
 * @param file - the index's name, for errors. @param position - the entry's offset in it.
 * @param into - an entry to fill instead of a new one.
 * @throws {@link PackFormatError} naming what was wrong and where.
 */
export function decodeIndexEntry(
  entry: Uint8Array,
  packSize: number,
  file: string,
  position: number,
  into: PackEntry = { digest: entry, offset: 0, coding: 'identity', stored: 0, raw: 0 },
): PackEntry {
  if (entry.length !== INDEX_ENTRY_BYTES) {
    throw new PackFormatError(file, position, 'pack index entry cut short');
  }
  // Read by hand: a store loads millions of entries, and a DataView each would be garbage.
  const offset = u32(entry, SHA256_BYTES) * 2 ** 32 + u32(entry, SHA256_BYTES + 4);
  into.digest = entry.subarray(0, SHA256_BYTES);
  into.offset = offset;
  into.coding = codingAt(file, position, entry, SHA256_BYTES + 8);
  into.stored = u32(entry, SHA256_BYTES + 12);
  into.raw = u32(entry, SHA256_BYTES + 16);
  checkSizes(file, position, into);
  if (offset < PACK_MAGIC.length || offset + RECORD_HEADER_BYTES + into.stored > packSize) {
    throw new PackFormatError(
      file,
      position,
      `record at ${offset} lies outside the pack's ${packSize} bytes`,
    );
  }
  return into;
}
