/**
 * Strict raw inflate: `inflateRawExact` (a bundle entry's deflate data, to exactly its declared
 * size) and `inflateRawBounded` (a chunk's, to at most a bound), each one whole deflate stream
 * with nothing after it.
 */
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { inflateRawBounded, inflateRawExact } from '../../src/compress/inflate-raw.js';
import { CompressionError } from '../../src/errors.js';
import { expectSame, textBytes } from '../bundle/helpers.js';
import { concat, pseudoRandom } from '../helpers/bytes.js';

const deflated = (bytes: Uint8Array) => new Uint8Array(deflateRawSync(bytes));

/** The error `inflate` throws, expected to be a {@link CompressionError}. */
function refusal(
  data: Uint8Array,
  size: number,
  inflate: (data: Uint8Array, size: number) => Uint8Array = inflateRawExact,
): CompressionError {
  let err: unknown;
  try {
    inflate(data, size);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CompressionError);
  expect((err as CompressionError).code).toBe('ERR_COMPRESSION');
  return err as CompressionError;
}

describe('inflateRawExact', () => {
  it('inflates streams whose output is still pending when the input ends at a 64 KiB piece', () => {
    // Zeros of just over 64 KiB: with Z_FINISH, pako stopped with the last piece pending for
    // 162 of these 2,000 sizes (65,537 among them) and refused valid data (a review's sweep).
    for (let n = 65_537; n < 67_537; n++) {
      const bytes = new Uint8Array(n);
      expect(inflateRawExact(deflated(bytes), n).length).toBe(n);
    }
    const big = new Uint8Array(16 * 1024 * 1024 + 1);
    expect(inflateRawExact(deflated(big), big.length).length).toBe(big.length);
  });

  it('inflates to exactly the declared bytes, across many pieces and none', () => {
    for (const bytes of [
      new Uint8Array(0),
      new TextEncoder().encode('hello'),
      textBytes(300_000, 1),
      pseudoRandom(200_000, 2),
    ]) {
      expectSame(inflateRawExact(deflated(bytes), bytes.length), bytes);
    }
  });

  it('refuses bytes after the end of the deflate stream', () => {
    const bytes = textBytes(10_000, 3);
    for (const after of [
      new Uint8Array(1),
      deflated(bytes),
      new TextEncoder().encode('PK\x03\x04'),
    ]) {
      expect(refusal(concat([deflated(bytes), after]), bytes.length).message).toBe(
        `${after.length} bytes follow the end of the deflate data`,
      );
    }
  });

  it('refuses a deflate stream that ends before its end', () => {
    const bytes = textBytes(100_000, 4);
    const data = deflated(bytes);
    for (const cut of [0, 1, data.length >> 1, data.length - 1]) {
      expect(refusal(data.subarray(0, cut), bytes.length).message).toMatch(
        /^deflate data ends before the end of its stream \(\d+ bytes inflated\)$/,
      );
    }
  });

  it('stops at the declared size: a bomb inflates no further', () => {
    // 16 MiB of zeros in about 16 KiB: refused at the first piece past 1000 bytes.
    const bomb = deflated(new Uint8Array(16 << 20));
    expect(bomb.length).toBeLessThan(20_000);
    expect(refusal(bomb, 1000).message).toBe('deflate data inflates past its declared 1000 bytes');
    // One byte short of what it holds, and nothing declared.
    const bytes = textBytes(70_000, 5);
    expect(refusal(deflated(bytes), bytes.length - 1).message).toBe(
      `deflate data inflates past its declared ${bytes.length - 1} bytes`,
    );
    expect(refusal(deflated(bytes), 0).message).toBe(
      'deflate data inflates past its declared 0 bytes',
    );
  });

  it('refuses output shorter than declared, and data that is not deflate', () => {
    const bytes = textBytes(5_000, 6);
    expect(refusal(deflated(bytes), bytes.length + 1).message).toBe(
      `deflate data inflates to ${bytes.length} bytes, it declares ${bytes.length + 1}`,
    );
    // Block type 3 does not exist.
    expect(refusal(new Uint8Array([0xff, 0xff]), 10).message).toMatch(
      /^deflate data does not inflate: invalid block type$/,
    );
  });
});

describe('inflateRawBounded', () => {
  it('inflates anything up to the bound, growing its output as it goes', () => {
    for (const bytes of [
      new Uint8Array(0),
      new Uint8Array(1 << 20), // 1 KiB of input: 1,000 times that
      textBytes(300_000, 7),
      pseudoRandom(200_000, 8),
    ]) {
      expectSame(inflateRawBounded(deflated(bytes), bytes.length), bytes);
      expectSame(inflateRawBounded(deflated(bytes), 16 << 20), bytes);
    }
    for (let n = 65_537; n < 65_800; n++) {
      expect(inflateRawBounded(deflated(new Uint8Array(n)), n).length).toBe(n);
    }
  });

  it('stops at the first output past the bound', () => {
    const bomb = deflated(new Uint8Array(16 << 20));
    expect(refusal(bomb, 100_000, inflateRawBounded).message).toBe(
      'deflate data inflates past 100000 bytes',
    );
    const bytes = textBytes(70_000, 9);
    expect(refusal(deflated(bytes), bytes.length - 1, inflateRawBounded).message).toBe(
      `deflate data inflates past ${bytes.length - 1} bytes`,
    );
  });

  it('refuses bytes after the stream, a stream cut short, and data that is not deflate', () => {
    const bytes = textBytes(10_000, 10);
    const data = deflated(bytes);
    expect(refusal(concat([data, new Uint8Array(3)]), 1 << 20, inflateRawBounded).message).toBe(
      '3 bytes follow the end of the deflate data',
    );
    expect(refusal(data.subarray(0, data.length - 1), 1 << 20, inflateRawBounded).message).toMatch(
      /^deflate data ends before the end of its stream/,
    );
    expect(refusal(Uint8Array.of(0xff, 0xff), 10, inflateRawBounded).message).toBe(
      'deflate data does not inflate: invalid block type',
    );
  });
});
