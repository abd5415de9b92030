/**
 * LZ4 block decoding (the `lz4-block` chunk coding), in plain JS so that every runtime reads
 * it; the encoder is WebAssembly (`assembly/lz4.ts`). Pure; no streams.
 *
 * The input is outside data: every length and offset is checked before it is used, the output
 * never grows past the caller's bound, and a block must end exactly where its last literals
 * end. Any violation is a {@link CompressionError} naming the input offset.
 *
 * @module
 */

import { CompressionError } from '../errors.js';

/** Literal runs and non-overlapping matches longer than this are copied natively. */
const NATIVE_COPY = 32;

/**
 * The most bytes an LZ4 block of `length` bytes can decode to: each extra length byte (255)
 * adds 255 bytes of match.
 * @param length - the block's size.
 */
function maxDecoded(length: number): number {
  return length * 255 + 16;
}

function fail(what: string, at: number): never {
  throw new CompressionError(`LZ4 block: ${what} at input byte ${at}`);
}

/**
 * A larger output buffer holding `out`'s first `used` bytes, with room for `need` bytes in all.
 * Not a closure over the decoder's state: captured variables would live in a heap context, and
 * the hot loop would read them from there.
 */
function grow(out: Uint8Array, used: number, need: number, limit: number, at: number) {
  if (need > limit) fail(`output grows past ${limit} bytes`, at);
  let size = out.length * 2;
  while (size < need) size *= 2;
  const grown = new Uint8Array(Math.min(size, limit));
  grown.set(out.subarray(0, used));
  return grown;
}

/**
 * Decodes one LZ4 block.
 *
 * @param src - the block.
 * @param maxSize - the most bytes the block may decode to; when the caller knows the exact
 * size, pass it, and the output is allocated once.
 * @returns the decoded bytes (at most `maxSize`).
 * @throws {@link CompressionError} when the block is malformed (truncated, a match offset of 0
 * or before the output's start, bytes after the last literals) or decodes past `maxSize`;
 * `RangeError` when `maxSize` is not a size.
 * @example
 * ```ts
 * const chunk = decodeLz4Block(stored, rawLength);
 * ```
 */
export function decodeLz4Block(src: Uint8Array, maxSize: number): Uint8Array {
  if (!Number.isSafeInteger(maxSize) || maxSize < 0) {
    throw new RangeError(`LZ4 block: the bound must be a size in bytes, got ${maxSize}`);
  }
  const n = src.length;
  const limit = Math.min(maxSize, maxDecoded(n));
  let out = new Uint8Array(Math.min(limit, Math.max(4 * n, 4096)));
  let ip = 0;
  let op = 0;
  for (;;) {
    const at = ip;
    if (ip >= n) fail('block ends before its last literals', at);
    const token = src[ip++]!;
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (ip >= n) fail('literal length runs past the end', at);
        b = src[ip++]!;
        lit += b;
      } while (b === 255);
    }
    if (lit > n - ip) fail(`${lit} literals run past the end`, at);
    if (op + lit > out.length) out = grow(out, op, op + lit, limit, at);
    if (lit > NATIVE_COPY) {
      out.set(src.subarray(ip, ip + lit), op);
      op += lit;
      ip += lit;
    } else {
      for (const stop = ip + lit; ip < stop; ) out[op++] = src[ip++]!;
    }
    if (ip === n) break;
    if (n - ip < 2) fail('match offset runs past the end', ip);
    const offset = src[ip]! | (src[ip + 1]! << 8);
    if (offset === 0 || offset > op) {
      fail(`match offset ${offset} reaches before the output's start (${op} bytes out)`, ip);
    }
    ip += 2;
    let len = token & 15;
    if (len === 15) {
      let b: number;
      do {
        if (ip >= n) fail('match length runs past the end', at);
        b = src[ip++]!;
        len += b;
      } while (b === 255);
    }
    len += 4;
    if (op + len > out.length) out = grow(out, op, op + len, limit, at);
    let from = op - offset;
    if (len > NATIVE_COPY && offset >= len) {
      out.copyWithin(op, from, from + len);
      op += len;
    } else if (len > NATIVE_COPY && offset === 1) {
      // A run of one byte (zeros, mostly).
      out.fill(out[from]!, op, op + len);
      op += len;
    } else if (len > NATIVE_COPY) {
      // Overlapping: the output repeats with period `offset`. Each copy takes the whole
      // stretch written so far that is a multiple of the period, so the copies double.
      const stop = op + len;
      for (let d = offset; op < stop; d *= 2) {
        const n = Math.min(d, stop - op);
        out.copyWithin(op, op - d, op - d + n);
        op += n;
      }
    } else {
      // Short: byte by byte, exact whether or not the match overlaps its output.
      for (const stop = op + len; op < stop; ) out[op++] = out[from++]!;
    }
  }
  return op === out.length ? out : out.slice(0, op);
}
