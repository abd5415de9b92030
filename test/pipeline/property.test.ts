/**
 * Round-trip property: any tar built from a random tree (unicode and very long paths, files of
 * 0..300 KiB with exact 512-multiples and repeated content, directories, symlinks, hardlinks,
 * random modes, ids and sub-second times, optional bytes after the end blocks), converted with
 * random input splits and random small chunker parameters, reassembles to the identical bytes;
 * and the index does not depend on the input split nor on the CDC kernel.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadCdcKernel } from '../../src/cdc/index.js';
import { CDC_ALGORITHM, validateChunkerParams } from '../../src/cdc/params.js';
import type { ChunkerParams } from '../../src/cdc/types.js';
import { createIndexEncoder } from '../../src/format/encoder.js';
import { FORMAT_VERSION } from '../../src/format/records.js';
import { parseDigest } from '../../src/hash/digest.js';
import { createRecordBuilder } from '../../src/pipeline/build-records.js';
import { createBodyChunker } from '../../src/pipeline/chunk-bodies.js';
import { createTarChunker } from '../../src/pipeline/chunk-tar.js';
import { convert } from '../../src/pipeline/convert.js';
import { createChunkDigester } from '../../src/pipeline/digest-chunks.js';
import { reassemble } from '../../src/pipeline/reassemble.js';
import { createChunkStorer } from '../../src/pipeline/store-chunks.js';
import { MemoryStore } from '../../src/store/memory.js';
import { encodeHeader, paddingSize, type TarHeaderInput } from '../../src/tar/header.js';
import { createTarTokenizer } from '../../src/tar/tokenizer.js';
import type { TarTime } from '../../src/tar/types.js';
import { concat, pseudoRandom } from '../helpers/bytes.js';
import { convertBytes, hash, reassembleBytes } from '../helpers/layers.js';
import { collect, lendingSource, readAll, sha256, streamOf } from '../helpers/streams.js';

const KiB = 1024;

/** Bytes from a seeded generator; `period` > 0 repeats a short pattern (dedup-friendly). */
function content(size: number, seed: number, period: number): Uint8Array {
  const out = new Uint8Array(size);
  const n = period > 0 ? Math.min(period, size) : size;
  out.set(pseudoRandom(n, seed));
  for (let i = n; i < size; i++) out[i] = out[i - n]!;
  return out;
}

const segment = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z0-9._-]{1,12}$/) },
  {
    weight: 2,
    arbitrary: fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 6 })
      .filter((s) => !s.includes('/') && !s.includes('\0')),
  },
  { weight: 1, arbitrary: fc.constantFrom(60, 101, 150, 254, 300).map((n) => 'L'.repeat(n)) },
);
const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((p) => p.join('/'));

const time: fc.Arbitrary<number | TarTime> = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 33 }),
  fc.record({
    sec: fc.integer({ min: -(2 ** 31), max: 2 ** 34 }),
    nsec: fc.integer({ min: 0, max: 999_999_999 }),
  }),
  fc.integer({ min: 0, max: 2 ** 31 }).map((s) => s + 0.25),
);

const id = fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 2 ** 31 }));
const name = fc.oneof(
  fc.constant(''),
  fc.stringMatching(/^[a-z]{1,40}$/),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
);

const size = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 3000 }) },
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 511, 512, 513, 1024, 4096, 65536, 300 * KiB) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 300 * KiB }) },
);

interface EntrySpec {
  kind: 'file' | 'directory' | 'symlink' | 'hardlink';
  path: string;
  size: number;
  /** 0: unique bytes; 1: copy of an earlier file's bytes; 2: a repeating pattern; 3: zeros. */
  fill: number;
  seed: number;
  link: string;
  linkTo: number;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number | TarTime;
  atime?: number | TarTime;
}

const entry: fc.Arbitrary<EntrySpec> = fc.record(
  {
    kind: fc.constantFrom('file', 'file', 'file', 'directory', 'symlink', 'hardlink'),
    path,
    size,
    fill: fc.integer({ min: 0, max: 3 }),
    seed: fc.integer({ min: 1, max: 2 ** 31 }),
    link: path,
    linkTo: fc.nat(),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: id,
    gid: id,
    uname: name,
    gname: name,
    mtime: time,
    atime: time,
  },
  {
    requiredKeys: [
      'kind',
      'path',
      'size',
      'fill',
      'seed',
      'link',
      'linkTo',
      'mode',
      'uid',
      'gid',
      'uname',
      'gname',
      'mtime',
    ],
  },
);

/** Builds the tar: header, body, zero padding per entry; two zero blocks; then `trailing`. */
function buildTar(entries: EntrySpec[], trailing: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  const files: Array<{ path: string; body: Uint8Array }> = [];
  for (const e of entries) {
    let body: Uint8Array = new Uint8Array(0);
    let linkname = '';
    let p = e.path;
    if (e.kind === 'file') {
      const earlier = files[e.linkTo % Math.max(1, files.length)];
      body =
        e.fill === 1 && earlier
          ? earlier.body
          : e.fill === 3
            ? new Uint8Array(e.size)
            : content(e.size, e.seed, e.fill === 2 ? 1 + (e.seed % 3000) : 0);
      files.push({ path: p, body });
    } else if (e.kind === 'directory') {
      p = `${p}/`;
    } else if (e.kind === 'symlink') {
      linkname = e.link;
    } else {
      linkname = files[e.linkTo % Math.max(1, files.length)]?.path ?? e.link;
    }
    const input: TarHeaderInput = {
      path: p,
      kind: e.kind,
      size: body.length,
      linkname,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      uname: e.uname,
      gname: e.gname,
      mtime: e.mtime,
    };
    if (e.atime !== undefined) input.atime = e.atime;
    parts.push(encodeHeader(input), body, new Uint8Array(paddingSize(body.length)));
  }
  parts.push(new Uint8Array(1024), trailing);
  return concat(parts);
}

/** Piece sizes, cycled: small ones land on every kind of boundary; 64 KiB keeps it quick. */
const splits = fc
  .array(
    fc.oneof(
      fc.integer({ min: 1, max: 16 }),
      fc.integer({ min: 17, max: 5000 }),
      fc.integer({ min: 5000, max: 100_000 }),
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map((s) => [...s, 65536]);

const chunker: fc.Arbitrary<ChunkerParams> = fc
  .record({
    avgLog: fc.integer({ min: 8, max: 11 }),
    min: fc.integer({ min: 64, max: 2047 }),
    maxFactor: fc.integer({ min: 2, max: 8 }),
  })
  .map(({ avgLog, min, maxFactor }) => {
    const avg = 2 ** avgLog;
    return validateChunkerParams({ min: Math.min(min, avg - 1), avg, max: avg * maxFactor });
  });

const trailing = fc.oneof(
  { weight: 3, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 3000 }) },
  { weight: 1, arbitrary: fc.constantFrom(new Uint8Array(512), new Uint8Array(8192)) },
);

/** A tar's entries and tail, chunk bounds, input splits and concurrency: one stage's case. */
const stageCase = [
  fc.array(entry, { minLength: 0, maxLength: 8 }),
  trailing,
  chunker,
  splits,
  fc.integer({ min: 1, max: 9 }),
] as const;

describe('convert → reassemble round trip (property)', () => {
  it('rebuilds every random tar exactly; the index is split- and kernel-independent', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(entry, { minLength: 0, maxLength: 8 }),
        trailing,
        chunker,
        splits,
        splits,
        fc.integer({ min: 1, max: 5000 }),
        async (entries, tail, params, splitA, splitB, indexSplit) => {
          const tar = buildTar(entries, tail);
          const storeA = new MemoryStore();
          const a = await convertBytes(tar, storeA, {
            sizes: splitA,
            kernel: 'wasm',
            chunker: params,
          });
          expect(a.result.diffId).toBe(sha256(tar));
          expect(a.result.tarSize).toBe(tar.length);
          expect(a.result.entries).toBe(entries.length);

          const rebuilt = await reassembleBytes(a.index, storeA, indexSplit);
          expect(rebuilt.length).toBe(tar.length);
          expect(sha256(rebuilt)).toBe(sha256(tar));

          const b = await convertBytes(tar, new MemoryStore(), {
            sizes: splitB,
            kernel: 'wasm',
            chunker: params,
          });
          expect(sha256(b.index)).toBe(sha256(a.index));

          const storeJs = new MemoryStore();
          const js = await convertBytes(tar, storeJs, {
            sizes: splitB,
            kernel: 'js',
            chunker: params,
          });
          expect(sha256(js.index)).toBe(sha256(a.index));
          expect([...storeJs.digests()].sort()).toEqual([...storeA.digests()].sort());
        },
      ),
      { seed: 0x1a7e4d1f, numRuns: 50 },
    );
  });

  it('lent input buffers come back only when no stage still needs them (poisoned on return)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(entry, { minLength: 0, maxLength: 8 }),
        trailing,
        chunker,
        splits,
        async (entries, tail, params, split) => {
          const tar = buildTar(entries, tail);
          const expected = await convertBytes(tar, new MemoryStore(), { chunker: params });
          const store = new MemoryStore();
          let given = 0;
          const { index, done } = convert(
            lendingSource(tar, split, () => given++),
            {
              store,
              hash,
              chunker: params,
            },
          );
          const root = await collect(index);
          await done;
          expect(sha256(root)).toBe(sha256(expected.index));
          expect(sha256(await reassembleBytes(root, store))).toBe(sha256(tar));
          if (tar.length > 4 * 65536) expect(given).toBeGreaterThan(0);
        },
      ),
      { seed: 0x5eed1e4d, numRuns: 40 },
    );
  });

  it('the one-stage tar chunker gives exactly the tokens of the four streams it stands for', async () => {
    const kernel = await loadCdcKernel();
    await fc.assert(
      fc.asyncProperty(...stageCase, async (entries, tail, params, split, concurrency) => {
        const tar = buildTar(entries, tail);
        // The same chunk twice in one store is new only once, whichever way it is reached.
        const fourStore = new MemoryStore();
        const four = await readAll(
          streamOf(tar, split)
            .pipeThrough(createTarTokenizer())
            .pipeThrough(createBodyChunker({ kernel, params }))
            .pipeThrough(createChunkDigester({ hash, concurrency }))
            .pipeThrough(createChunkStorer({ store: fourStore, concurrency })),
        );
        const oneStore = new MemoryStore();
        const one = await readAll(
          streamOf(tar, split).pipeThrough(
            createTarChunker({ kernel, params, hash, store: oneStore, concurrency }),
          ),
        );
        expect(one).toEqual(four);
        expect([...oneStore.digests()].sort()).toEqual([...fourStore.digests()].sort());
      }),
      { seed: 0x0c7a1e55, numRuns: 40 },
    );
  });

  it("convert's one stage writes exactly the flat index of the public streams it stands for", async () => {
    const kernel = await loadCdcKernel();
    await fc.assert(
      fc.asyncProperty(...stageCase, async (entries, tail, params, split, concurrency) => {
        const tar = buildTar(entries, tail);
        const streams = await readAll(
          streamOf(tar, split)
            .pipeThrough(
              createTarChunker({ kernel, params, hash, store: new MemoryStore(), concurrency }),
            )
            .pipeThrough(
              createRecordBuilder({
                layer: async () => ({
                  type: 'layer',
                  version: FORMAT_VERSION,
                  chunker: { algorithm: CDC_ALGORITHM, ...params },
                  digest: 'sha256',
                  compression: 'none',
                }),
                trailer: async () => ({ diffId: parseDigest(sha256(tar))!, size: tar.length }),
              }),
            )
            .pipeThrough(createIndexEncoder()),
        );
        const { index } = convert(streamOf(tar, split), {
          store: new MemoryStore(),
          hash,
          kernel,
          chunker: params,
          concurrency,
          index: 'flat',
        });
        expect(concat(await readAll(index))).toEqual(concat(streams));
      }),
      { seed: 0x0c7a1e56, numRuns: 40 },
    );
  });
});

describe('reassemble of a byte range (property)', () => {
  it('gives exactly bytes start..end of the tar, for random tars and ranges', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(entry, { minLength: 0, maxLength: 8 }),
        trailing,
        chunker,
        fc.nat(),
        fc.nat(),
        async (entries, tail, params, x, y) => {
          const tar = buildTar(entries, tail);
          const store = new MemoryStore();
          const { index } = await convertBytes(tar, store, { chunker: params });
          // Ranges inside the tar, and ones whose end reaches past it (the tar's end ends them).
          const start = x % tar.length;
          const end = start + (y % (tar.length - start + 64));
          const got = await collect(
            reassemble(streamOf(index), store, { hash, range: { start, end } }),
          );
          expect(sha256(got)).toBe(sha256(tar.subarray(start, end + 1)));
        },
      ),
      { seed: 0x5a4e9e, numRuns: 60 },
    );
  });

  it('does not fetch the chunks before the range, and stops after it', async () => {
    const big: EntrySpec = {
      kind: 'file',
      path: 'big',
      size: 4 << 20,
      fill: 0,
      seed: 11,
      link: '',
      linkTo: 0,
      mode: 0o644,
      uid: 0,
      gid: 0,
      uname: '',
      gname: '',
      mtime: 1_600_000_000,
    };
    const tar = buildTar([big], new Uint8Array(0));
    const store = new MemoryStore();
    const { index } = await convertBytes(tar, store);
    let gets = 0;
    const counting = {
      get: (d: string) => {
        gets++;
        return store.get(d);
      },
    };
    const whole = await collect(reassemble(streamOf(index), counting, { hash }));
    const all = gets;
    expect(all).toBeGreaterThan(30);
    for (const [start, end] of [
      [tar.length - 100, tar.length - 1],
      [2 << 20, (2 << 20) + 10],
      [0, 700],
    ] as const) {
      gets = 0;
      const got = await collect(
        reassemble(streamOf(index), counting, { hash, range: { start, end } }),
      );
      expect(sha256(got)).toBe(sha256(whole.subarray(start, end + 1)));
      // The chunks the range touches, and at most the read-ahead (4) after them.
      expect(gets, `${start}-${end}`).toBeLessThanOrEqual(6);
    }
  });

  it('refuses a range that is not two whole numbers from 0, or ends before it starts', () => {
    for (const range of [
      { start: -1, end: 5 },
      { start: 0.5, end: 5 },
      { start: 0, end: Number.NaN },
      { start: 5, end: 4 },
    ]) {
      expect(() => reassemble(streamOf(new Uint8Array(0)), new MemoryStore(), { range })).toThrow(
        /range must be/,
      );
    }
  });
});
