/**
 * Deflate's symbol tables (RFC 1951 §3.2.5) and the token packing the Go-compatible encoder
 * uses between its match finder and its block writer.
 *
 * A token is one integer below 2^30 (so that V8 keeps it a small integer, never a boxed
 * number): a literal byte (or the end-of-block symbol 256) as itself, or a match as
 * {@link MATCH_TYPE} plus `(length - 3) << 21` plus `distance - 1`.
 *
 * @module
 */

/** Set in every match token; literals are below it. */
export const MATCH_TYPE = 1 << 29;
/** Where a match token keeps its length. */
export const LENGTH_SHIFT = 21;
/** A match token's distance bits. */
export const OFFSET_MASK = (1 << LENGTH_SHIFT) - 1;
/** The end-of-block symbol. */
export const END_BLOCK = 256;
/** The first length symbol. */
export const LENGTH_CODES_START = 257;
/** Literal/length symbols an encoder may use (0-285). */
export const MAX_NUM_LIT = 286;
/** Distance symbols (0-29). */
export const OFFSET_CODE_COUNT = 30;
/** Code-length symbols (0-18). */
export const CODEGEN_CODE_COUNT = 19;
/** The shortest match deflate codes. */
export const BASE_MATCH_LENGTH = 3;
/** The shortest match the encoders emit. */
export const MIN_MATCH_LENGTH = 4;
/** The longest match. */
export const MAX_MATCH_LENGTH = 258;
/** The farthest match. */
export const MAX_MATCH_OFFSET = 1 << 15;
/** The largest stored block. */
export const MAX_STORE_BLOCK_SIZE = 65535;

/** Extra bits of each length code (0-28). */
export const LENGTH_EXTRA_BITS = Uint8Array.of(
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  1,
  1,
  1,
  1,
  2,
  2,
  2,
  2,
  3,
  3,
  3,
  3,
  4,
  4,
  4,
  4,
  5,
  5,
  5,
  5,
  0,
);
/** The smallest `length - 3` of each length code. */
export const LENGTH_BASE = Uint16Array.of(
  0,
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8,
  10,
  12,
  14,
  16,
  20,
  24,
  28,
  32,
  40,
  48,
  56,
  64,
  80,
  96,
  112,
  128,
  160,
  192,
  224,
  255,
);
/** Extra bits of each distance code (0-29). */
export const OFFSET_EXTRA_BITS = Uint8Array.of(
  0,
  0,
  0,
  0,
  1,
  1,
  2,
  2,
  3,
  3,
  4,
  4,
  5,
  5,
  6,
  6,
  7,
  7,
  8,
  8,
  9,
  9,
  10,
  10,
  11,
  11,
  12,
  12,
  13,
  13,
);
/** The smallest `distance - 1` of each distance code. */
export const OFFSET_BASE = Uint16Array.from(OFFSET_EXTRA_BITS, (_, code) =>
  code < 4 ? code : (2 + (code & 1)) << ((code >> 1) - 1),
);

/** The length code of each `length - 3` (0-255). */
export const LENGTH_CODE = codeTable(256, LENGTH_BASE, LENGTH_EXTRA_BITS, 28);
/** The distance code of each `distance - 1` (0-32767). */
export const OFFSET_CODE = codeTable(MAX_MATCH_OFFSET, OFFSET_BASE, OFFSET_EXTRA_BITS, 29);

function codeTable(size: number, base: Uint16Array, extra: Uint8Array, last: number): Uint8Array {
  const table = new Uint8Array(size);
  for (let code = 0; code <= last; code++) {
    const end = Math.min(size, base[code]! + (1 << extra[code]!));
    for (let v = base[code]!; v < end; v++) table[v] = code;
  }
  // Length 258 has a code of its own (285), though 284's range reaches it.
  if (size === 256) table[255] = 28;
  return table;
}

/**
 * A match token.
 * @param xlength - the length less 3.
 * @param xoffset - the distance less 1.
 * @returns the token.
 */
export function matchToken(xlength: number, xoffset: number): number {
  return MATCH_TYPE + (xlength << LENGTH_SHIFT) + xoffset;
}
