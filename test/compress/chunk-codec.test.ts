/**
 * Chunk codecs: deflate everywhere (CompressionStream) and over node:zlib, LZ4 everywhere
 * (WebAssembly) and in Node. All keep a compressed form only when it is smaller, skip random
 * data, read each other's output, and refuse corrupt or bomb-like input with CompressionError,
 * never inflating past the bound.
 */
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  type ChunkCodec,
  type ChunkCoding,
  webChunkCodec,
} from '../../src/compress/chunk-codec.js';
import { looksIncompressible, sampleEntropy } from '../../src/compress/entropy.js';
import { loadLz4Codec } from '../../src/compress/lz4-codec.js';
import { CompressionError } from '../../src/errors.js';
import { nodeChunkCodec } from '../../src/node/chunk-codec.js';
import { pseudoRandom } from '../helpers/bytes.js';

const text = new TextEncoder().encode(
  Array.from({ length: 4000 }, (_, i) => `line ${i % 97} of a config file\n`).join(''),
);
const random = pseudoRandom(100_000, 3);

const codecs: Array<[string, ChunkCodec, ChunkCoding]> = [
  ['web', webChunkCodec(), 'deflate-raw'],
  ['node', nodeChunkCodec(), 'deflate-raw'],
  ['node level 1', nodeChunkCodec({ level: 1 }), 'deflate-raw'],
  ['node level 1, blocking', nodeChunkCodec({ level: 1, blocking: true }), 'deflate-raw'],
  ['web lz4', await loadLz4Codec(), 'lz4-block'],
  ['node lz4', nodeChunkCodec({ algorithm: 'lz4' }), 'lz4-block'],
];

describe('entropy sampling', () => {
  it('tells random bytes from text', () => {
    expect(sampleEntropy(random)).toBeGreaterThan(7.7);
    expect(sampleEntropy(text)).toBeLessThan(6);
    expect(looksIncompressible(random)).toBe(true);
    expect(looksIncompressible(text)).toBe(false);
    expect(sampleEntropy(new Uint8Array(0))).toBe(0);
    expect(sampleEntropy(new Uint8Array(10_000))).toBe(0);
  });

  it('is the order-0 entropy of the sample', () => {
    // Two symbols, equally often: 1 bit. Four: 2 bits. Whole input when it fits in the sample.
    expect(sampleEntropy(Uint8Array.from({ length: 1000 }, (_, i) => i & 1))).toBeCloseTo(1, 12);
    expect(sampleEntropy(Uint8Array.from({ length: 800 }, (_, i) => i & 3))).toBeCloseTo(2, 12);
    const skewed = Uint8Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? 1 : 0));
    const p = 0.1;
    expect(sampleEntropy(skewed)).toBeCloseTo(-(p * Math.log2(p) + (1 - p) * Math.log2(1 - p)), 12);
  });
});

describe.each(codecs)('%s chunk codec', (_, codec, coding) => {
  it('compresses text, keeps random bytes as they are, and round-trips both', async () => {
    const t = await codec.encode(text);
    expect(t.coding).toBe(coding);
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

  it('refuses corrupt, oversized and bomb-like deflate input with CompressionError', async () => {
    const good = deflateRawSync(text);
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

  it('refuses bytes after the end of a deflate stream, naming how many', async () => {
    // Node's zlib and Node 20's DecompressionStream both ignore them.
    const good = deflateRawSync(text);
    for (const after of [Uint8Array.of(0), deflateRawSync(text), new Uint8Array(5000)]) {
      const bytes = new Uint8Array([...good, ...after]);
      const err = await codec.decode({ coding: 'deflate-raw', bytes }).catch((e) => e);
      expect(err).toBeInstanceOf(CompressionError);
      expect((err as Error).message).toBe(
        `chunk: ${after.length} bytes follow the end of the deflate data`,
      );
    }
    // A stream cut short, and one past the bound, are named too.
    const cut = await codec
      .decode({ coding: 'deflate-raw', bytes: good.subarray(0, good.length - 1) })
      .catch((e) => e);
    expect((cut as Error).message).toMatch(/^chunk: deflate data (ends before|does not inflate)/);
    const past = await codec
      .decode({ coding: 'deflate-raw', bytes: good }, text.length - 1)
      .catch((e) => e);
    expect((past as Error).message).toBe(
      `chunk: deflate data inflates past ${text.length - 1} bytes`,
    );
  });

  it('refuses a malformed or bomb-like LZ4 block with CompressionError', async () => {
    // A 1-byte literal, then a match of 4 + 15 + 255 × 64 bytes at offset 1.
    const bomb = Uint8Array.of(0x1f, 0x61, 1, 0, ...new Array(64).fill(255), 0, 0x00);
    for (const [bytes, max] of [
      [bomb, 10_000],
      [Uint8Array.of(0x10, 0x61, 0, 0), undefined], // offset 0
    ] as const) {
      const err = await codec.decode({ coding: 'lz4-block', bytes }, max).catch((e) => e);
      expect(err).toBeInstanceOf(CompressionError);
    }
  });
});
