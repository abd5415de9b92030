/**
 * A pack store repairs itself across processes: a record whose digest check fails is listed in
 * `packs/<name>.bad`, and stores opened later (a fresh `PackStore`, as a new process opens)
 * count it as absent, so the next conversion stores the chunk again. Only a failure that proves
 * the record bad lists it, and a damaged or hostile list costs at worst a chunk stored again.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { type ChunkCodec, webChunkCodec } from '../../src/compress/chunk-codec.js';
import { ChunkDigestError, CompressionError } from '../../src/errors.js';
import { MAX_BAD_BYTES } from '../../src/node/bad-records.js';
import { nodeChunkCodec } from '../../src/node/chunk-codec.js';
import { collectGarbage } from '../../src/node/gc.js';
import { LIST_CHECK_MS, PackStore } from '../../src/node/pack-store.js';
import { applyDiff } from '../../src/pipeline/apply.js';
import { createDiff } from '../../src/pipeline/diff.js';
import { RECORD_HEADER_BYTES } from '../../src/store/pack-format.js';
import { makeTar, requireDist, runCli } from '../cli/run.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { convertBytes, hash, reassembleBytes } from '../helpers/layers.js';
import {
  flipStoredBit,
  largestRecord,
  type PackRecord,
  packRecords,
  reverseIndex,
} from '../helpers/packs.js';
import { collect, sha256, streamOf } from '../helpers/streams.js';
import { tarOf } from '../helpers/tars.js';
import { toolsAvailable } from '../helpers/tools.js';
import { chunk, expectBytes } from './conformance.js';

const roots: string[] = [];
const fresh = async () => {
  const r = await mkdtemp(join(tmpdir(), 'layerdiff-bad-'));
  roots.push(r);
  return r;
};
afterAll(() => Promise.all(roots.map((r) => rm(r, { recursive: true, force: true }))));

/** The `.bad` files of a store. */
const lists = (root: string) =>
  readdirSync(join(root, 'packs'))
    .filter((f) => f.endsWith('.bad'))
    .sort();
/** A record's list of bad records. */
const listOf = (r: PackRecord) => r.pack.replace(/\.pack$/, '.bad');
/** A record's line in a list. */
const lineOf = (r: PackRecord) => `${r.digest} ${r.entry.offset}\n`;

/** The look for lists a store has under way, if any (`has` and `put` do not wait for it). */
const lookOf = (s: PackStore) => (s as unknown as { looking?: Promise<void> }).looking;

/** A store of `n` chunks in one pack, and its records. */
async function storeOf(n: number, seed: number) {
  const root = await fresh();
  const s = await PackStore.open(root);
  const cs = Array.from({ length: n }, (_, i) => chunk(20_000 + i * 1000, seed + i));
  for (const c of cs) await s.put(c.digest, c.bytes);
  await s.close();
  const records = packRecords(root);
  const recordOf = (c: { digest: string }) => records.find((r) => r.digest === c.digest)!;
  return { root, cs, recordOf };
}

/** A store of one deflated chunk of `phrase` repeated. */
async function deflatedStore(phrase: string) {
  const root = await fresh();
  const words = new TextEncoder().encode(phrase.repeat(4000));
  const digest = sha256(words);
  const w = await PackStore.open(root, { codec: nodeChunkCodec({ algorithm: 'deflate' }) });
  await w.put(digest, words);
  await w.close();
  return { root, words, digest };
}

describe('PackStore, records found bad', () => {
  it('a deflate record that does not inflate is proven bad and listed, read through the web codec too', async () => {
    // webDecode's errors had carried a cause with a code (ERR_COMPRESSION) that the proof
    // did not take for the bytes' fault: the record was refused, but never listed.
    for (const codec of [nodeChunkCodec({ algorithm: 'deflate' }), webChunkCodec()]) {
      const { root, digest } = await deflatedStore('a phrase that deflates well ');
      const [bad] = packRecords(root);
      // The first byte of the deflate data: block type 3 does not exist.
      const at = bad!.entry.offset + RECORD_HEADER_BYTES;
      const bytes = readFileSync(bad!.pack);
      bytes[at] = 0xff;
      writeFileSync(bad!.pack, bytes);
      const s = await PackStore.open(root, { codec });
      await expect(s.get(digest)).rejects.toBeInstanceOf(ChunkDigestError);
      await s.close();
      expect(readFileSync(listOf(bad!), 'latin1')).toBe(lineOf(bad!));
    }
  });

  it.each([
    ['sorted index', false, false],
    ['sorted index, blocking, into a buffer', true, false],
    ['index of an earlier build (not sorted)', false, true],
  ])(
    'a bad record found in one process is absent to the next: put stores a good copy (%s)',
    async (_, blocking, older) => {
      const { root, cs, recordOf } = await storeOf(4, 100);
      const victim = cs[2]!;
      const bad = recordOf(victim);
      if (older) reverseIndex(bad.idx);
      flipStoredBit(bad);
      // Process 1: the read fails, typed, and lists the record.
      const into = blocking ? new Uint8Array(1 << 17) : undefined;
      const p1 = await PackStore.open(root, { blocking });
      await expect(p1.get(victim.digest, into)).rejects.toBeInstanceOf(ChunkDigestError);
      await p1.close();
      expect(readFileSync(listOf(bad), 'latin1')).toBe(`${lineOf(bad)}`);
      // Process 2: the record counts as absent; a put stores the chunk again, and reads back.
      const p2 = await PackStore.open(root, { blocking });
      expect(await p2.has(victim.digest)).toBe(false);
      for (const c of cs) expect(await p2.has(c.digest)).toBe(c !== victim);
      expect(await p2.put(victim.digest, victim.bytes)).toBe(true);
      expect(await p2.put(victim.digest, victim.bytes)).toBe(false);
      expectBytes(await p2.get(victim.digest, into), victim.bytes);
      await p2.close();
      // Process 3: the good copy serves, and every other chunk too.
      const p3 = await PackStore.open(root, { blocking });
      expect(await p3.has(victim.digest)).toBe(true);
      for (const c of cs) expectBytes(await p3.get(c.digest, into), c.bytes);
      await p3.close();
    },
  );

  it('a record listed bad and not stored again: a later read still fails typed, and says why', async () => {
    const { root, cs, recordOf } = await storeOf(2, 200);
    flipStoredBit(recordOf(cs[0]!));
    for (let i = 0; i < 2; i++) {
      const s = await PackStore.open(root);
      const err = await s.get(cs[0]!.digest).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChunkDigestError);
      expect((err as Error).message).toMatch(/holds 20000 bytes with digest/);
      await s.close();
    }
    // Listed once, however often it is found.
    expect(readFileSync(listOf(recordOf(cs[0]!)), 'latin1')).toBe(lineOf(recordOf(cs[0]!)));
  });

  it('two stores that find bad records of one pack at once both list them, whole lines', async () => {
    const { root, cs, recordOf } = await storeOf(6, 300);
    for (const c of cs) flipStoredBit(recordOf(c));
    const [s, t] = [await PackStore.open(root), await PackStore.open(root)];
    await Promise.all(
      cs.map((c, i) =>
        expect((i % 2 ? s : t).get(c.digest)).rejects.toBeInstanceOf(ChunkDigestError),
      ),
    );
    await Promise.all([s.close(), t.close()]);
    const lines = readFileSync(listOf(recordOf(cs[0]!)), 'latin1').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.sort()).toEqual(cs.map((c) => lineOf(recordOf(c)).trimEnd()).sort());
    const u = await PackStore.open(root);
    for (const c of cs) expect(await u.has(c.digest)).toBe(false);
    await u.close();
  });

  it('a store opened before a record was listed finds the list within LIST_CHECK_MS: has says no, put stores the chunk again', async () => {
    // A pack with a list when the store opens, and one without.
    const { root, cs, recordOf } = await storeOf(3, 1100);
    const d = chunk(30_000, 1200);
    const w = await PackStore.open(root);
    await w.put(d.digest, d.bytes);
    await w.close();
    const early = recordOf(cs[0]!);
    const grown = recordOf(cs[1]!);
    const added = packRecords(root).find((r) => r.digest === d.digest)!;
    for (const r of [early, grown, added]) flipStoredBit(r);
    writeFileSync(listOf(early), lineOf(early));
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      // A long-running store (a serve, a conversion under way).
      const s = await PackStore.open(root);
      expect(await s.has(cs[0]!.digest)).toBe(false);
      // Another process proves two records bad: one list grows, the other is made.
      const t = await PackStore.open(root);
      for (const c of [cs[1]!, d]) await expect(t.get(c.digest)).rejects.toThrow(ChunkDigestError);
      await t.close();
      expect(lists(root)).toHaveLength(2);
      // Until the store looks again, it counts them held; then absent.
      expect(await s.has(cs[1]!.digest)).toBe(true);
      expect(lookOf(s)).toBeUndefined();
      vi.setSystemTime(Date.now() + LIST_CHECK_MS);
      await s.has(cs[2]!.digest);
      await lookOf(s);
      expect(await s.has(cs[1]!.digest)).toBe(false);
      expect(await s.has(d.digest)).toBe(false);
      expect(await s.has(cs[2]!.digest)).toBe(true);
      expect(await s.put(d.digest, d.bytes)).toBe(true);
      expectBytes(await s.get(d.digest), d.bytes);
      await s.close();
    } finally {
      vi.useRealTimers();
    }
    // A put looks too: a conversion stores the chunk again rather than skip it.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const s = await PackStore.open(root);
      const e = chunk(31_000, 1300);
      await s.put(e.digest, e.bytes);
      await s.flush();
      const u = await PackStore.open(root);
      // u proves the record of e bad (in a pack s wrote), and lists it.
      flipStoredBit(packRecords(root).find((r) => r.digest === e.digest)!);
      await expect(u.get(e.digest)).rejects.toThrow(ChunkDigestError);
      await u.close();
      vi.setSystemTime(Date.now() + LIST_CHECK_MS);
      const f = chunk(32_000, 1400);
      await s.put(f.digest, f.bytes);
      await lookOf(s);
      expect(await s.put(e.digest, e.bytes)).toBe(true);
      expectBytes(await s.get(e.digest), e.bytes);
      await s.close();
    } finally {
      vi.useRealTimers();
    }
  });

  describe('only a proven failure lists a record', () => {
    it('a pack cut short under an open store: the read fails, nothing is listed', async () => {
      const { root, cs, recordOf } = await storeOf(3, 400);
      const r = recordOf(cs[2]!);
      const s = await PackStore.open(root);
      truncateSync(r.pack, r.entry.offset + 100);
      await expect(s.get(cs[2]!.digest)).rejects.toBeInstanceOf(ChunkDigestError);
      await s.close();
      expect(lists(root)).toEqual([]);
    });

    it('a first read that goes wrong where the file is right: read again, served, nothing listed', async () => {
      // A codec whose first decode scribbles on its output, as a caller changing the buffer
      // under the read would: the store reads the record again before it lists it.
      const { root, words, digest } = await deflatedStore('words that compress well ');
      const real = nodeChunkCodec();
      let decodes = 0;
      const scribbler: ChunkCodec = {
        encode: (b) => real.encode(b),
        async decode(c, max, into) {
          const out = await real.decode(c, max, into);
          if (decodes++ === 0) out[7]! ^= 1;
          return out;
        },
      };
      const s = await PackStore.open(root, { codec: scribbler });
      expectBytes(await s.get(digest), words);
      await s.close();
      expect(decodes).toBe(1);
      expect(lists(root)).toEqual([]);
    });

    it('a record damaged in bytes read ahead, repaired on disk since: the proof reads the file, served, nothing listed', async () => {
      // Small records read in order by a blocking store come from a window read ahead; the
      // proof must read what the file holds now, not the window again.
      const root = await fresh();
      const w = await PackStore.open(root);
      const cs = Array.from({ length: 10 }, (_, i) => chunk(3000 + i, 900 + i));
      for (const c of cs) await w.put(c.digest, c.bytes);
      await w.close();
      const r = packRecords(root).find((x) => x.digest === cs[5]!.digest)!;
      flipStoredBit(r);
      const s = await PackStore.open(root, { blocking: true });
      // The first two in order: the second reads ahead, over the damaged record.
      expectBytes(await s.get(cs[0]!.digest), cs[0]!.bytes);
      expectBytes(await s.get(cs[1]!.digest), cs[1]!.bytes);
      flipStoredBit(r);
      expectBytes(await s.get(cs[5]!.digest), cs[5]!.bytes);
      await s.close();
      expect(lists(root)).toEqual([]);
    });

    it('a decoder failure that is not the data (out of memory): not listed', async () => {
      const { root, digest } = await deflatedStore('more words that compress well ');
      const real = nodeChunkCodec();
      const failing: ChunkCodec = {
        encode: (b) => real.encode(b),
        decode: () =>
          Promise.reject(
            new CompressionError('chunk does not inflate: out of memory', {
              cause: Object.assign(new Error('out of memory'), { code: 'Z_MEM_ERROR' }),
            }),
          ),
      };
      const s = await PackStore.open(root, { codec: failing });
      await expect(s.get(digest)).rejects.toBeInstanceOf(ChunkDigestError);
      await s.close();
      expect(lists(root)).toEqual([]);
    });
  });

  describe('a list is a hint, read as hostile input', () => {
    it('garbage, cut lines and lines naming no record around a good line: that line counts, nothing else', async () => {
      const { root, cs, recordOf } = await storeOf(4, 500);
      const bad = recordOf(cs[0]!);
      flipStoredBit(bad);
      const good = recordOf(cs[1]!);
      const garbage = Buffer.from(pseudoRandom(4000, 7));
      writeFileSync(
        listOf(bad),
        Buffer.concat([
          garbage,
          Buffer.from(
            [
              '',
              lineOf(bad).trimEnd(),
              // Upper case, a sign, another offset, one beyond the pack, a line too long.
              lineOf(good).toUpperCase().trimEnd(),
              `${good.digest} +${good.entry.offset}`,
              `${good.digest} ${good.entry.offset + 1}`,
              `${good.digest} ${statSync(good.pack).size + 10}`,
              `${lineOf(good).trimEnd()} x`,
              `\0${lineOf(good).trimEnd()}`,
              // Cut short: no newline.
              `${lineOf(recordOf(cs[2]!)).trimEnd()}`,
            ].join('\n'),
            'latin1',
          ),
        ]),
      );
      const s = await PackStore.open(root);
      expect(await s.has(cs[0]!.digest)).toBe(false);
      for (const c of cs.slice(1)) {
        expect(await s.has(c.digest)).toBe(true);
        expectBytes(await s.get(c.digest), c.bytes);
      }
      expect(await s.put(cs[0]!.digest, cs[0]!.bytes)).toBe(true);
      expectBytes(await s.get(cs[0]!.digest), cs[0]!.bytes);
      await s.close();
    });

    it('a list naming good records: they are stored again, and read back meanwhile', async () => {
      const { root, cs, recordOf } = await storeOf(3, 600);
      writeFileSync(listOf(recordOf(cs[0]!)), cs.map((c) => lineOf(recordOf(c))).join(''));
      const s = await PackStore.open(root);
      // Counted absent, but no other copy: the listed one is read, and serves.
      for (const c of cs) expect(await s.has(c.digest)).toBe(false);
      for (const c of cs) expectBytes(await s.get(c.digest), c.bytes);
      expect(await s.put(cs[0]!.digest, cs[0]!.bytes)).toBe(true);
      await s.close();
      const t = await PackStore.open(root);
      expect(await t.has(cs[0]!.digest)).toBe(true);
      for (const c of cs) expectBytes(await t.get(c.digest), c.bytes);
      await t.close();
    });

    it('a huge list: its first part is read, nothing more is appended, and nothing is lost', async () => {
      const { root, cs, recordOf } = await storeOf(4, 700);
      const [bad, late] = [recordOf(cs[0]!), recordOf(cs[1]!)];
      flipStoredBit(bad);
      flipStoredBit(late);
      // The bad record's line first, 8 MiB of lines of no record, and the other's line.
      const filler = `sha256:${'0'.repeat(64)} 8\n`;
      const big = [
        lineOf(bad),
        filler.repeat(Math.ceil((8 << 20) / filler.length)),
        lineOf(late),
      ].join('');
      writeFileSync(listOf(bad), big, 'latin1');
      const size = statSync(listOf(bad)).size;
      expect(size).toBeGreaterThan(MAX_BAD_BYTES);
      const s = await PackStore.open(root);
      expect(await s.has(cs[0]!.digest)).toBe(false);
      // The line past the limit is not read: the record is found bad when read, in memory only.
      expect(await s.has(cs[1]!.digest)).toBe(true);
      await expect(s.get(cs[1]!.digest)).rejects.toBeInstanceOf(ChunkDigestError);
      expect(await s.has(cs[1]!.digest)).toBe(false);
      for (const c of cs.slice(2)) expectBytes(await s.get(c.digest), c.bytes);
      await s.close();
      expect(statSync(listOf(bad)).size).toBe(size);
    });

    it("lines that name no record of their pack use up nothing: a later pack's list is still read", async () => {
      // 20 packs of a chunk each; the last one's record is bad, and listed.
      const root = await fresh();
      for (let i = 0; i < 20; i++) {
        const s = await PackStore.open(root);
        const c = chunk(5000 + i, 1000 + i);
        await s.put(c.digest, c.bytes);
        await s.close();
      }
      const records = packRecords(root);
      const last = records[records.length - 1]!;
      flipStoredBit(last);
      writeFileSync(listOf(last), lineOf(last));
      // The others list 256 KiB of distinct lines each, of the record's offset and another
      // digest: more than the 65,536 records a store takes, in all.
      let k = 0;
      for (const r of records.slice(0, -1)) {
        const lines: string[] = [];
        for (let n = 0; n < MAX_BAD_BYTES; n += lineOf(r).length) {
          lines.push(`sha256:${(k++).toString(16).padStart(64, 'f')} ${r.entry.offset}\n`);
        }
        writeFileSync(listOf(r), lines.join('').slice(0, MAX_BAD_BYTES));
      }
      expect(k).toBeGreaterThan(65_536);
      const s = await PackStore.open(root);
      expect(await s.has(last.digest)).toBe(false);
      for (const r of records.slice(0, -1)) expect(await s.has(r.digest)).toBe(true);
      await s.close();
    });

    it('a list that is a directory or a symbolic link: ignored, never written through', async () => {
      const { root, cs, recordOf } = await storeOf(2, 800);
      const r = recordOf(cs[0]!);
      flipStoredBit(r);
      mkdirSync(listOf(r));
      const s = await PackStore.open(root);
      await expect(s.get(cs[0]!.digest)).rejects.toBeInstanceOf(ChunkDigestError);
      expectBytes(await s.get(cs[1]!.digest), cs[1]!.bytes);
      await s.close();
      await rm(listOf(r), { recursive: true });
      const target = join(root, 'elsewhere');
      writeFileSync(target, 'untouched\n');
      execFileSync('ln', ['-s', target, listOf(r)]);
      const t = await PackStore.open(root);
      await expect(t.get(cs[0]!.digest)).rejects.toBeInstanceOf(ChunkDigestError);
      await t.close();
      expect(readFileSync(target, 'latin1')).toBe('untouched\n');
    });

    it.runIf(toolsAvailable('mkfifo'))(
      'a list that is a FIFO does not hang the store',
      async () => {
        const { root, cs, recordOf } = await storeOf(2, 900);
        const r = recordOf(cs[0]!);
        flipStoredBit(r);
        execFileSync('mkfifo', [listOf(r)]);
        for (let i = 0; i < 2; i++) {
          const s = await PackStore.open(root);
          await expect(s.get(cs[0]!.digest)).rejects.toBeInstanceOf(ChunkDigestError);
          expectBytes(await s.get(cs[1]!.digest), cs[1]!.bytes);
          await s.close();
        }
      },
    );

    it('a list naming good records: apply takes a diff of chunks held only there, gc counts none missing', async () => {
      const root = await fresh();
      const base = pseudoRandom(600_000, 71);
      const v1 = tarOf([['a.bin', base]]);
      const changed = base.slice();
      changed[300_000]! ^= 1;
      const v2 = tarOf([['a.bin', changed]]);
      let store = await PackStore.open(root);
      const { index: v1Index } = await convertBytes(v1, store);
      const { stream } = createDiff(streamOf(v2), { bases: [v1Index], store, hash });
      const diff = await collect(stream);
      await store.close();
      // Every record listed bad, wrongly: each still reads back.
      for (const r of packRecords(root)) writeFileSync(listOf(r), lineOf(r), { flag: 'a' });
      store = await PackStore.open(root);
      const applied = await applyDiff(streamOf(diff), store, { hash });
      expect(sha256(await reassembleBytes(applied.root, store))).toBe(sha256(v2));
      await store.close();
      const report = await collectGarbage(root, [v1Index, applied.root], { hash });
      expect(report.missing).toBe(0);
    });

    it('a large list of one line that parses holds only that line, not the list', () => {
      requireDist();
      // 100 packs, each listing its record in 256 KiB of garbage: when each key was cut from a
      // string of the whole list, V8 kept all of it alive, 25 MiB here.
      const script = `
        import { createHash, randomBytes } from 'node:crypto';
        import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
        import { PackStore } from ${JSON.stringify(join(process.cwd(), 'dist', 'node.js'))};
        const root = process.argv[1];
        for (let i = 0; i < 100; i++) {
          const s = await PackStore.open(root);
          const b = randomBytes(4096);
          await s.put('sha256:' + createHash('sha256').update(b).digest('hex'), b);
          await s.close();
        }
        const garbage = ('x'.repeat(99) + '\\n').repeat(2600);
        for (const f of readdirSync(root + '/packs').filter((f) => f.endsWith('.idx'))) {
          // The pack's one record, at offset 8: its digest opens the index's first entry.
          const digest = readFileSync(root + '/packs/' + f).subarray(20, 52).toString('hex');
          const line = 'sha256:' + digest + ' 8\\n';
          writeFileSync(root + '/packs/' + f.replace(/\\.idx$/, '.bad'), line + garbage);
        }
        gc();
        const before = process.memoryUsage().heapUsed;
        const s = await PackStore.open(root);
        gc();
        console.log(JSON.stringify({ grew: process.memoryUsage().heapUsed - before }));
        await s.close();`;
      const root = join(tmpdir(), `layerdiff-bad-heap-${process.pid}`);
      roots.push(root);
      const out = execFileSync(
        process.execPath,
        ['--expose-gc', '--input-type=module', '-e', script, root],
        { encoding: 'utf8', timeout: 60_000 },
      );
      const { grew } = JSON.parse(out);
      expect(grew).toBeLessThan(4 * 1024 * 1024);
    });
  });
});

describe.runIf(toolsAvailable('tar'))('the command line repairs a pack store', () => {
  it('convert, damage, cat fails; convert again (a new process) stores the chunk, cat gives the tar', async () => {
    requireDist();
    const dir = await fresh();
    const tar = makeTar(dir, 'l', {
      'bin/tool': pseudoRandom(400_000, 31),
      'doc/words.txt': new TextEncoder().encode('some words for the layer\n'.repeat(20_000)),
    });
    const store = join(dir, 'store');
    const convert = () =>
      runCli(['convert', tar, '--store', store, '--out', join(dir, 'l.idx')]).then((r) => {
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
      });
    const cat = () =>
      runCli(['cat', join(dir, 'l.idx'), '--store', store, '--out', join(dir, 'out.tar')]);
    await convert();
    const victim = largestRecord(store);
    flipStoredBit(victim);
    const failed = await cat();
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/ERR_CHUNK_DIGEST/);
    expect(failed.stderr).toContain(victim.digest);
    expect(existsSync(listOf(victim))).toBe(true);
    await convert();
    const ok = await cat();
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(readFileSync(join(dir, 'out.tar')).equals(readFileSync(tar))).toBe(true);
  });
});
