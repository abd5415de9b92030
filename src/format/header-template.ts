/**
 * The header templates of index format version 2 (`docs/FORMAT.md` §3.9): the ustar header
 * block an entry record's metadata implies, laid out as Go's `archive/tar` writes a USTAR
 * header (and as the library's own tar encoder does for a plain entry), and the pax `x`
 * header Go writes before it for the entry's pax records and extended attributes. A version 2
 * record keeps only the bytes where the entry's real header bytes differ from these.
 *
 * This function is part of the format: every byte it makes is pinned by golden vectors, and
 * changing any of them would silently change what old indexes rebuild. It must never follow
 * changes to the tar encoder.
 *
 * @module
 */
import type { EntryMeta } from './records.js';

/** Bytes in a tar header block. */
export const HEADER_BLOCK = 512;

const utf8 = new TextEncoder();

/**
 * Where {@link utf8Of} encodes a text of up to 1,365 code units: a template is made for every
 * record read, and this makes no garbage of the usual names.
 */
const scratch = new Uint8Array(4096);

/** The UTF-8 of `s`, as a view that is good until the next call. */
function utf8Of(s: string): Uint8Array {
  // At most three bytes per UTF-16 code unit (a lone surrogate becomes U+FFFD's three).
  if (s.length * 3 > scratch.length) return utf8.encode(s);
  return scratch.subarray(0, utf8.encodeInto(s, scratch).written);
}

/**
 * Writes `value` at `at` as `width - 1` zero-padded octal digits and a NUL; leaves the field
 * zero when the value is not an integer in `[0, 8^(width-1))`.
 */
function octal(block: Uint8Array, at: number, width: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 8 ** (width - 1)) return;
  for (let i = at + width - 2; i >= at; i--) {
    block[i] = 0x30 + (value % 8);
    value = Math.floor(value / 8);
  }
}

/** `"ustar\0"` and version `"00"`, at byte 257. */
const USTAR_MAGIC_VERSION = Uint8Array.of(0x75, 0x73, 0x74, 0x61, 0x72, 0x00, 0x30, 0x30);

/** Copies at most `width` bytes of `bytes` to `at`. */
function field(block: Uint8Array, at: number, width: number, bytes: Uint8Array): void {
  block.set(bytes.length > width ? bytes.subarray(0, width) : bytes, at);
}

/** Writes the checksum of a block whose other fields are written (bytes 148–155 still zero). */
function checksum(block: Uint8Array): void {
  // The sum of the bytes with its own field counted as spaces, as six octal digits, a NUL and
  // a space.
  let sum = 8 * 0x20;
  for (let i = 0; i < HEADER_BLOCK; i++) sum += block[i]!;
  octal(block, 148, 7, sum);
  block[155] = 0x20;
}

/**
 * Where a path of more than 100 bytes splits into ustar prefix and name, as Go splits it: at
 * the last `/` among its first 156 bytes (a trailing `/` of a 156-byte path not counted), when
 * the path is ASCII, the prefix is 1 to 155 bytes and the name 1 to 100. `-1` when it does not.
 */
function splitAt(p: Uint8Array): number {
  if (p.length > 256) return -1;
  for (const b of p) if (b >= 0x80) return -1;
  let end = Math.min(p.length, 156);
  if (end === p.length && p[end - 1] === 0x2f) end--;
  let i = end - 1;
  while (i >= 0 && p[i] !== 0x2f) i--;
  const name = p.length - i - 1;
  return i <= 0 || name > 100 || name === 0 || i > 155 ? -1 : i;
}

/**
 * The header template of an entry: a 512-byte ustar header block built from its metadata
 * alone (`docs/FORMAT.md` §3.9).
 * @param e - the entry's metadata.
 * @param into - a 512-byte block to make it in, instead of a new one.
 * @returns the block.
 */
export function headerTemplate(e: EntryMeta, into?: Uint8Array): Uint8Array {
  const block = into?.fill(0) ?? new Uint8Array(HEADER_BLOCK);
  const path = utf8Of(e.path);
  const at = path.length > 100 ? splitAt(path) : -1;
  if (at < 0) field(block, 0, 100, path);
  else {
    field(block, 345, 155, path.subarray(0, at));
    field(block, 0, 100, path.subarray(at + 1));
  }
  octal(block, 100, 8, e.mode);
  octal(block, 108, 8, e.uid);
  octal(block, 116, 8, e.gid);
  octal(block, 124, 12, e.size);
  octal(block, 136, 12, e.mtime.sec);
  block[156] = e.typeflag.charCodeAt(0) & 0xff;
  field(block, 157, 100, utf8Of(e.linkname));
  block.set(USTAR_MAGIC_VERSION, 257);
  field(block, 265, 32, utf8Of(e.uname));
  field(block, 297, 32, utf8Of(e.gname));
  octal(block, 329, 8, e.devmajor);
  octal(block, 337, 8, e.devminor);
  checksum(block);
  return block;
}

const PAX_DIR = utf8.encode('PaxHeaders.0');
const SLASH = Uint8Array.of(0x2f);
const XATTR_PREFIX = 'SCHILY.xattr.';

/** Orders byte strings bytewise, a shorter one first when it is a prefix of the other. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Where {@link paxHeaderName} makes the name, which the caller copies at once. */
const nameScratch = new Uint8Array(100);

/**
 * The name Go gives an entry's pax header (for a clean path: Go cleans it first):
 * `PaxHeaders.0` put before the last component of the path (after a trailing `/` when there is
 * one), bytes above 0x7F left out, cut to 100 bytes, `/` at its end dropped. Reads no more of
 * the path than the 100 bytes it keeps need.
 * @returns a view that is good until the next call.
 */
function paxHeaderName(path: Uint8Array): Uint8Array {
  const slash = path.lastIndexOf(0x2f);
  const name = nameScratch;
  let n = 0;
  const take = (bytes: Uint8Array, from: number, to: number) => {
    for (let i = from; i < to && n < 100; i++) if (bytes[i]! < 0x80) name[n++] = bytes[i]!;
  };
  take(path, 0, slash + 1);
  take(PAX_DIR, 0, PAX_DIR.length);
  if (slash + 1 < path.length) {
    take(SLASH, 0, 1);
    take(path, slash + 1, path.length);
  }
  while (n > 0 && name[n - 1] === 0x2f) n--;
  return name.subarray(0, n);
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Text as it goes into a record: kept as a string when ASCII (a byte per code unit). */
function recordText(s: string): string | Uint8Array {
  return isAscii(s) ? s : utf8.encode(s);
}

/** Writes `text` (ASCII, or bytes) at `at`; returns where it ends. */
function put(out: Uint8Array, at: number, text: string | Uint8Array): number {
  if (typeof text !== 'string') {
    out.set(text, at);
    return at + text.length;
  }
  for (let i = 0; i < text.length; i++) out[at++] = text.charCodeAt(i);
  return at;
}

/** Decimal digits of a positive integer. */
function digits(n: number): number {
  let d = 1;
  for (; n >= 10; n = Math.floor(n / 10)) d++;
  return d;
}

/** Writes `n` in decimal at `at`; returns where it ends. */
function putDecimal(out: Uint8Array, at: number, n: number): number {
  const end = at + digits(n);
  for (let i = end - 1; i >= at; i--, n = Math.floor(n / 10)) out[i] = 0x30 + (n % 10);
  return end;
}

/** A pax record of the template: key and value as they are written. */
interface PaxRecord {
  key: string | Uint8Array;
  value: string | Uint8Array;
  /** The record's length, counting its own digits. */
  length: number;
}

/**
 * The extension template of an entry (`docs/FORMAT.md` §3.9): the pax `x` header, records and
 * padding that Go's `archive/tar` writes before the header of an entry with these pax records
 * (`e.pax`) and extended attributes (as `SCHILY.xattr.*` records), the records sorted by key.
 * Empty when the entry has neither.
 *
 * Keys and values that are ASCII are written from their strings: encoding each one was most of
 * what a template cost, and layers written by GNU tar's `posix` format have a pax header on
 * every entry.
 * @param e - the entry's metadata.
 * @param into - a buffer to make it in when it fits, instead of a new one.
 * @returns a whole number of 512-byte blocks, or no bytes.
 */
export function extensionTemplate(e: EntryMeta, into?: Uint8Array): Uint8Array {
  const records: PaxRecord[] = [];
  let ascii = true;
  const add = (k: string, value: string | Uint8Array) => {
    const key = recordText(k);
    if (typeof key !== 'string') ascii = false;
    // Each record is "<length> <key>=<value>\n", the length counting its own digits.
    const n = key.length + value.length + 3;
    const d = digits(n);
    records.push({ key, value, length: digits(n + d) > d ? n + d + 1 : n + d });
  };
  for (const k of Object.keys(e.pax)) add(k, recordText(e.pax[k]!));
  for (const k of Object.keys(e.xattrs)) add(XATTR_PREFIX + k, e.xattrs[k]!);
  if (records.length === 0) return new Uint8Array(0);
  // A stable sort by the keys' UTF-8 bytes (for ASCII strings, their code units): of two
  // records with one key, the pax record stays first.
  if (records.length > 1) {
    if (ascii) records.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    else records.sort((a, b) => compareBytes(bytesOf(a.key), bytesOf(b.key)));
  }
  let size = 0;
  for (const r of records) size += r.length;
  const total = HEADER_BLOCK + Math.ceil(size / HEADER_BLOCK) * HEADER_BLOCK;
  const out =
    into && into.length >= total ? into.subarray(0, total).fill(0) : new Uint8Array(total);
  field(out, 0, 100, paxHeaderName(utf8Of(e.path)));
  octal(out, 100, 8, 0);
  octal(out, 108, 8, 0);
  octal(out, 116, 8, 0);
  octal(out, 124, 12, size);
  octal(out, 136, 12, 0);
  out[156] = 0x78; // 'x'
  out.set(USTAR_MAGIC_VERSION, 257);
  checksum(out);
  let at = HEADER_BLOCK;
  for (const r of records) {
    at = putDecimal(out, at, r.length);
    out[at++] = 0x20; // ' '
    at = put(out, at, r.key);
    out[at++] = 0x3d; // '='
    at = put(out, at, r.value);
    out[at++] = 0x0a;
  }
  return out;
}

/** The bytes of record text. */
function bytesOf(text: string | Uint8Array): Uint8Array {
  return typeof text === 'string' ? utf8.encode(text) : text;
}
