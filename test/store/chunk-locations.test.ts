import { describe, expect, it } from 'vitest';
import { ChunkLocations } from '../../src/store/chunk-locations.js';

describe('ChunkLocations', () => {
  it('numbers locations densely and keeps each across pages, offsets beyond 32 bits too', () => {
    const l = new ChunkLocations();
    const n = 10_000;
    for (let i = 0; i < n; i++) expect(l.add(i % 7, i * 2 ** 33 + i, (i * 31) % 65_536)).toBe(i);
    for (let i = 0; i < n; i++) {
      expect([l.pack(i), l.offset(i), l.stored(i)]).toEqual([
        i % 7,
        i * 2 ** 33 + i,
        (i * 31) % 65_536,
      ]);
    }
  });
});
