/**
 * Pure tar header codec: decode 512-byte header blocks, pax extended-header records and GNU
 * sparse maps, resolve them into a {@link TarEntry}, and encode new ustar/pax headers.
 * Nothing here knows about streams; the tokenizer wraps these functions.
 *
 * @module
 */

import { TarFormatError, TarLimitError, type TarLocation, UsageError } from '../errors.js';
import type { TarEntry, TarEntryKind, TarHeaderFormat, TarSparse, TarTime } from './types.js';

/** Size of a tar block in bytes. Headers are one block; bodies are padded to whole blocks. */
export const BLOCK_SIZE = 512;

// ignoreBOM: a name may begin with U+FEFF, and decoding must not drop it (GNU tar keeps it).
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** Typeflags of extension headers, which describe the entry that follows rather than being one. */
const PAX_LOCAL = new Set(['x', 'X']);
const PAX_GLOBAL = 'g';
const GNU_LONG_NAME = 'L';
const GNU_LONG_LINK = 'K';

/**
 * Returns the number of padding bytes that follow a body of `size` bytes to reach the next
 * block boundary.
 *
 * @param size - Body size in bytes.
 * @returns A number in `[0, 511]`.
 * @example
 * ```ts
 * paddingSize(1); // 511
 * paddingSize(1024); // 0
 * ```
 */
export function paddingSize(size: number): number {
  const rem = size % BLOCK_SIZE;
  return rem === 0 ? 0 : BLOCK_SIZE - rem;
}

/**
 * Tells whether a block consists only of zero bytes (an end-of-archive marker block).
 *
 * @param block - The block to check (usually 512 bytes).
 * @returns `true` when every byte is zero.
 */
export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * Computes a header block's checksum both ways tar implementations have done it: summing the
 * bytes as unsigned and as signed chars, with the checksum field (bytes 148–155) counted as
 * spaces.
 *
 * @param block - A 512-byte header block.
 * @returns Both sums.
 */
export function headerChecksums(block: Uint8Array): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += b;
    signed += b < 0x80 ? b : b - 0x100;
  }
  return { unsigned, signed };
}

function isOctalDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x37;
}

/**
 * Parses a numeric header field the way GNU tar does: either base-256 (GNU binary, high bit of
 * the first byte set; two's complement when the next bit is set too, so negative values are
 * allowed) or octal ASCII with optional leading spaces (and one leading NUL), terminated by a
 * space or NUL or by the end of the field. A field with no digits at all is 0.
 *
 * @param field - The raw field bytes.
 * @param location - Where the field is, for error messages (default `{ offset: 0 }`).
 * @param what - Name of the field, for error messages.
 * @returns The value (may be negative only for base-256 fields).
 * @throws {@link TarFormatError} on characters that are not octal digits.
 * @throws {@link TarLimitError} on values beyond `Number.MAX_SAFE_INTEGER`.
 * @example
 * ```ts
 * parseNumericField(new TextEncoder().encode('0000644\0'), { offset: 0 }, 'mode'); // 420
 * ```
 */
export function parseNumericField(
  field: Uint8Array,
  location: TarLocation = { offset: 0 },
  what = 'numeric field',
): number {
  return parseNumeric(field, 0, field.length, location, what);
}

/**
 * {@link parseNumericField} of the field `block[start, end)`, read in place: a header has a
 * dozen numeric fields, and a view of each was a tenth of what converting small files
 * allocated.
 */
function parseNumeric(
  block: Uint8Array,
  start: number,
  end: number,
  location: TarLocation,
  what: string,
): number {
  const first = block[start] ?? 0;
  if (first & 0x80) {
    const negative = (first & 0x40) !== 0;
    const inv = negative ? 0xff : 0;
    let x = 0;
    for (let i = start; i < end; i++) {
      let c = (block[i] ?? 0) ^ inv;
      if (i === start) c &= 0x7f;
      x = x * 256 + c;
      if (x > Number.MAX_SAFE_INTEGER) {
        throw new TarLimitError(`base-256 ${what} exceeds Number.MAX_SAFE_INTEGER`, location);
      }
    }
    if (negative && x === Number.MAX_SAFE_INTEGER) {
      throw new TarLimitError(`base-256 ${what} is below -(2^53-1)`, location);
    }
    return negative ? -x - 1 : x;
  }
  let i = start;
  const n = end;
  if (i < n && block[i] === 0) i++; // old tars wrote a leading NUL after an overflowed field
  while (i < n && block[i] === 0x20) i++;
  let x = 0;
  const digits = i;
  while (i < n && isOctalDigit(block[i]!)) {
    x = x * 8 + (block[i]! - 0x30);
    i++;
  }
  if (i < n && block[i] !== 0 && block[i] !== 0x20) {
    const text = JSON.stringify(String.fromCharCode(...block.subarray(start, end)));
    throw new TarFormatError(`invalid octal ${what} ${text}`, location);
  }
  if (i - digits > 0 && x > Number.MAX_SAFE_INTEGER) {
    throw new TarLimitError(`octal ${what} exceeds Number.MAX_SAFE_INTEGER`, location);
  }
  return x;
}

/** The ustar magic (`"ustar\0"`), and GNU's magic and version (`"ustar  \0"`), at byte 257. */
const USTAR_MAGIC = [0x75, 0x73, 0x74, 0x61, 0x72, 0x00];
const GNU_MAGIC = [0x75, 0x73, 0x74, 0x61, 0x72, 0x20, 0x20, 0x00];

/** The numeric fields that may not be negative (base-256 can encode negative anything). */
const UNSIGNED_FIELDS = ['size', 'mode', 'uid', 'gid', 'devmajor', 'devminor'] as const;

/** Whether `block` holds `bytes` at `at`. */
function bytesAre(block: Uint8Array, at: number, bytes: readonly number[]): boolean {
  for (let i = 0; i < bytes.length; i++) if (block[at + i] !== bytes[i]) return false;
  return true;
}

/** The bytes of a NUL-terminated (or field-filling) string field. */
function cString(block: Uint8Array, start: number, len: number): Uint8Array {
  let end = start;
  while (end < start + len && block[end] !== 0) end++;
  return block.subarray(start, end);
}

/** Decodes header text as UTF-8; bytes that are not UTF-8 become U+FFFD (raw bytes are kept in `raw`). */
function text(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Whether `bytes`, which {@link text} decoded to `decoded`, are UTF-8: text without U+FFFD
 * always came from UTF-8; text with it came from UTF-8 only if it was there to begin with.
 */
function isUtf8(decoded: string, bytes: Uint8Array): boolean {
  if (!decoded.includes('\uFFFD')) return true;
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** The fields of one header block, decoded but not yet combined with any extension header. */
export interface TarHeaderBlock {
  /** Name field; for ustar headers the prefix and name joined with `/`. */
  name: string;
  mode: number;
  uid: number;
  gid: number;
  /** The size field as written (for extension headers: the size of their data). */
  size: number;
  mtime: number;
  /** The raw typeflag character (`'\0'` when the byte is zero). */
  typeflag: string;
  linkname: string;
  format: TarHeaderFormat;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** GNU headers only: access time, when the field is set. */
  atime?: number;
  /** GNU headers only: change time, when the field is set. */
  ctime?: number;
  /** Set when the name field's bytes are not UTF-8 (`name` holds U+FFFD in their place). */
  nameNotUtf8?: true;
  /** Set when the link name field's bytes are not UTF-8. */
  linkNotUtf8?: true;
  /** Old GNU sparse (typeflag `S`): the map entries in this block, the extension flag, the real size. */
  gnuSparse?: { map: Array<[number, number]>; isExtended: boolean; realSize: number };
}

/**
 * Decodes one 512-byte header block: verifies the checksum (accepting unsigned or signed sums),
 * detects the format from magic and version, and parses every field.
 *
 * @param block - Exactly 512 bytes, not all zero (check {@link isZeroBlock} first).
 * @param offset - Byte offset of the block in the tar, for error messages.
 * @default offset 0
 * @returns The decoded fields.
 * @throws {@link TarFormatError} on a bad checksum or a malformed numeric field.
 * @throws {@link TarLimitError} on a number beyond `Number.MAX_SAFE_INTEGER`.
 */
export function decodeHeaderBlock(block: Uint8Array, offset = 0): TarHeaderBlock {
  if (block.length !== BLOCK_SIZE) {
    throw new TarFormatError(`header block is ${block.length} bytes, not ${BLOCK_SIZE}`, {
      offset,
    });
  }
  const loc: TarLocation = { offset };
  const stored = parseNumeric(block, 148, 156, loc, 'checksum');
  const sums = headerChecksums(block);
  if (stored !== sums.unsigned && stored !== sums.signed) {
    throw new TarFormatError(
      `header checksum mismatch (stored ${stored}, computed ${sums.unsigned})`,
      loc,
    );
  }

  let format: TarHeaderFormat = 'v7';
  if (bytesAre(block, 257, USTAR_MAGIC)) format = 'ustar';
  else if (bytesAre(block, 257, GNU_MAGIC)) format = 'gnu';

  let nameBytes = cString(block, 0, 100);
  if (format === 'ustar') {
    // star puts atime/ctime after a 131-byte prefix and marks it with "tar\0" at 508.
    const isStar =
      block[508] === 0x74 && block[509] === 0x61 && block[510] === 0x72 && block[511] === 0;
    const prefix = cString(block, 345, isStar ? 131 : 155);
    if (prefix.length > 0) {
      const joined = new Uint8Array(prefix.length + 1 + nameBytes.length);
      joined.set(prefix);
      joined[prefix.length] = 0x2f;
      joined.set(nameBytes, prefix.length + 1);
      nameBytes = joined;
    }
  }
  const name = text(nameBytes);
  const linkBytes = cString(block, 157, 100);
  const at: TarLocation = { offset, path: name };
  const num = (start: number, len: number, what: string) =>
    parseNumeric(block, start, start + len, at, what);

  const flagByte = block[156] ?? 0;
  const header: TarHeaderBlock = {
    name,
    mode: num(100, 8, 'mode'),
    uid: num(108, 8, 'uid'),
    gid: num(116, 8, 'gid'),
    size: num(124, 12, 'size'),
    mtime: num(136, 12, 'mtime'),
    typeflag: String.fromCharCode(flagByte),
    linkname: text(linkBytes),
    format,
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
  };
  if (!isUtf8(name, nameBytes)) header.nameNotUtf8 = true;
  if (!isUtf8(header.linkname, linkBytes)) header.linkNotUtf8 = true;
  if (format !== 'v7') {
    header.uname = text(cString(block, 265, 32));
    header.gname = text(cString(block, 297, 32));
    header.devmajor = num(329, 8, 'devmajor');
    header.devminor = num(337, 8, 'devminor');
  }
  // Only times may be negative.
  for (let i = 0; i < UNSIGNED_FIELDS.length; i++) {
    const field = UNSIGNED_FIELDS[i]!;
    if (header[field] < 0) throw new TarFormatError(`negative ${field} ${header[field]}`, at);
  }
  if (format === 'gnu') {
    try {
      if (block[345] !== 0) header.atime = num(345, 12, 'atime');
      if (block[357] !== 0) header.ctime = num(357, 12, 'ctime');
    } catch (err) {
      if (!(err instanceof TarFormatError || err instanceof TarLimitError)) throw err;
      // Go before 1.8 wrote a ustar prefix here under the GNU magic (golang.org/issue/12594),
      // in layers old Docker builds still serve. Go, which unpacks them, reads such bytes as
      // the prefix when they are not times; so does this. (GNU tar ignores them.)
      delete header.atime;
      delete header.ctime;
      const prefix = cString(block, 345, 155);
      if (prefix.length > 0 && prefix.every((b) => b < 0x80)) {
        header.name = `${text(prefix)}/${name}`;
      }
    }
    if (header.typeflag === 'S') {
      const map: Array<[number, number]> = [];
      readSparseEntries(block, 386, 4, map, at);
      header.gnuSparse = {
        map,
        isExtended: block[482] !== 0,
        realSize: num(483, 12, 'realsize'),
      };
      if (header.gnuSparse.realSize < 0) {
        throw new TarFormatError(`negative realsize ${header.gnuSparse.realSize}`, at);
      }
    }
  }
  return header;
}

/**
 * Reads up to `count` 24-byte sparse entries, stopping at the first whose offset field starts
 * with NUL (as Go and libarchive do). The `isextended` flag is honoured whether or not the list
 * stopped early (Go, libarchive and Python do; GNU tar would ignore it, but never writes that).
 */
function readSparseEntries(
  block: Uint8Array,
  start: number,
  count: number,
  map: Array<[number, number]>,
  loc: TarLocation,
): void {
  for (let i = 0; i < count; i++) {
    const p = start + i * 24;
    if (block[p] === 0) return;
    const off = parseNumeric(block, p, p + 12, loc, 'sparse offset');
    const len = parseNumeric(block, p + 12, p + 24, loc, 'sparse numbytes');
    if (off < 0 || len < 0) throw new TarFormatError('negative sparse map entry', loc);
    map.push([off, len]);
  }
}

/**
 * Decodes one old-GNU sparse extension block (21 entries of offset/numbytes, then the
 * `isextended` flag at byte 504).
 *
 * @param block - A 512-byte block following a typeflag `S` header whose `isextended` flag is set.
 * @param location - Where the block is, for error messages.
 * @returns The map entries in the block and whether another extension block follows.
 * @throws {@link TarFormatError} on a malformed number.
 */
export function decodeGnuSparseBlock(
  block: Uint8Array,
  location: TarLocation = { offset: 0 },
): { map: Array<[number, number]>; isExtended: boolean } {
  const map: Array<[number, number]> = [];
  readSparseEntries(block, 0, 21, map, location);
  return { map, isExtended: block[504] !== 0 };
}

/** One `"%d %s=%s\n"` record of a pax extended header. */
export interface PaxRecord {
  /** The keyword, decoded as UTF-8. */
  key: string;
  /** The value as raw bytes (usually UTF-8 text; `SCHILY.xattr.*` values are binary). */
  value: Uint8Array;
}

/**
 * Parses the data of a pax extended header (typeflag `x` or `g`) into records, strictly: each
 * record's length must be decimal, must match the record, the record must end in a newline and
 * its keyword must be non-empty. No bytes may follow the last record.
 *
 * @param data - The header's data, exactly `size` bytes (without block padding).
 * @param location - Where the pax header is, for error messages.
 * @returns The records in order (repeated keys are kept, as GNU sparse 0.0 needs).
 * @throws {@link TarFormatError} on any malformed record.
 * @example
 * ```ts
 * parsePaxRecords(new TextEncoder().encode('11 path=a\n')); // [{ key: 'path', value: Uint8Array [0x61] }]
 * ```
 */
export function parsePaxRecords(
  data: Uint8Array,
  location: TarLocation = { offset: 0 },
): PaxRecord[] {
  const records: PaxRecord[] = [];
  let i = 0;
  while (i < data.length) {
    // NUL padding after the last record ends them, as for GNU tar and Python's tarfile.
    if (data[i] === 0 && data.subarray(i).every((b) => b === 0)) break;
    let j = i;
    let len = 0;
    while (j < data.length && data[j]! >= 0x30 && data[j]! <= 0x39 && j - i < 16) {
      len = len * 10 + (data[j]! - 0x30);
      j++;
    }
    const at = `pax record at data offset ${i}:`;
    if (j === i) throw new TarFormatError(`${at} length is not a decimal number`, location);
    if (data[j] !== 0x20) throw new TarFormatError(`${at} no space after length`, location);
    if (len < j - i + 4) throw new TarFormatError(`${at} length ${len} is too small`, location);
    if (i + len > data.length) {
      throw new TarFormatError(`${at} length ${len} runs past the header data`, location);
    }
    const end = i + len - 1;
    if (data[end] !== 0x0a) {
      throw new TarFormatError(`${at} length ${len} does not end at a newline`, location);
    }
    const kv = data.subarray(j + 1, end);
    const eq = kv.indexOf(0x3d);
    if (eq === -1) throw new TarFormatError(`${at} missing '='`, location);
    if (eq === 0) throw new TarFormatError(`${at} empty keyword`, location);
    records.push({ key: text(kv.subarray(0, eq)), value: kv.slice(eq + 1) });
    i += len;
  }
  return records;
}

/**
 * Encodes pax records as `"%d %s=%s\n"` lines.
 *
 * @param records - Keyword/value pairs, in the order to write them.
 * @returns The pax header data (not padded).
 */
export function encodePaxRecords(
  records: ReadonlyArray<readonly [string, string | Uint8Array]>,
): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const [key, value] of records) {
    const k = utf8Encoder.encode(key);
    const v = typeof value === 'string' ? utf8Encoder.encode(value) : value;
    const body = k.length + v.length + 3; // space, '=', newline
    let len = body + 1;
    while (String(len).length + body !== len) len = String(len).length + body;
    const rec = new Uint8Array(len);
    const head = utf8Encoder.encode(`${len} `);
    rec.set(head);
    rec.set(k, head.length);
    rec[head.length + k.length] = 0x3d;
    rec.set(v, head.length + k.length + 1);
    rec[len - 1] = 0x0a;
    parts.push(rec);
    total += len;
  }
  return concatBytes(parts, total);
}

/**
 * Joins byte arrays (returns the only one as it is).
 * @param parts - the arrays.
 * @param total - their total length, when known.
 * @param alloc - makes the array they are joined in. @default a new `Uint8Array`
 */
export function concatBytes(
  parts: readonly Uint8Array[],
  total?: number,
  alloc: (n: number) => Uint8Array = (n) => new Uint8Array(n),
): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = alloc(total ?? parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Tells whether a typeflag denotes a header-only entry, one that never has body bytes whatever
 * its size field says. Same set as Go's `archive/tar`: hard links, symlinks, character and block
 * devices, directories and FIFOs.
 *
 * @param typeflag - The raw typeflag character.
 * @returns `true` for `'1'`–`'6'`.
 */
export function isHeaderOnlyType(typeflag: string): boolean {
  return typeflag >= '1' && typeflag <= '6' && typeflag.length === 1;
}

/**
 * Tells whether a typeflag is an extension header that describes the next entry
 * (pax `x`, Solaris `X`, pax global `g`, GNU long name `L`, GNU long link `K`).
 *
 * @param typeflag - The raw typeflag character.
 * @returns `true` for extension headers.
 */
export function isExtensionType(typeflag: string): boolean {
  return (
    PAX_LOCAL.has(typeflag) ||
    typeflag === PAX_GLOBAL ||
    typeflag === GNU_LONG_NAME ||
    typeflag === GNU_LONG_LINK
  );
}

/**
 * Maps a typeflag to an entry kind. `'\0'` (old regular file) with a path ending in `/` is a
 * directory, as Go's `archive/tar` and Python's `tarfile` read it; `'0'` stays a file.
 *
 * @param typeflag - The raw typeflag character.
 * @param path - The entry path (used only for the old `'\0'` directory convention).
 * @returns The kind.
 */
export function entryKind(typeflag: string, path: string): TarEntryKind {
  switch (typeflag) {
    case '\0':
      return path.endsWith('/') ? 'directory' : 'file';
    case '0':
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'char';
    case '4':
      return 'block';
    case '5':
      return 'directory';
    case '6':
      return 'fifo';
    case '7':
      return 'contiguous';
    case 'S':
      return 'gnu-sparse';
    default:
      return 'other';
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function parsePaxInt(key: string, value: string, loc: TarLocation): number {
  if (!/^[0-9]+$/.test(value)) {
    throw new TarFormatError(`pax ${key} ${JSON.stringify(value)} is not a decimal integer`, loc);
  }
  const n = Number(value);
  if (n > MAX_SAFE) throw new TarLimitError(`pax ${key} ${value} exceeds 2^53-1`, loc);
  return n;
}

/**
 * Parses a pax time value (`[-]seconds[.fraction]`) into whole seconds and nanoseconds, with
 * `nsec` in `[0, 1e9)`: `-1.5` becomes `{ sec: -2, nsec: 500000000 }`. Digits after the ninth
 * fractional digit are dropped.
 *
 * @param value - The pax value text.
 * @param location - Where the pax header is, for error messages.
 * @returns The time.
 * @throws {@link TarFormatError} when the text is not a decimal time.
 */
export function parsePaxTime(value: string, location: TarLocation = { offset: 0 }): TarTime {
  const m = /^([-+]?)([0-9]+)(?:\.([0-9]*))?$/.exec(value);
  if (!m) throw new TarFormatError(`pax time ${JSON.stringify(value)} is not decimal`, location);
  const whole = Number(m[2]);
  if (whole > MAX_SAFE) throw new TarLimitError(`pax time ${value} exceeds 2^53-1`, location);
  const nsec = Number(((m[3] ?? '') + '000000000').slice(0, 9));
  if (m[1] !== '-') return { sec: whole, nsec };
  if (nsec === 0) return { sec: -whole, nsec: 0 };
  if (whole === MAX_SAFE) throw new TarLimitError(`pax time ${value} is below -(2^53-1)`, location);
  return { sec: -whole - 1, nsec: 1e9 - nsec };
}

/**
 * Formats a time as a pax decimal value, the inverse of {@link parsePaxTime}.
 *
 * @param time - The time (`nsec` in `[0, 1e9)`).
 * @returns Text such as `"1700000000.25"` or `"-0.5"`.
 */
export function formatPaxTime(time: TarTime): string {
  const { sec, nsec } = time;
  const frac = (n: number) => String(n).padStart(9, '0').replace(/0+$/, '');
  if (nsec === 0) return String(sec);
  if (sec >= 0) return `${sec}.${frac(nsec)}`;
  // sec + nsec/1e9 with sec < 0 is -((-sec - 1) + (1e9 - nsec)/1e9).
  return `-${-sec - 1}.${frac(1e9 - nsec)}`;
}

function base64Decode(s: string, loc: TarLocation): Uint8Array {
  const clean = s.replace(/=+$/, '');
  if (!/^[A-Za-z0-9+/_-]*$/.test(clean) || clean.length % 4 === 1) {
    throw new TarFormatError(`LIBARCHIVE.xattr value is not base64`, loc);
  }
  const val = (c: number) =>
    c >= 65 && c <= 90
      ? c - 65
      : c >= 97 && c <= 122
        ? c - 71
        : c >= 48 && c <= 57
          ? c + 4
          : c === 43 || c === 45
            ? 62
            : 63;
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < clean.length; i++) {
    acc = ((acc << 6) | val(clean.charCodeAt(i))) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

function urlDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  // defineProperty, so that a "__proto__" keyword cannot change the object's prototype.
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Extension data gathered before a main header, input to {@link resolveEntry}. */
export interface TarExtensions {
  /** Global pax records in effect (from every earlier `g` header), keyword → value. */
  globalPax?: ReadonlyMap<string, Uint8Array>;
  /** The same values as text, when the caller has them decoded already (they are not decoded again). */
  globalText?: ReadonlyMap<string, string>;
  /** Records of the local pax header(s) (`x`) for this entry, in order. */
  localPax?: readonly PaxRecord[];
  /** GNU long name (`L`) data up to its first NUL. */
  longName?: Uint8Array;
  /** GNU long link name (`K`) data up to its first NUL. */
  longLink?: Uint8Array;
  /** Old GNU sparse map entries from extension blocks after a typeflag `S` header. */
  gnuSparseExtra?: ReadonlyArray<[number, number]>;
}

/** A pax keyword that carries an xattr (`SCHILY.xattr.<name>`, `LIBARCHIVE.xattr.<name>`). */
const XATTR_KEY = /^(SCHILY|LIBARCHIVE)\.xattr\./;

/**
 * Applies a pax global record set to a running global state: records with an empty value
 * delete the keyword, others set it.
 *
 * @param globals - The state to update in place.
 * @param records - Records of one `g` header.
 */
export function applyGlobalPax(
  globals: Map<string, Uint8Array>,
  records: readonly PaxRecord[],
): void {
  for (const r of records) {
    if (r.value.length === 0) globals.delete(r.key);
    else globals.set(r.key, r.value);
  }
}

/**
 * Combines a main header block with the extension data before it into the effective entry:
 * pax records (global, then local; an empty local value deletes, except that an empty
 * `SCHILY.xattr.*` or `LIBARCHIVE.xattr.*` value is an empty xattr, as GNU tar and libarchive
 * read it), GNU long names, xattrs and
 * sparse maps. Pax `path` wins over a GNU long name, which wins over the header name;
 * `GNU.sparse.name` wins over all.
 *
 * @param header - The decoded main header block.
 * @param ext - Extension data that preceded it.
 * @param offset - Byte offset of the entry's first header byte, for error messages.
 * @returns The entry.
 * @throws {@link TarFormatError} on malformed pax values.
 * @throws {@link TarLimitError} on pax numbers beyond `Number.MAX_SAFE_INTEGER`.
 */
export function resolveEntry(
  header: TarHeaderBlock,
  ext: TarExtensions = {},
  offset = 0,
): TarEntry {
  const eff = new Map<string, Uint8Array>(ext.globalPax ?? []);
  for (const r of ext.localPax ?? []) {
    if (r.value.length === 0 && !XATTR_KEY.test(r.key)) eff.delete(r.key);
    else eff.set(r.key, r.value);
  }

  let path = ext.longName ? text(ext.longName) : header.name;
  let linkname = ext.longLink ? text(ext.longLink) : header.linkname;
  let pathUtf8 = ext.longName ? isUtf8(path, ext.longName) : !header.nameNotUtf8;
  let linkUtf8 = ext.longLink ? isUtf8(linkname, ext.longLink) : !header.linkNotUtf8;
  const loc: TarLocation = { offset, path };
  const entry: TarEntry = {
    path,
    typeflag: header.typeflag,
    kind: 'other',
    format: header.format,
    mode: header.mode,
    uid: header.uid,
    gid: header.gid,
    uname: header.uname,
    gname: header.gname,
    mtime: { sec: header.mtime, nsec: 0 },
    size: header.size,
    bodySize: 0,
    linkname,
    devmajor: header.devmajor,
    devminor: header.devminor,
    pax: {},
    xattrs: {},
  };
  if (header.atime !== undefined) entry.atime = { sec: header.atime, nsec: 0 };
  if (header.ctime !== undefined) entry.ctime = { sec: header.ctime, nsec: 0 };

  let sparseName: string | undefined;
  let sparseNameUtf8 = true;
  for (const [key, raw] of eff) {
    const global = raw === ext.globalPax?.get(key);
    const value = (global ? ext.globalText?.get(key) : undefined) ?? text(raw);
    setOwn(entry.pax, key, value);
    switch (key) {
      case 'path':
        path = value;
        pathUtf8 = isUtf8(value, raw);
        break;
      case 'linkpath':
        linkname = value;
        linkUtf8 = isUtf8(value, raw);
        break;
      case 'size':
        entry.size = parsePaxInt(key, value, loc);
        break;
      case 'uid':
        entry.uid = parsePaxInt(key, value, loc);
        break;
      case 'gid':
        entry.gid = parsePaxInt(key, value, loc);
        break;
      case 'uname':
        entry.uname = value;
        break;
      case 'gname':
        entry.gname = value;
        break;
      case 'mtime':
        entry.mtime = parsePaxTime(value, loc);
        break;
      case 'atime':
        entry.atime = parsePaxTime(value, loc);
        break;
      case 'ctime':
        entry.ctime = parsePaxTime(value, loc);
        break;
      case 'SCHILY.devmajor':
        entry.devmajor = parsePaxInt(key, value, loc);
        break;
      case 'SCHILY.devminor':
        entry.devminor = parsePaxInt(key, value, loc);
        break;
      case 'GNU.sparse.name':
        sparseName = value;
        sparseNameUtf8 = isUtf8(value, raw);
        break;
      default:
        if (key.startsWith('SCHILY.xattr.')) {
          // A global value is shared by every entry (its map owns it); a local one is copied
          // out of the header's buffer.
          setOwn(entry.xattrs, key.slice(13), global ? raw : raw.slice());
        } else if (key.startsWith('LIBARCHIVE.xattr.')) {
          setOwn(entry.xattrs, urlDecode(key.slice(17)), base64Decode(value, loc));
        }
    }
  }
  entry.path = sparseName ?? path;
  entry.linkname = linkname;
  entry.kind = entryKind(header.typeflag, entry.path);
  const isLink = entry.kind === 'symlink' || entry.kind === 'hardlink';
  if (!(sparseName === undefined ? pathUtf8 : sparseNameUtf8) || (isLink && !linkUtf8)) {
    entry.nameNotUtf8 = true;
  }
  entry.bodySize = isHeaderOnlyType(header.typeflag) ? 0 : entry.size;

  const sparse = resolveSparse(header, ext, eff, { offset, path: entry.path });
  if (sparse) entry.sparse = sparse;
  return entry;
}

function resolveSparse(
  header: TarHeaderBlock,
  ext: TarExtensions,
  eff: Map<string, Uint8Array>,
  loc: TarLocation,
): TarSparse | undefined {
  if (header.gnuSparse) {
    return {
      format: 'gnu-old',
      realSize: header.gnuSparse.realSize,
      map: [...header.gnuSparse.map, ...(ext.gnuSparseExtra ?? [])],
    };
  }
  const get = (k: string) => {
    const v = eff.get(k);
    return v === undefined ? undefined : text(v);
  };
  const int = (k: string) => {
    const v = get(k);
    return v === undefined ? undefined : parsePaxInt(k, v, loc);
  };
  if (get('GNU.sparse.major') === '1' && get('GNU.sparse.minor') === '0') {
    const realSize = int('GNU.sparse.realsize') ?? int('GNU.sparse.size');
    if (realSize === undefined) throw new TarFormatError('pax sparse 1.0 without realsize', loc);
    return { format: 'pax-1.0', realSize };
  }
  const mapText = get('GNU.sparse.map');
  if (mapText !== undefined) {
    const nums = mapText === '' ? [] : mapText.split(',').map((s) => parsePaxInt('map', s, loc));
    if (nums.length % 2 !== 0) throw new TarFormatError('GNU.sparse.map has odd length', loc);
    const map: Array<[number, number]> = [];
    for (let i = 0; i < nums.length; i += 2) map.push([nums[i]!, nums[i + 1]!]);
    const realSize = int('GNU.sparse.size') ?? int('GNU.sparse.realsize') ?? 0;
    return { format: 'pax-0.1', realSize, map };
  }
  const local = ext.localPax ?? [];
  if (local.some((r) => r.key === 'GNU.sparse.offset')) {
    const map: Array<[number, number]> = [];
    let pending: number | undefined;
    for (const r of local) {
      if (r.key === 'GNU.sparse.offset') {
        pending = parsePaxInt(r.key, text(r.value), loc);
      } else if (r.key === 'GNU.sparse.numbytes') {
        if (pending === undefined) {
          throw new TarFormatError('GNU.sparse.numbytes without GNU.sparse.offset', loc);
        }
        map.push([pending, parsePaxInt(r.key, text(r.value), loc)]);
        pending = undefined;
      }
    }
    const realSize = int('GNU.sparse.size') ?? int('GNU.sparse.realsize') ?? 0;
    return { format: 'pax-0.0', realSize, map };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Encoder

/** Fields for {@link encodeHeader}. A decoded {@link TarEntry} is accepted as it is. */
export interface TarHeaderInput {
  path: string;
  /** The typeflag to write; wins over `kind`. */
  typeflag?: string;
  /** Used to pick the typeflag when `typeflag` is absent. @default 'file' */
  kind?: TarEntryKind;
  /** @default 0o644 */
  mode?: number;
  /** @default 0 */
  uid?: number;
  /** @default 0 */
  gid?: number;
  /** @default '' */
  uname?: string;
  /** @default '' */
  gname?: string;
  /** Seconds, or a time with nanoseconds. @default 0 */
  mtime?: number | TarTime;
  /** Written as pax `atime` when given. */
  atime?: number | TarTime;
  /** Written as pax `ctime` when given. */
  ctime?: number | TarTime;
  /** Body size in bytes (write 0 for header-only kinds). @default 0 */
  size?: number;
  /** @default '' */
  linkname?: string;
  /** @default 0 */
  devmajor?: number;
  /** @default 0 */
  devminor?: number;
  /** Written as `SCHILY.xattr.<name>` pax records. */
  xattrs?: Record<string, Uint8Array>;
  /**
   * Extra pax records, written as given after the ones the encoder computes. Keywords the
   * encoder derives from the fields above (`path`, `linkpath`, `size`, `uid`, `gid`, `uname`,
   * `gname`, `mtime`, `atime`, `ctime`, and every `*.xattr.*`) are ignored here.
   */
  pax?: Record<string, string>;
}

const KIND_FLAGS: Partial<Record<TarEntryKind, string>> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  directory: '5',
  fifo: '6',
  contiguous: '7',
};

const COMPUTED_KEYS = new Set([
  'path',
  'linkpath',
  'size',
  'uid',
  'gid',
  'uname',
  'gname',
  'mtime',
  'atime',
  'ctime',
]);

function isAscii(s: string): boolean {
  return /^[\x01-\x7f]*$/.test(s);
}

function toTime(t: number | TarTime): TarTime {
  if (typeof t !== 'number') return t;
  const sec = Math.floor(t);
  return { sec, nsec: Math.round((t - sec) * 1e9) % 1e9 };
}

/** Writes `value` as zero-padded octal with a trailing NUL; returns false if it does not fit. */
function putOctal(block: Uint8Array, start: number, len: number, value: number): boolean {
  if (!Number.isInteger(value) || value < 0 || value >= 8 ** (len - 1)) return false;
  const s = value.toString(8).padStart(len - 1, '0');
  for (let i = 0; i < s.length; i++) block[start + i] = s.charCodeAt(i);
  block[start + len - 1] = 0;
  return true;
}

function putString(block: Uint8Array, start: number, len: number, s: string): void {
  const b = utf8Encoder.encode(s);
  block.set(b.subarray(0, len), start);
}

function finishHeader(block: Uint8Array): Uint8Array {
  block.fill(0x20, 148, 156);
  const { unsigned } = headerChecksums(block);
  const s = unsigned.toString(8).padStart(6, '0');
  for (let i = 0; i < 6; i++) block[148 + i] = s.charCodeAt(i);
  block[154] = 0;
  block[155] = 0x20;
  return block;
}

function ustarBlock(): Uint8Array {
  const block = new Uint8Array(BLOCK_SIZE);
  putString(block, 257, 6, 'ustar\0');
  putString(block, 263, 2, '00');
  return block;
}

/** Splits an ASCII path into ustar prefix and name, or returns undefined if it cannot fit. */
function splitUstarPath(path: string): [string, string] | undefined {
  if (path.length <= 100) return ['', path];
  if (path.length > 256) return undefined;
  for (let i = Math.max(path.length - 101, 1); i <= Math.min(155, path.length - 2); i++) {
    if (path[i] === '/') return [path.slice(0, i), path.slice(i + 1)];
  }
  return undefined;
}

/**
 * Encodes the header bytes of one entry for a new plain tar: a ustar header block, preceded
 * by a pax `x` header (block, records, padding) when a field does not fit ustar: paths and link
 * names that are long or non-ASCII, user/group names over 32 bytes or non-ASCII, uid/gid/size/
 * mtime out of octal range, negative or sub-second mtime, atime/ctime, xattrs, extra pax records.
 * The caller writes the body after it, then {@link paddingSize} zero bytes; after the last
 * entry, two zero blocks.
 *
 * @param input - The entry's fields.
 * @returns The header bytes, a multiple of 512 long.
 * @throws {@link UsageError} on values no tar header can carry (mode or device numbers out of
 *   octal range, negative numbers, an xattr name containing `=`, a kind without a typeflag).
 * @example
 * ```ts
 * const body = new TextEncoder().encode('hello\n');
 * const tar = [
 *   encodeHeader({ path: 'hello.txt', size: body.length, mtime: 1700000000 }),
 *   body,
 *   new Uint8Array(paddingSize(body.length)),
 *   new Uint8Array(1024),
 * ];
 * ```
 */
export function encodeHeader(input: TarHeaderInput): Uint8Array {
  const typeflag = input.typeflag ?? KIND_FLAGS[input.kind ?? 'file'];
  if (typeflag === undefined || typeflag.length !== 1) {
    throw new UsageError(`encodeHeader: no typeflag for kind ${input.kind}`);
  }
  const block = ustarBlock();
  const pax: Array<[string, string | Uint8Array]> = [];

  const path = input.path;
  const split = isAscii(path) ? splitUstarPath(path) : undefined;
  if (split) {
    putString(block, 345, 155, split[0]);
    putString(block, 0, 100, split[1]);
  } else {
    pax.push(['path', path]);
    putString(block, 0, 100, path.replace(/[^\x01-\x7f]/g, '_').slice(0, 100));
  }
  const linkname = input.linkname ?? '';
  if (linkname.length > 100 || !isAscii(linkname)) {
    pax.push(['linkpath', linkname]);
    putString(block, 157, 100, linkname.replace(/[^\x01-\x7f]/g, '_').slice(0, 100));
  } else {
    putString(block, 157, 100, linkname);
  }

  const need = (what: string, ok: boolean) => {
    if (!ok) throw new UsageError(`encodeHeader: ${what} out of range for ${path}`);
  };
  need('mode', putOctal(block, 100, 8, input.mode ?? 0o644));
  need('devmajor', putOctal(block, 329, 8, input.devmajor ?? 0));
  need('devminor', putOctal(block, 337, 8, input.devminor ?? 0));
  for (const [key, start, len] of [
    ['uid', 108, 8],
    ['gid', 116, 8],
    ['size', 124, 12],
  ] as const) {
    const v = input[key] ?? 0;
    need(key, Number.isSafeInteger(v) && v >= 0);
    if (!putOctal(block, start, len, v)) {
      pax.push([key, String(v)]);
      putOctal(block, start, len, 0);
    }
  }
  const mtime = toTime(input.mtime ?? 0);
  if (mtime.nsec !== 0 || !putOctal(block, 136, 12, mtime.sec)) {
    pax.push(['mtime', formatPaxTime(mtime)]);
    putOctal(block, 136, 12, Math.min(Math.max(mtime.sec, 0), 8 ** 11 - 1));
  }
  if (input.atime !== undefined) pax.push(['atime', formatPaxTime(toTime(input.atime))]);
  if (input.ctime !== undefined) pax.push(['ctime', formatPaxTime(toTime(input.ctime))]);
  for (const [key, start] of [
    ['uname', 265],
    ['gname', 297],
  ] as const) {
    const v = input[key] ?? '';
    if (utf8Encoder.encode(v).length > 32 || !isAscii(v)) pax.push([key, v]);
    else putString(block, start, 32, v);
  }
  block[156] = typeflag.charCodeAt(0);

  for (const [name, value] of Object.entries(input.xattrs ?? {})) {
    if (name.includes('=')) throw new UsageError(`encodeHeader: xattr name ${name} contains '='`);
    pax.push([`SCHILY.xattr.${name}`, value]);
  }
  for (const [key, value] of Object.entries(input.pax ?? {})) {
    if (COMPUTED_KEYS.has(key) || /^[A-Z]+\.xattr\./.test(key)) continue;
    if (key === '' || key.includes('=')) throw new UsageError(`encodeHeader: bad pax key ${key}`);
    pax.push([key, value]);
  }
  finishHeader(block);
  if (pax.length === 0) return block;

  const data = encodePaxRecords(pax);
  const xh = ustarBlock();
  const base = path.replace(/\/+$/, '').split('/').pop() ?? '';
  putString(xh, 0, 100, `PaxHeaders.0/${base.replace(/[^\x01-\x7f]/g, '_')}`.slice(0, 99));
  putOctal(xh, 100, 8, 0o644);
  putOctal(xh, 108, 8, 0);
  putOctal(xh, 116, 8, 0);
  need('pax data', putOctal(xh, 124, 12, data.length));
  block.subarray(136, 148).forEach((b, i) => {
    xh[136 + i] = b;
  });
  xh[156] = 0x78; // 'x'
  finishHeader(xh);
  const out = new Uint8Array(BLOCK_SIZE * 2 + data.length + paddingSize(data.length));
  out.set(xh);
  out.set(data, BLOCK_SIZE);
  out.set(block, out.length - BLOCK_SIZE);
  return out;
}
