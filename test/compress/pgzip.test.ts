/**
 * The pgzip engine against klauspost/pgzip and klauspost/compress themselves (built at test
 * time with the `go` tool from Debian's packages, the versions Debian's umoci and skopeo are
 * built with): the same bytes for edge sizes, text, random data, zeros, a tar, inputs of
 * several 1 MiB pgzip blocks whose matches reach into the block before, random inputs of
 * literals, repeats and runs, whatever the sizes of the writes; and the hash positions'
 * rebasing near 2^31, which a long enough stream reaches.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KlauspostFlateWriter } from '../../src/compress/klauspost-flate/compressor.js';
import { BUFFER_RESET, hash7 } from '../../src/compress/klauspost-flate/fast-gen.js';
import { PgzipDeflater } from '../../src/compress/klauspost-flate/pgzip.js';
import { lend } from '../../src/lend.js';
import {
  coreDeflateEngines,
  createGzipWriter,
  type DeflateEngine,
  findGzipParams,
} from '../../src/oci/gzip-reproduce.js';
import {
  klauspostDeflateEngine,
  PGZIP_ENGINE,
  PGZIP_UMOCI_ENGINE,
  UMOCI_BLOCK_SIZE,
} from '../../src/oci/klauspost-deflate-engine.js';
import { layerMethod } from '../../src/oci/restore-plan.js';
import { concat, firstDifference, pseudoRandom, text, xorshift32 } from '../helpers/bytes.js';
import { drive, literalsRepeatsRuns, viaEngine } from '../helpers/deflate.js';
import { collect, sha256, within } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { drifting, goldenInputs } from '../pgzip/golden-inputs.js';
import { klauspostDeflate, pgzipAvailable, pgzipGzip } from '../pgzip/pgzip.js';
import { layerTar } from '../pipeline/flatten-helpers.js';

function oursRaw(input: Uint8Array, writeSize = 32768, level = 5): Uint8Array {
  const w = new KlauspostFlateWriter(level);
  w.resetDict(null);
  return drive(w, input, writeSize);
}

const oursPgzip = (input: Uint8Array, writeSize = 32768, blockSize?: number, level = 5) =>
  drive(new PgzipDeflater(level, blockSize), input, writeSize);

/** pgzip's deflate stream: its gzip without the 10-byte header and 8-byte trailer. */
const pgzipBody = (input: Uint8Array, writeSize = 32768, blockSize?: number, level = 5) =>
  pgzipGzip(input, level, writeSize, blockSize).subarray(10, -8);

const MiB = 1 << 20;

const inputs: Record<string, Uint8Array> = {
  empty: new Uint8Array(0),
  'one byte': Uint8Array.of(42),
  '12 bytes': text(12, 1),
  '13 bytes': text(13, 2),
  '33 bytes': text(33, 3),
  '127 bytes': text(127, 4),
  '128 bytes': pseudoRandom(128, 5),
  '65,535 bytes of text': text(65535, 6),
  '65,536 random bytes': pseudoRandom(65536, 7),
  'text, 600 KB': text(600_000, 8),
  'random, 300 KB': pseudoRandom(300_000, 9),
  'zeros, 300 KB': new Uint8Array(300_000),
  'text then random then text': concat([
    text(70_000, 10),
    pseudoRandom(90_000, 11),
    text(70_000, 10),
  ]),
  'a tar': layerTar([
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/os-release', body: 'ID=test\n' },
    { type: 'file', path: 'bin/tool', body: pseudoRandom(150_000, 12), mode: 0o755 },
    { type: 'file', path: 'usr/share/doc/words', body: text(400_000, 13) },
    { type: 'symlink', path: 'bin/alias', target: 'tool' },
  ]),
};

/** Several pgzip blocks: text repeated across block ends (matches into the dictionary), runs. */
const blocks: Record<string, Uint8Array> = {
  'exactly 1 MiB': text(MiB, 14),
  '1 MiB + 1': text(MiB + 1, 15),
  '2 MiB of zeros': new Uint8Array(2 * MiB),
  'text, random and runs over 3.5 MiB': (() => {
    const t = text(700_000, 16);
    return concat([t, pseudoRandom(600_000, 17), t, new Uint8Array(500_000).fill(7), t, t]);
  })(),
};

describe.runIf(toolsAvailable('go') && pgzipAvailable())("the pgzip engine: pgzip's bytes", () => {
  for (const [name, input] of Object.entries(inputs)) {
    it(`${name}: klauspost's flate and pgzip, levels 5 and 6`, () => {
      for (const level of [5, 6]) {
        const raw = oursRaw(input, 32768, level);
        expect(firstDifference(raw, klauspostDeflate(input, level)), `flate ${level}`).toBe(-1);
        const gz = oursPgzip(input, 32768, undefined, level);
        expect(
          firstDifference(gz, pgzipBody(input, 32768, undefined, level)),
          `pgzip ${level}`,
        ).toBe(-1);
      }
    });
  }

  for (const [name, input] of Object.entries(blocks)) {
    it(`${name}, in pgzip blocks of 1 MiB and of umoci's 256 KiB, levels 5 and 6`, () => {
      for (const level of [5, 6]) {
        for (const blockSize of [undefined, UMOCI_BLOCK_SIZE]) {
          const ours = oursPgzip(input, 32768, blockSize, level);
          const want = pgzipBody(input, 32768, blockSize, level);
          expect(firstDifference(ours, want), `level ${level}, blocks ${blockSize}`).toBe(-1);
        }
      }
    });
  }

  it('does not depend on the sizes of the writes, here or in pgzip', () => {
    const input = blocks['text, random and runs over 3.5 MiB']!;
    const want = pgzipBody(input);
    for (const writeSize of [7, 1000, 65537, 1_000_003]) {
      expect(firstDifference(pgzipBody(input, writeSize), want), `pgzip, ${writeSize}`).toBe(-1);
      expect(firstDifference(oursPgzip(input, writeSize), want), `ours, ${writeSize}`).toBe(-1);
    }
  });

  it('random inputs of literals, repeats and runs', () => {
    fc.assert(
      fc.property(literalsRepeatsRuns, (input) => {
        for (const level of [5, 6]) {
          const ours = oursRaw(input, 32768, level);
          expect(firstDifference(ours, klauspostDeflate(input, level)), `level ${level}`).toBe(-1);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('windows whose statistics change: reusing the open codes or not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const input = drifting(3 + (seed % 6), seed);
        expect(firstDifference(oursRaw(input), klauspostDeflate(input, 5))).toBe(-1);
      }),
      { numRuns: 30 },
    );
  });

  it('a real binary (the go tool, 6 MiB of it): windows that reuse codes or start new ones', () => {
    // Machine code and data change statistics from window to window, where the writer's
    // estimates for reusing the open block's codes and for new ones often lie within a percent
    // (on a tar of Go's tools, 195 of 308 such decisions).
    const go = join(execFileSync('go', ['env', 'GOROOT'], { encoding: 'utf8' }).trim(), 'bin/go');
    const input = new Uint8Array(readFileSync(go).subarray(0, 6 * MiB));
    expect(firstDifference(oursRaw(input), klauspostDeflate(input, 5)), 'flate').toBe(-1);
    expect(firstDifference(oursPgzip(input), pgzipBody(input)), 'pgzip').toBe(-1);
    const six = oursRaw(input, 32768, 6);
    expect(firstDifference(six, klauspostDeflate(input, 6)), 'flate, level 6').toBe(-1);
  });

  it('rebasing hash positions near 2^31 changes nothing', () => {
    // A stream long enough (about 2 GiB) reaches the rebase; here the encoder starts near it.
    const input = concat([text(400_000, 18), pseudoRandom(100_000, 19), text(400_000, 18)]);
    const w = new KlauspostFlateWriter(5);
    w.resetDict(null);
    const fast = (w as unknown as { fast: { cur: number } }).fast;
    fast.cur = BUFFER_RESET - 200_000;
    const out = drive(w, input, 32768);
    expect(fast.cur).toBeLessThan(BUFFER_RESET - 200_000);
    expect(firstDifference(out, klauspostDeflate(input, 5))).toBe(-1);
  });

  it("finds pgzip level 5, with pgzip's blocks or umoci's, among the core engines", async () => {
    const input = blocks['1 MiB + 1']!;
    const find = (blob: Uint8Array) =>
      findGzipParams(
        () =>
          new ReadableStream({
            start(c) {
              c.enqueue(blob);
              c.close();
            },
          }),
        { engines: coreDeflateEngines() },
      );
    expect((await find(pgzipGzip(input, -1))).params).toMatchObject({
      engine: PGZIP_ENGINE,
      level: 5,
      memLevel: 8,
    });
    expect((await find(pgzipGzip(input, -1, 32768, UMOCI_BLOCK_SIZE))).params).toMatchObject({
      engine: PGZIP_UMOCI_ENGINE,
      level: 5,
    });
  });
});

/**
 * klauspost/compress v1.18.2's output for `goldenInputs()`: [input, framing and level, length,
 * sha256]. Made on 2026-11-28 with `test/pgzip/pgzip.go` built against klauspost/compress at
 * tag v1.18.2 (its flate package, with a shim for Go 1.19: `min`, `max`, `clear` and
 * range-over-int loops rewritten) and pgzip 1.2.5 built against that; `pgzip` rows are the
 * deflate stream without the gzip header and trailer. Every row differs from v1.15.12's.
 */
const GOLDEN_1_18_2: Array<[string, string, number, string]> = [
  ['a tar', 'raw 5', 228572, '1ba6aadd9559aa32d59ad14e4d0af0b00e9729d854ec67e5e9159a5c03cb4aa1'],
  ['a tar', 'raw 6', 223839, '92efbbc56bb0550c9c94205845cb1f19b1c7b11639e7920eb85f62ed785609f9'],
  ['a tar', 'pgzip 5', 228577, '98e7fba8482de373ad5a4b19841e3e0ecb0dc78cf907414dd260edd8cf3e50ce'],
  ['a tar', 'pgzip 6', 223844, '4ba3c1dee53787b7485e956138c83358402c2c60f4a3f22503d28b57e7ae9cb3'],
  [
    'a tar',
    'pgzip 5 256k',
    228601,
    '22ed4dadb2c5f831566ab8449477d173a5f75dfd3290ef5c41207ec95f92599d',
  ],
  [
    'drifting statistics, 2 MB',
    'raw 5',
    566550,
    '3a8c0bdb743333be9215c6262dc7f093e291cea4a60eea51ed0936efa23111ae',
  ],
  [
    'drifting statistics, 2 MB',
    'raw 6',
    550060,
    '4e101c61438f2d0ece79132e6cf3a8f5ea25ea82e396ed9b0de92c3bcbba7f15',
  ],
  [
    'drifting statistics, 2 MB',
    'pgzip 5',
    566579,
    'bbb8b04204fbd2a9b1d16cde0503321e4f1186edff8d62c5ee8b05e5d672afa8',
  ],
  [
    'drifting statistics, 2 MB',
    'pgzip 6',
    550097,
    '91bef5e77695bb6590d0ed7f3f84b8abf12fac1ded81213daf5ebc9d06e19222',
  ],
  [
    'drifting statistics, 2 MB',
    'pgzip 5 256k',
    566662,
    '87517a54096ef392ce1d6f19100e2bf7e36dc67bc29cca5ca3ef903b274f1eee',
  ],
  [
    'text, 300 KB',
    'raw 5',
    55577,
    'f131e795be6e4dd31f1cea0a98adb8bb3c9cd8bba9cbc31ddd41779c24499824',
  ],
  [
    'text, 300 KB',
    'raw 6',
    52940,
    '9a9622f2ca5a09a143f7cea82a7b93b1b1c1bed4cf20857c9e74185974c5dbe7',
  ],
  [
    'text, 300 KB',
    'pgzip 5',
    55582,
    'd87a38e77e1d5567b97cc0d48bb46a469360c64267e615ea833caa40712064e5',
  ],
  [
    'text, 300 KB',
    'pgzip 6',
    52945,
    'd180fcf43a08aa6708a8e7d41277ae2fc390456b0e4a8f4e74b92f576ec61c57',
  ],
  [
    'text, 300 KB',
    'pgzip 5 256k',
    55577,
    'ef2d9037dd66be9ae5012035c4863107719aeb1efb0d3370921ad41aeea1da9b',
  ],
  [
    'text, random and runs, 3.5 MiB',
    'raw 5',
    1127856,
    'e5b29ebb5204a13bbf4610ff09f04407d808aa33fd7fff37d9d1bee68cf25ece',
  ],
  [
    'text, random and runs, 3.5 MiB',
    'raw 6',
    1098841,
    '50d97a5fc64ee048193c32ecaf0351b323625c19c40f6cba40a5721ac92c500a',
  ],
  [
    'text, random and runs, 3.5 MiB',
    'pgzip 5',
    1123486,
    'f225ddca04aaa26c3fc341191a9d9387500b047aa12ac4629192de7dba3f9236',
  ],
  [
    'text, random and runs, 3.5 MiB',
    'pgzip 6',
    1099295,
    '0a6e65fa368fd7aa3f8d5566b8f485331d0dc9a04b42e536a931332bef3d2b32',
  ],
  [
    'text, random and runs, 3.5 MiB',
    'pgzip 5 256k',
    1124341,
    'b04d456f7ad77e9810a2a10eab3ba59b84fc7ec793d5cb07a909f539079da418',
  ],
];

describe('klauspost/compress v1.18.2 (also Go 1.27): pinned digests', () => {
  const inputs = goldenInputs();
  for (const [name, kind, length, digest] of GOLDEN_1_18_2) {
    it(`${name}: ${kind}`, () => {
      const [framing, level, blocks] = kind.split(' ');
      const input = inputs[name]!;
      const out =
        framing === 'raw'
          ? (() => {
              const w = new KlauspostFlateWriter(Number(level), '1.18.2');
              w.resetDict(null);
              return drive(w, input, 32768);
            })()
          : drive(
              new PgzipDeflater(
                Number(level),
                blocks === '256k' ? UMOCI_BLOCK_SIZE : undefined,
                '1.18.2',
              ),
              input,
              32768,
            );
      expect([out.length, sha256(out)]).toEqual([length, `sha256:${digest}`]);
    });
  }
});

describe('the pgzip engine', () => {
  it('gives the same stream however its input arrives', async () => {
    const input = blocks['text, random and runs over 3.5 MiB']!;
    const want = oursPgzip(input);
    const next = xorshift32(20);
    for (const size of [() => 1 + (next() % 5000), () => 1 + (next() % 3_000_000)]) {
      expect(firstDifference(await viaEngine(klauspostDeflateEngine(), 5, input, size), want)).toBe(
        -1,
      );
    }
  });

  it('gives lent buffers back once the engine has taken them; the stream is the same', async () => {
    const input = text(300_000, 22);
    const back: ArrayBuffer[] = [];
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < input.length; at += 40_000) {
      const piece = input.slice(at, at + 40_000);
      lend(piece.buffer, (b) => back.push(b));
      pieces.push(piece);
    }
    const header = '1f8b08000000000000ff';
    const params = { engine: PGZIP_ENGINE, level: 5, memLevel: 8, strategy: 0, header };
    const gzip = (engine: DeflateEngine) => {
      const queue = [...pieces];
      const source = new ReadableStream<Uint8Array>({
        pull(c) {
          const p = queue.shift();
          if (p) c.enqueue(p);
          else c.close();
        },
      });
      return collect(source.pipeThrough(createGzipWriter(params, engine, { giveBack: true })));
    };
    // An engine that may keep its input (Node's zlib) gets nothing given back.
    await gzip({ ...klauspostDeflateEngine(), copiesInput: false });
    expect(back).toHaveLength(0);
    const out = await gzip(klauspostDeflateEngine());
    expect(back).toEqual(pieces.map((p) => p.buffer));
    expect(firstDifference(out.subarray(10, -8), oursPgzip(input))).toBe(-1);
  });

  it('takes a first write before anything is read, as a TransformStream pipe does', async () => {
    const header = '1f8b08000000000000ff';
    const params = { engine: PGZIP_ENGINE, level: 5, memLevel: 8, strategy: 0, header };
    for (const giveBack of [false, true]) {
      const pair = createGzipWriter(params, klauspostDeflateEngine(), { giveBack });
      const writer = pair.writable.getWriter();
      await within(writer.write(text(1000, 23)));
      const out = collect(pair.readable);
      await writer.close();
      expect((await out).subarray(10, -8)).toEqual(oursPgzip(text(1000, 23)));
    }
  });

  it('a recorded level it lacks: the layer comes back uncompressed, with the reason', () => {
    const gzip = { engine: PGZIP_ENGINE, level: 4, memLevel: 8, strategy: 0, header: '1f8b' };
    const record = {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: `sha256:${'1'.repeat(64)}`,
      size: 10,
      diffId: `sha256:${'2'.repeat(64)}`,
      compression: 'gzip' as const,
      gzip,
    };
    expect(layerMethod(record, [klauspostDeflateEngine()])).toEqual({
      how: 'uncompressed',
      reason: `deflate engine ${PGZIP_ENGINE} has no level 4`,
    });
    expect(
      layerMethod({ ...record, gzip: { ...gzip, level: 5 } }, [klauspostDeflateEngine()]),
    ).toMatchObject({ how: 'recompressed' });
  });

  it('ends an empty stream with a sync flush and an empty final fixed block', () => {
    expect(oursPgzip(new Uint8Array(0))).toEqual(Uint8Array.of(0, 0, 0, 0xff, 0xff, 3, 0));
  });

  it('refuses levels not built, blocks of 16 KiB or less, and writes after close', () => {
    expect(() => new KlauspostFlateWriter(4)).toThrow(/level 4 is not built/);
    expect(() => new PgzipDeflater(5, 16384)).toThrow(RangeError);
    const w = new PgzipDeflater(5);
    w.close();
    expect(() => w.write(Uint8Array.of(1))).toThrow(/after close/);
  });

  it("hashes 7 bytes as klauspost's 64-bit multiply does", () => {
    const next = xorshift32(21);
    for (let i = 0; i < 1000; i++) {
      const lo = next() >>> 0;
      const hi = next() >>> 0;
      const word = (BigInt(hi) << 32n) | BigInt(lo);
      const want = Number(
        (((word << 8n) * 0xcf1bbcdcbfa563n) & 0xffffffffffffffffn) >> BigInt(64 - 15),
      );
      expect(hash7(lo, hi)).toBe(want);
    }
  });
});
