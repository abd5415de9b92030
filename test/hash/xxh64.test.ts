import fc from 'fast-check';
import { xxhash64 } from 'hash-wasm';
import { describe, expect, it } from 'vitest';
import { Xxh64 } from '../../src/hash/xxh64.js';

const hex = (d: { high: number; low: number }) =>
  d.high.toString(16).padStart(8, '0') + d.low.toString(16).padStart(8, '0');

const of = (bytes: Uint8Array, wasm = true) => {
  const h = new Xxh64(wasm);
  h.update(bytes);
  return hex(h.digest());
};

describe('Xxh64', () => {
  it('gives the published values', () => {
    const text = (s: string) => new TextEncoder().encode(s);
    expect(of(text(''))).toBe('ef46db3751d8e999');
    expect(of(text('abc'))).toBe('44bc2cf5ad770999');
  });

  it.each([true, false])(
    'matches hash-wasm on every length from 0 to 300 and on large inputs (stripes in WebAssembly: %s)',
    async (wasm) => {
      const bytes = new Uint8Array(3 * 1024 * 1024 + 77);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
      for (let n = 0; n <= 300; n++) {
        const part = bytes.subarray(0, n);
        expect(of(part, wasm), `length ${n}`).toBe(await xxhash64(part));
      }
      // Runs of stripes around the module's threshold (1 KiB) and window (1 MiB).
      for (const n of [1023, 1024, 1056, 70_000, 1024 * 1024 - 1, 1024 * 1024 + 33, bytes.length]) {
        const part = bytes.subarray(3, 3 + Math.min(n, bytes.length - 3));
        expect(of(part, wasm), `length ${n}`).toBe(await xxhash64(part));
      }
      // All bits set: every carry in the 64-bit arithmetic.
      const ones = new Uint8Array(5000).fill(0xff);
      expect(of(ones, wasm)).toBe(await xxhash64(ones));
    },
  );

  it('gives the same hash however the input is split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 5000 }),
        fc.array(fc.nat(5000), { maxLength: 8 }),
        fc.boolean(),
        async (bytes, cuts, wasm) => {
          const h = new Xxh64(wasm);
          let at = 0;
          for (const c of [...cuts].sort((a, b) => a - b)) {
            const end = Math.min(c, bytes.length);
            if (end < at) continue;
            h.update(bytes.subarray(at, end));
            at = end;
          }
          h.update(bytes.subarray(at));
          expect(hex(h.digest())).toBe(await xxhash64(bytes));
        },
      ),
      { numRuns: 300 },
    );
  });
});
