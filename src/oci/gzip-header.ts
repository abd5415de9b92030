/**
 * The gzip member header (RFC 1952 §2.3) and trailer, pure: parsing a header to learn its
 * length and the fields a compressor wrote, and CRC-32 for the trailer.
 *
 * @module
 */

/** A parsed gzip member header. */
export interface GzipHeader {
  /** Bytes of the header, up to the first deflate byte. */
  length: number;
  /** FLG. */
  flags: number;
  /** MTIME, seconds. */
  mtime: number;
  /** XFL: 2 when the compressor says "best", 4 when "fastest", else usually 0. */
  xfl: number;
  /** OS. */
  os: number;
  /** FNAME, as Latin-1, when present. */
  name?: string;
}

const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;

/**
 * Parses a gzip member header from the start of a blob.
 * @param bytes - the first bytes of the blob (the whole header must be in them).
 * @returns the header; `'short'` when `bytes` ends inside it; `'invalid'` when it is not a gzip
 * header with the deflate method and no reserved flags.
 */
export function parseGzipHeader(bytes: Uint8Array): GzipHeader | 'short' | 'invalid' {
  if (bytes.length < 10) return 'short';
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b || bytes[2] !== 8) return 'invalid';
  const flags = bytes[3]!;
  if (flags & 0xe0) return 'invalid';
  const mtime = (bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24)) >>> 0;
  let at = 10;
  if (flags & FEXTRA) {
    if (bytes.length < at + 2) return 'short';
    at += 2 + (bytes[at]! | (bytes[at + 1]! << 8));
    if (bytes.length < at) return 'short';
  }
  let name: string | undefined;
  for (const flag of [FNAME, FCOMMENT]) {
    if (!(flags & flag)) continue;
    const end = bytes.indexOf(0, at);
    if (end < 0) return 'short';
    if (flag === FNAME) name = String.fromCharCode(...bytes.subarray(at, Math.min(end, at + 4096)));
    at = end + 1;
  }
  if (flags & FHCRC) at += 2;
  if (bytes.length < at) return 'short';
  return {
    length: at,
    flags,
    mtime,
    xfl: bytes[8]!,
    os: bytes[9]!,
    ...(name !== undefined ? { name } : {}),
  };
}

/**
 * The 8-byte gzip trailer: CRC-32 and size modulo 2^32 of the uncompressed data, little-endian.
 * @param crc - CRC-32 of the data.
 * @param size - bytes of the data.
 */
export function gzipTrailer(crc: number, size: number): Uint8Array {
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint32(0, crc, true);
  v.setUint32(4, size % 2 ** 32, true);
  return out;
}

/**
 * Hex of some bytes.
 * @param bytes - the bytes.
 */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/**
 * Bytes of a hex string.
 * @param hex - an even number of hex digits.
 * @returns the bytes, or `undefined` when `hex` is malformed.
 */
export function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 || !/^[0-9a-f]*$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
