/**
 * The header template of index format version 2 (`docs/FORMAT.md` §3.9): the ustar header
 * block an entry record's metadata implies, laid out as Go's `archive/tar` writes a USTAR
 * header (and as the library's own tar encoder does for a plain entry). A version 2 record
 * keeps only the bytes where the entry's real header block differs from this template.
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
 * Writes `value` at `at` as `width - 1` zero-padded octal digits and a NUL; leaves the field
 * zero when the value is not an integer in `[0, 8^(width-1))`.
 */
function octal(block: Uint8Array, at: number, width: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 8 ** (width - 1)) return;
  const digits = value.toString(8);
  const pad = width - 1 - digits.length;
  for (let i = 0; i < pad; i++) block[at + i] = 0x30;
  for (let i = 0; i < digits.length; i++) block[at + pad + i] = digits.charCodeAt(i);
}

/** Copies at most `width` bytes of `bytes` to `at`. */
function field(block: Uint8Array, at: number, width: number, bytes: Uint8Array): void {
  block.set(bytes.length > width ? bytes.subarray(0, width) : bytes, at);
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
 * @returns a new 512-byte block.
 */
export function headerTemplate(e: EntryMeta): Uint8Array {
  const block = new Uint8Array(HEADER_BLOCK);
  const path = utf8.encode(e.path);
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
  field(block, 157, 100, utf8.encode(e.linkname));
  // "ustar\0" "00"
  block.set([0x75, 0x73, 0x74, 0x61, 0x72, 0x00, 0x30, 0x30], 257);
  field(block, 265, 32, utf8.encode(e.uname));
  field(block, 297, 32, utf8.encode(e.gname));
  octal(block, 329, 8, e.devmajor);
  octal(block, 337, 8, e.devminor);
  // The checksum: the sum of the bytes with its own field counted as spaces, as six octal
  // digits, a NUL and a space.
  let sum = 8 * 0x20;
  for (let i = 0; i < HEADER_BLOCK; i++) sum += block[i]!;
  octal(block, 148, 7, sum);
  block[155] = 0x20;
  return block;
}
