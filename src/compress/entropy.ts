/**
 * A cheap guess at whether bytes are worth compressing: the order-0 entropy of a sample.
 * Compressed, encrypted and random data sit near 8 bits per byte; deflate cannot shrink them,
 * and trying costs as much as compressing text. Pure; no streams.
 *
 * @module
 */

/** Bytes sampled, in four evenly spaced slices. */
const SAMPLE = 4096;

/** Above this many bits per byte a chunk is stored as it is. */
export const INCOMPRESSIBLE_BITS = 7.2;

/**
 * Estimates the order-0 entropy of `bytes` from a sample of at most 4 KiB.
 * @param bytes - the data.
 * @returns bits per byte, 0 to 8.
 */
export function sampleEntropy(bytes: Uint8Array): number {
  const counts = new Uint32Array(256);
  let n = 0;
  if (bytes.length <= SAMPLE) {
    for (let i = 0; i < bytes.length; i++) counts[bytes[i]!]!++;
    n = bytes.length;
  } else {
    const slice = SAMPLE / 4;
    const step = Math.floor((bytes.length - slice) / 3);
    for (let s = 0; s < 4; s++) {
      const from = s * step;
      for (let i = from; i < from + slice; i++) counts[bytes[i]!]!++;
    }
    n = SAMPLE;
  }
  if (n === 0) return 0;
  let bits = 0;
  for (let i = 0; i < 256; i++) {
    const c = counts[i]!;
    if (c > 0) {
      const p = c / n;
      bits -= p * Math.log2(p);
    }
  }
  return bits;
}

/**
 * Tells whether compressing `bytes` is unlikely to pay (see {@link INCOMPRESSIBLE_BITS}).
 * A 4 KiB sample of uniform random bytes measures about 7.95 bits per byte; text and code
 * measure 4 to 6.
 * @param bytes - the data.
 */
export function looksIncompressible(bytes: Uint8Array): boolean {
  return sampleEntropy(bytes) > INCOMPRESSIBLE_BITS;
}
