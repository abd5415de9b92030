/**
 * Chunk codecs: the one that runs everywhere (CompressionStream) and node:zlib's. Both keep a
 * compressed form only when it is smaller, skip random data, read each other's output, and
 * refuse corrupt or bomb-like input with CompressionError, never inflating past the bound.
 */
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type ChunkCodec, webChunkCodec } from '../../src/compress/chunk-codec.js';
import { looksIncompressible, sampleEntropy } from '../../src/compress/entropy.js';
import { CompressionError } from '../../src/errors.js';
import { nodeChunkCodec } from '../../src/node/chunk-codec.js';
import { pseudoRandom } from '../helpers/bytes.js';

const text = new TextEncoder().encode(
  Array.from({ length: 4000 }, (_, i) => `line ${i % 97} of a config file\n`).join(''),
);
const random = pseudoRandom(100_000, 3);

const codecs: Array<[string, ChunkCodec]> = [
  ['web', webChunkCodec()],
  ['node', nodeChunkCodec()],
  ['node level 1', nodeChunkCodec({ level: 1 })],
  ['node level 1, blocking', nodeChunkCodec({ level: 1, blocking: true })],
];

describe('entropy sampling', () => {
  it('tells random bytes from text', () => {
    expect(sampleEntropy(random)).toBeGreaterThan(7.9);
    expect(sampleEntropy(text)).toBeLessThan(6);
    expect(looksIncompressible(random)).toBe(true);
    expect(looksIncompressible(text)).toBe(false);
    expect(sampleEntropy(new Uint8Array(0))).toBe(0);
    expect(sampleEntropy(new Uint8Array(10_000))).toBe(0);
  });
});

describe.each(codecs)('%s chunk codec', (_, codec) => {
  it('compresses text, keeps random bytes as they are, and round-trips both', async () => {
    const t = await codec.encode(text);
    expect(t.coding).toBe('deflate-raw');
    expect(t.bytes.length).toBeLessThan(text.length / 5);
    expect(new Uint8Array(await codec.decode(t))).toEqual(text);
    const r = await codec.encode(random);
    expect(r).toEqual({ coding: 'identity', bytes: random });
    expect(await codec.decode(r)).toBe(random);
  });

  it("reads the other codecs' output", async () => {
    for (const [, other] of codecs) {
      expect(new Uint8Array(await codec.decode(await other.encode(text)))).toEqual(text);
    }
  });

  it('refuses corrupt, oversized and bomb-like input with CompressionError', async () => {
    const good = (await codec.encode(text)).bytes;
    const cases: Array<[Uint8Array, number | undefined]> = [
      [good.subarray(0, good.length >> 1), undefined],
      [Uint8Array.of(0xff, 0xff, 0xff, 0xff), undefined],
      [good, text.length - 1], // one byte more than allowed
      [deflateRawSync(new Uint8Array(256 << 20)), undefined], // 256 MiB of zeros > 16 MiB bound
    ];
    for (const [bytes, max] of cases) {
      const err = await codec.decode({ coding: 'deflate-raw', bytes }, max).catch((e) => e);
      expect(err).toBeInstanceOf(CompressionError);
    }
    await expect(
      codec.decode({ coding: 'identity', bytes: new Uint8Array(11) }, 10),
    ).rejects.toBeInstanceOf(CompressionError);
    await expect(codec.decode({ coding: 'zstd' as never, bytes: good })).rejects.toBeInstanceOf(
      CompressionError,
    );
  });
});
