import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/hash/crc32.js';

describe('crc32', () => {
  it('matches the check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it("matches Node's zlib on every length from 0 to 100, and on a large input", () => {
    const bytes = new Uint8Array(1024 * 1024 + 13);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    for (let n = 0; n <= 100; n++) {
      expect(crc32(bytes.subarray(0, n)), `length ${n}`).toBe(zlibCrc32(bytes.subarray(0, n)));
    }
    expect(crc32(bytes)).toBe(zlibCrc32(bytes));
  });

  it('gives the same checksum however the bytes are split (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (bytes, cut) => {
        const at = Math.min(cut, bytes.length);
        const whole = zlibCrc32(bytes);
        expect(crc32(bytes)).toBe(whole);
        expect(crc32(bytes.subarray(at), crc32(bytes.subarray(0, at)))).toBe(whole);
      }),
      { numRuns: 300 },
    );
  });
});
