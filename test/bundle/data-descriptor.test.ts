/** `descriptorInStoredData`: the data descriptors in a stored entry's data a reader could end it at. */
import { describe, expect, it } from 'vitest';
import { descriptorInStoredData } from '../../src/bundle/data-descriptor.js';
import { crc32 } from '../../src/hash/crc32.js';
import { concat, pseudoRandom } from '../helpers/bytes.js';

/** A descriptor's first 16 bytes: signature, CRC-32, compressed size, `next` (4 bytes). */
function signed(crc: number, size: number, next = 0): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x08074b50, true);
  view.setUint32(4, crc, true);
  view.setUint32(8, size, true);
  view.setUint32(12, next, true);
  return out;
}

describe('descriptorInStoredData', () => {
  const before = pseudoRandom(1000, 1).map((b) => (b === 0x50 ? 0 : b));

  it('finds a descriptor giving the CRC-32 of the data before it, or its length', () => {
    const crc = crc32(before);
    // CRC-32 right, size wrong (libarchive checks the CRC-32).
    expect(descriptorInStoredData(concat([before, signed(crc, 1)]))).toBe(1000);
    // Size right (4 bytes, then an uncompressed size), CRC-32 wrong.
    expect(descriptorInStoredData(concat([before, signed(crc ^ 1, 1000, 1000)]))).toBe(1000);
    // After an earlier signature that gives neither: the CRC-32 runs over it.
    const decoy = signed(7, 7);
    const later = concat([before, decoy]);
    expect(descriptorInStoredData(concat([later, signed(crc32(later), 1)]))).toBe(1016);
  });

  it('finds none where the signature gives neither, or is cut off', () => {
    expect(descriptorInStoredData(before)).toBeUndefined();
    expect(descriptorInStoredData(concat([before, signed(crc32(before) ^ 1, 1)]))).toBeUndefined();
    expect(descriptorInStoredData(concat([before, signed(0, 0).subarray(0, 6)]))).toBeUndefined();
    expect(descriptorInStoredData(new Uint8Array(0))).toBeUndefined();
  });
});
