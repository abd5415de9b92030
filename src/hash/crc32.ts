/**
 * CRC-32 (ISO-HDLC: the zip, gzip and zlib checksum, reflected polynomial 0xedb88320), pure.
 * Zip bundles need it for entries compressed before the zip writer sees them; gzip
 * reproduction for the gzip trailer.
 *
 * @module
 */

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
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
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
