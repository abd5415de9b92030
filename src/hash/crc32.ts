/**
 * CRC-32 (ISO-HDLC: the zip, gzip and zlib checksum, reflected polynomial 0xedb88320), pure.
 * Zip bundles need it for entries compressed before the zip writer sees them; gzip
 * reproduction for the gzip trailer; pack indexes end with one.
 *
 * Eight bytes a step, from eight tables ("slicing by 8"): table `k` holds the CRC of a byte
 * followed by `k` zero bytes. About twice the speed of a byte a step (750 against 350 MiB/s
 * on the development VM, 64 MiB in 64 KiB pieces), where a store opening many pack indexes
 * spent a second in it.
 *
 * @module
 */

/** Eight tables of 256, one after the other. */
const TABLES: Uint32Array = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const before = t[(k - 1) * 256 + n]!;
      t[k * 256 + n] = (before >>> 8) ^ t[before & 0xff]!;
    }
  }
  return t;
})();

/**
 * The CRC-32 of some bytes, or of more bytes after earlier ones.
 * @param bytes - the (next) bytes.
 * @param crc - the CRC of the bytes before them. @default 0 (none)
 * @returns the checksum, an unsigned 32-bit integer.
 * @example
 * ```ts
 * crc32(new TextEncoder().encode('123456789')); // 0xcbf43926
 * ```
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const t = TABLES;
  let c = ~crc >>> 0;
  let i = 0;
  for (const whole = bytes.length - (bytes.length % 8); i < whole; i += 8) {
    c ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    c =
      t[1792 + (c & 0xff)]! ^
      t[1536 + ((c >>> 8) & 0xff)]! ^
      t[1280 + ((c >>> 16) & 0xff)]! ^
      t[1024 + (c >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
  }
  for (; i < bytes.length; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
