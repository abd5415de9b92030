/** createDigestTap: bytes pass through unchanged, and `done` gives their digest and count. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createDigestTap } from '../../src/hash/tap.js';
import type { HashProvider } from '../../src/hash/types.js';
import { webHashProvider } from '../../src/hash/web.js';
import { nodeHashProvider } from '../../src/node/hash.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { collect, streamOf } from '../helpers/streams.js';

describe.each([
  ['node (worker)', nodeHashProvider()],
  ['web', webHashProvider()],
])('createDigestTap (%s)', (_, hash) => {
  it('passes bytes through and digests them, however they are split', async () => {
    const data = pseudoRandom(3_000_001, 5);
    for (const sizes of [1 << 20, [1, 7, 65536, 300_000]]) {
      const tap = createDigestTap(hash);
      const out = await collect(streamOf(data, sizes).pipeThrough(tap));
      // Not toEqual: its element-by-element walk of 3 MB took 30 s.
      expect(Buffer.from(out).equals(data)).toBe(true);
      const { digest, size } = await tap.done;
      expect(Buffer.from(digest).toString('hex')).toBe(
        createHash('sha256').update(data).digest('hex'),
      );
      expect(size).toBe(data.length);
    }
  });
});

describe('createDigestTap with a failing hash', () => {
  it("fails the stream and `done` with the hash's error", async () => {
    const failing: HashProvider = {
      algorithm: 'sha256',
      name: 'failing',
      digest: async () => new Uint8Array(32),
      create: async () => ({
        update: () => Promise.reject(new Error('hash broke')),
        digest: async () => new Uint8Array(32),
      }),
    };
    const tap = createDigestTap(failing);
    await expect(collect(streamOf(new Uint8Array(10)).pipeThrough(tap))).rejects.toThrow(
      'hash broke',
    );
    await expect(tap.done).rejects.toThrow('hash broke');
  });
});
