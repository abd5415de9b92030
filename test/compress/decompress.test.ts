/**
 * `createDecompressor`: sniffing, routing, the blob digest and size, the tar's digest and size
 * (`digestTar`), and hostile gzip, with
 * both gzip decoders (`webGunzip`, over DecompressionStream, and the `./node` entry's
 * `nodeGunzip`, over node:zlib). Both report truncation ("unexpected end of file",
 * Z_BUF_ERROR), bad CRC and bad length ("incorrect data check") and corrupt deflate data; each
 * must surface as a CompressionError on the readable side and on `done`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type BlobSummary,
  createDecompressor,
  type GunzipFactory,
  webGunzip,
} from '../../src/compress/decompress.js';
import { CompressionError } from '../../src/errors.js';
import type { Compression } from '../../src/format/records.js';
import { nodeGunzip } from '../../src/node/gunzip.js';
import { concat, xorshift32 } from '../helpers/bytes.js';
import { hash } from '../helpers/layers.js';
import { collect, sha256, streamOf } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { randomSizes, sampleData, skippableFrame, zstdCli } from './frames.js';

interface Decoded {
  out: Uint8Array;
  compression: Compression;
  summary: BlobSummary;
}

const GUNZIPS: Array<[string, GunzipFactory]> = [
  ['webGunzip', webGunzip],
  ['nodeGunzip', nodeGunzip()],
];
/** The gzip decoder of the tests being run. */
let gunzip: GunzipFactory = webGunzip;

/** Feeds `blob` in pieces through a decompressor; returns what comes out and what it learned. */
async function decompress(blob: Uint8Array, sizes: number | number[] = 65536): Promise<Decoded> {
  const d = createDecompressor({ hash, gunzip, digestTar: true });
  const piped = streamOf(blob, sizes).pipeTo(d.writable);
  try {
    const out = await collect(d.readable);
    await piped;
    return { out, compression: await d.compression, summary: await d.done };
  } catch (e) {
    // The same error on `done`, and the writer side is released rather than left hanging.
    await expect(d.done).rejects.toBe(e);
    await piped.catch(() => {});
    throw e;
  }
}

async function failure(blob: Uint8Array, sizes?: number | number[]): Promise<CompressionError> {
  try {
    await decompress(blob, sizes);
  } catch (e) {
    if (e instanceof CompressionError) return e;
    throw e;
  }
  throw new Error('expected the decompressor to fail');
}

/**
 * Feeds three 4 KiB pieces of `blob`, then fails the input with `failure`: the decompressor's
 * readable and `done` must fail with that very error, not one of their own.
 */
async function expectInputFailurePassedOn(blob: Uint8Array, failure: unknown): Promise<void> {
  let sent = 0;
  const input = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= 3) return c.error(failure);
      c.enqueue(blob.subarray(sent * 4096, (sent + 1) * 4096));
      sent++;
    },
  });
  const d = createDecompressor({ hash, gunzip });
  const piped = input.pipeTo(d.writable).catch(() => {});
  await expect(collect(d.readable)).rejects.toBe(failure);
  await expect(d.done).rejects.toBe(failure);
  await piped;
}

const data = sampleData(200_000, 3);
const gz = new Uint8Array(gzipSync(data));

describe.each(GUNZIPS)('routing and the blob summary (%s)', (_, g) => {
  beforeAll(() => {
    gunzip = g;
  });
  const tools = toolsAvailable('gzip', 'zstd');
  const cases: Array<[string, () => Uint8Array, Compression]> = [
    ['plain bytes', () => data, 'none'],
    ['gzip (zlib)', () => gz, 'gzip'],
    ['zstd', () => zstdCli(data, ['-3']), 'zstd'],
    [
      'zstd starting with a skippable frame',
      () => concat([skippableFrame(Uint8Array.of(1)), zstdCli(data, ['-1'])]),
      'zstd',
    ],
  ];
  if (tools) {
    cases.push([
      'gzip (CLI, -9)',
      () => new Uint8Array(execFileSync('gzip', ['-9', '-c', '-n'], { input: data })),
      'gzip',
    ]);
  }
  for (const [name, make, kind] of cases) {
    it.runIf(tools || kind !== 'zstd')(
      `${name}: output, compression, digest and size`,
      async () => {
        const blob = make();
        for (const sizes of [blob.length, 7, randomSizes(blob.length)]) {
          const { out, compression, summary } = await decompress(blob, sizes);
          expect(sha256(out)).toBe(sha256(data));
          expect(compression).toBe(kind);
          expect(summary.compression).toBe(kind);
          expect(summary.size).toBe(blob.length);
          if (kind === 'none') expect(summary.digest).toBeUndefined();
          else expect(`sha256:${Buffer.from(summary.digest!).toString('hex')}`).toBe(sha256(blob));
          // The diff_id, from the same pass.
          expect(`sha256:${Buffer.from(summary.tar!.digest).toString('hex')}`).toBe(sha256(data));
          expect(summary.tar!.size).toBe(data.length);
        }
      },
    );
  }

  it('1-byte pieces give the same output and summary', async () => {
    const small = data.subarray(0, 5000);
    for (const blob of [small, new Uint8Array(gzipSync(small))]) {
      const whole = await decompress(blob, blob.length);
      const bytewise = await decompress(blob, 1);
      expect(bytewise.out).toEqual(small);
      expect(bytewise.summary).toEqual(whole.summary);
    }
  });

  it('digestBlob: false decodes the same without digesting the blob', async () => {
    const blob = new Uint8Array(gzipSync(data.subarray(0, 5000)));
    const d = createDecompressor({ hash, gunzip, digestBlob: false });
    const piped = streamOf(blob, 4096).pipeTo(d.writable);
    expect(await collect(d.readable)).toEqual(data.subarray(0, 5000));
    await piped;
    expect(await d.done).toEqual({ compression: 'gzip', size: blob.length });
  });

  it('short and empty blobs are plain', async () => {
    for (const blob of [new Uint8Array(0), Uint8Array.of(0x1f), Uint8Array.of(0x28, 0xb5, 0x2f)]) {
      const { out, summary } = await decompress(blob, 1);
      expect(out).toEqual(blob);
      expect(summary).toEqual({
        compression: 'none',
        size: blob.length,
        tar: {
          digest: new Uint8Array(createHash('sha256').update(blob).digest()),
          size: blob.length,
        },
      });
    }
  });

  it('a gzip or zstd magic with nothing after it is a truncated stream', async () => {
    await failure(Uint8Array.of(0x1f, 0x8b));
    await failure(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd), 1);
  });
});

describe.each(GUNZIPS)('hostile gzip (%s)', (_, g) => {
  beforeAll(() => {
    gunzip = g;
  });
  it('truncated anywhere: CompressionError, never a silently short layer', async () => {
    // Every cut in the header and trailer, and a spread through the deflate data.
    const ends = new Set<number>();
    for (let i = 2; i < 40; i++) ends.add(i);
    for (let i = gz.length - 20; i < gz.length; i++) ends.add(i);
    for (let i = 40; i < gz.length - 20; i += 997) ends.add(i);
    for (const end of ends) {
      const e = await failure(gz.subarray(0, end), end % 2 ? 1000 : randomSizes(end, 8));
      expect(e.code).toBe('ERR_COMPRESSION');
      expect(e.message).toMatch(/^gzip: .*\(compressed bytes read: \d+\)$/);
    }
  });

  it('bad CRC, bad length, corrupt deflate data, bad header', async () => {
    const crc = gz.slice();
    crc[gz.length - 8] = crc[gz.length - 8]! ^ 0xff;
    const isize = gz.slice();
    isize[gz.length - 1] = isize[gz.length - 1]! ^ 0x01;
    const method = gz.slice();
    method[2] = 7; // compression method other than deflate
    const reservedBlock = gz.slice();
    reservedBlock[10] = reservedBlock[10]! | 0b110; // deflate block type 3 (reserved)
    for (const [bad, pattern] of [
      [crc, /incorrect data check/],
      [isize, /incorrect (data|length) check/],
      [method, /unknown compression method/],
      [reservedBlock, /invalid block type/],
    ] as const) {
      const e = await failure(bad);
      expect(e.message).toMatch(pattern);
      expect(e.cause).toBeDefined();
    }
  });

  it('random corruption: a CompressionError (or, rarely, correct output)', async () => {
    const next = xorshift32(5);
    for (let k = 0; k < 60; k++) {
      const s = next();
      const bad = gz.slice();
      const at = 10 + (s % (gz.length - 10));
      bad[at] = bad[at]! ^ (1 << ((s >>> 24) & 7));
      try {
        const { out } = await decompress(bad, randomSizes(k, 4));
        // The CRC makes accepted output the original (a flip in an unused field, e.g. padding bits).
        expect(sha256(out)).toBe(sha256(data));
      } catch (e) {
        expect(e).toBeInstanceOf(CompressionError);
      }
    }
  });

  it("the input's own failure (even a TypeError, as fetch's are) is passed on, not called corrupt gzip", async () => {
    await expectInputFailurePassedOn(gz, new TypeError('terminated'));
  });

  it('multi-member gzip (cat a.gz b.gz) decodes to the concatenation, as gzip -d does', async () => {
    const a = sampleData(70_000, 1);
    const b = sampleData(5_000, 2);
    const ab = concat([gzipSync(a), gzipSync(b), gzipSync(new Uint8Array(0))]);
    for (const sizes of [ab.length, 1, randomSizes(7)]) {
      const { out, summary } = await decompress(ab, sizes);
      expect(sha256(out)).toBe(sha256(concat([a, b])));
      expect(summary.size).toBe(ab.length);
    }
    // A second member cut short is a truncation, not the end of the first.
    const first = gzipSync(a).length;
    for (const end of [first + 1, first + 5, first + 15, ab.length - 30]) {
      await failure(ab.subarray(0, end));
    }
  });

  it('bytes after the last member: garbage fails; zero bytes are ignored (Node, like gzip -d)', async () => {
    const e = await failure(concat([gz, new TextEncoder().encode('not gzip')]));
    expect(e.message).toMatch(/incorrect header check/);
    // Node's gunzip treats trailing zeros as padding and stops. Documented here, not endorsed:
    // the blob digest still covers them.
    // Padding of any length, in pieces of any size: all of it is read, and the blob's digest
    // and size cover it (a decoder that stopped reading at the end of its output once left the
    // digest short and the writer waiting forever).
    for (const [pad, sizes] of [
      [1024, 4096],
      [300_000, 16_384],
      [300_000, randomSizes(gz.length + 300_000, 3)],
      [20_000, 7],
    ] as const) {
      const padded = concat([gz, new Uint8Array(pad)]);
      const { out, summary } = await decompress(padded, sizes);
      expect(sha256(out)).toBe(sha256(data));
      expect(summary.size).toBe(padded.length);
      expect(`sha256:${Buffer.from(summary.digest!).toString('hex')}`).toBe(sha256(padded));
    }
    // Padding, then something else: zlib stops looking at the first zero byte after a member,
    // so this may pass; either way never a wrong or short tar, and the digest covers it all.
    for (const sizes of [4096, 65536, randomSizes(11, 5)]) {
      const tail = concat([gz, new Uint8Array(100_000), new TextEncoder().encode('garbage')]);
      try {
        const { out, summary } = await decompress(tail, sizes);
        expect(sha256(out)).toBe(sha256(data));
        expect(`sha256:${Buffer.from(summary.digest!).toString('hex')}`).toBe(sha256(tail));
      } catch (e) {
        expect(e).toBeInstanceOf(CompressionError);
      }
    }
  });
});

describe('hostile zstd through the decompressor', () => {
  it.runIf(toolsAvailable('zstd'))(
    'truncated and corrupt streams error the readable and done',
    async () => {
      const z = zstdCli(data, ['-3']);
      for (const end of [5, 6, 20, z.length >> 1, z.length - 1]) {
        const e = await failure(z.subarray(0, end), 777);
        expect(e.message).toMatch(/^zstd: /);
      }
      const bad = z.slice();
      bad[10] = bad[10]! | 0b110; // first block header: reserved type
      await failure(bad);
    },
  );

  it.runIf(toolsAvailable('zstd'))(
    "the input's own failure (an aborted fetch, say) is passed on, not called corrupt zstd",
    async () => {
      const abort = new DOMException('The operation was aborted.', 'AbortError');
      await expectInputFailurePassedOn(zstdCli(data, ['-3']), abort);
    },
  );
});
