/** Digest strings: parse and format are inverses, and anything but `sha256:<64 lowercase hex>` is refused. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDigest, isDigest, parseDigest } from '../../src/hash/digest.js';

describe('digest strings', () => {
  it('parse what format wrote, byte for byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (raw) => {
        const s = formatDigest(raw);
        expect(isDigest(s)).toBe(true);
        expect(parseDigest(s)).toEqual(raw);
      }),
      { seed: 0xd1e57, numRuns: 200 },
    );
  });

  it('refuse every malformed string, as isDigest does', () => {
    const good = `sha256:${'0123456789abcdef'.repeat(4)}`;
    const bad = [
      '',
      good.slice(0, -1),
      `${good}0`,
      good.toUpperCase(),
      `sha256:${'A'.repeat(64)}`,
      `sha512:${'0'.repeat(64)}`,
      `SHA256:${'0'.repeat(64)}`,
      `sha256:${'0'.repeat(63)}g`,
      `sha256:${'0'.repeat(63)}\u0660`, // an Arabic-Indic zero, not a hex digit
      `sha256:${'0'.repeat(63)} `,
      `sha256:${'0'.repeat(62)}:0`,
      `sha256:${'\uff10'.repeat(64)}`, // fullwidth digits
    ];
    for (const s of bad) {
      expect(isDigest(s), s).toBe(false);
      expect(parseDigest(s), s).toBeUndefined();
    }
    expect(parseDigest(good)).toEqual(
      Uint8Array.from(
        { length: 32 },
        (_, i) => [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef][i % 8]!,
      ),
    );
  });
});
