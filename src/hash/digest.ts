/**
 * Digest strings: `sha256:<64 lowercase hex>`, the form OCI uses for blobs.
 *
 * @module
 */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Length in bytes of a raw SHA-256 digest. */
export const SHA256_BYTES = 32;

/**
 * Formats a raw SHA-256 digest as an OCI digest string.
 * @param raw - 32 digest bytes.
 * @returns `sha256:<hex>`.
 */
export function formatDigest(raw: Uint8Array): string {
  let out = 'sha256:';
  for (let i = 0; i < raw.length; i++) out += HEX[raw[i]!];
  return out;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/**
 * Tells whether a string is a well-formed `sha256:<hex>` digest.
 * @param s - the candidate.
 */
export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

/** The value of each lowercase hex digit by character code; -1 for anything else below 128. */
const NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) NIBBLE['0123456789abcdef'.charCodeAt(i)] = i;

/**
 * Parses an OCI digest string into its 32 raw bytes.
 * @param digest - `sha256:<64 lowercase hex>`.
 * @returns the raw digest, or `undefined` when `digest` is not well-formed.
 */
export function parseDigest(digest: string): Uint8Array | undefined {
  // By character codes, with no regular expression: a store parses one per chunk it is given.
  if (digest.length !== 71 || !digest.startsWith('sha256:')) return undefined;
  const out = new Uint8Array(SHA256_BYTES);
  for (let i = 0; i < SHA256_BYTES; i++) {
    const hi = NIBBLE[digest.charCodeAt(7 + 2 * i)] ?? -1;
    const lo = NIBBLE[digest.charCodeAt(8 + 2 * i)] ?? -1;
    if ((hi | lo) < 0) return undefined;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/**
 * Compares two raw digests in constant time for equal lengths.
 * @returns true when both hold the same bytes.
 */
export function digestsEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
