/**
 * `verifyStore` and `layerdiff verify`: every record (or chunk file) of a store read and
 * checked, copies that a good one shadows included; bad records listed, so that a later put
 * repairs them; references no copy gives, and indexes that cannot be read whole, reported;
 * a sound store passes. Stores made by real conversions, damaged by flipping stored bits.
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { PackFormatError, StoreLockedError } from '../../src/errors.js';
import { formatDigest } from '../../src/hash/digest.js';
import { FsStore } from '../../src/node/fs-store.js';
import { PackStore } from '../../src/node/pack-store.js';
import { lockExclusive } from '../../src/node/store-lock.js';
import { verifyStore } from '../../src/node/verify.js';
import { indexChunks } from '../../src/pipeline/open-index.js';
import { runCli } from '../cli/run.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { convertBytes, hash, reassembleBytes } from '../helpers/layers.js';
import { dropRecord, flipStoredBit, packRecords, reverseIndex } from '../helpers/packs.js';
import { streamOf } from '../helpers/streams.js';
import { buildTar } from './extract-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-verify-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(work, `s${n++}`);

const tarOf = (seed: number) =>
  buildTar([
    { path: 'a.bin', mode: 0o644, body: pseudoRandom(400_000, seed) },
    { path: 'b.txt', mode: 0o644, body: 'text '.repeat(50_000) },
  ]).bytes;

/** A pack store holding one converted layer; its index. */
async function packStoreOf(root: string, tar = tarOf(1)): Promise<Uint8Array> {
  const store = await PackStore.open(root);
  const { index } = await convertBytes(tar, store);
  await store.close();
  return index;
}

/** A file-per-chunk store holding one converted layer; its index. */
async function looseStoreOf(root: string, tar: Uint8Array): Promise<Uint8Array> {
  const store = await FsStore.open(root);
  const { index } = await convertBytes(tar, store);
  await store.close();
  return index;
}

/** The chunk files of a file-per-chunk store whose names `re` matches. */
const chunkFiles = (root: string, re = /./) =>
  readdirSync(join(root, 'sha256'), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && re.test(d.name))
    .map((d) => join(d.parentPath, d.name))
    .sort();

describe('verifyStore, pack stores', () => {
  it('passes a sound store, reading every record once', async () => {
    const root = fresh();
    const index = await packStoreOf(root);
    const records = packRecords(root);
    const report = await verifyStore(root, [index]);
    expect(report).toMatchObject({
      layout: 'pack',
      packs: 1,
      records: records.length,
      bytes: records.reduce((s, r) => s + r.entry.stored, 0),
      bad: 0,
      indexes: 1,
      missing: 0,
      badIndexes: 0,
      problems: [],
      ok: true,
    });
    expect(report.referenced).toBeGreaterThan(4);
  });

  it('finds a bad record, lists it, and a later put repairs the chunk', async () => {
    const root = fresh();
    const tar = tarOf(2);
    const index = await packStoreOf(root, tar);
    const victim = packRecords(root).find((r) => r.entry.stored > 50_000)!;
    flipStoredBit(victim);
    const report = await verifyStore(root, [index]);
    expect(report.ok).toBe(false);
    expect(report.bad).toBe(1);
    expect(report.missing).toBe(1);
    expect(report.problems).toEqual([
      expect.objectContaining({
        kind: 'record',
        digest: victim.digest,
        pack: victim.pack.slice(victim.pack.lastIndexOf('/') + 1, -'.pack'.length),
        offset: victim.entry.offset,
        proven: true,
      }),
      expect.objectContaining({ kind: 'missing', digest: victim.digest, index: 0 }),
    ]);
    // Listed in the pack's .bad file, for every store opened later.
    expect(readFileSync(victim.pack.replace(/\.pack$/, '.bad'), 'utf8')).toContain(
      victim.digest.slice('sha256:'.length),
    );
    // A new conversion of the same layer stores the chunk again; the store is then whole
    // (the bad record is still there, and still reported, until gc drops it).
    const store = await PackStore.open(root);
    const { result } = await convertBytes(tar, store);
    await store.close();
    expect(result.newChunks).toBe(1);
    const again = await verifyStore(root, [index]);
    expect(again).toMatchObject({ bad: 1, missing: 0, packs: 2 });
    const reader = await PackStore.open(root);
    const rebuilt = await reassembleBytes(index, reader);
    expect(Buffer.from(rebuilt).equals(Buffer.from(tar))).toBe(true);
    await reader.close();
  });

  it('reads the packs of indexes in the unsorted order of earlier builds too', async () => {
    const root = fresh();
    const index = await packStoreOf(root, tarOf(5));
    const victim = packRecords(root).find((r) => r.entry.stored > 50_000)!;
    reverseIndex(victim.idx);
    flipStoredBit(victim);
    const report = await verifyStore(root, [index]);
    expect(report).toMatchObject({ packs: 1, bad: 1, missing: 1, ok: false });
    expect(report.records).toBe(packRecords(root).length);
  });

  it('reports a malformed pack index and reads the other packs, where opening the store would fail', async () => {
    const root = fresh();
    const first = await packStoreOf(root, tarOf(7));
    const before = new Set(readdirSync(join(root, 'packs')));
    const second = await packStoreOf(root, tarOf(8));
    const idx = readdirSync(join(root, 'packs')).find((f) => f.endsWith('.idx') && !before.has(f))!;
    const kept = packRecords(root).filter((r) => !r.idx.endsWith(idx));
    // One byte of the second pack's index: its checksum no longer holds.
    const bytes = readFileSync(join(root, 'packs', idx));
    bytes[100]! ^= 1;
    writeFileSync(join(root, 'packs', idx), bytes);
    await expect(PackStore.open(root)).rejects.toBeInstanceOf(PackFormatError);
    const report = await verifyStore(root, [first, second]);
    expect(report).toMatchObject({
      packs: 1,
      records: kept.length,
      bad: 0,
      badPackIndexes: 1,
      indexes: 2,
      ok: false,
    });
    expect(report.problems[0]).toMatchObject({ kind: 'pack-index', pack: idx.slice(0, -4) });
    // The second layer's chunks were only in the pack left out.
    expect(report.missing + report.badIndexes).toBeGreaterThan(0);
    expect(report.problems.slice(1).every((p) => p.index === 1)).toBe(true);
  });

  it('reports a pack that is missing, and an index that is a FIFO, without hanging', async () => {
    const root = fresh();
    const first = await packStoreOf(root, tarOf(9));
    const before = new Set(readdirSync(join(root, 'packs')));
    await packStoreOf(root, tarOf(10));
    const pack = readdirSync(join(root, 'packs')).find(
      (f) => f.endsWith('.pack') && !before.has(f),
    )!;
    rmSync(join(root, 'packs', pack));
    // A FIFO under a pack index's name: opening it to read must not wait for a writer.
    const fifo = join(root, 'packs', '0000000aa-00000000000000aa.idx');
    execFileSync('mkfifo', [fifo]);
    const report = await verifyStore(root, [first]);
    expect(report).toMatchObject({ packs: 1, bad: 0, missing: 0, badPackIndexes: 2, ok: false });
    expect(report.problems.map((p) => [p.kind, p.pack]).sort()).toEqual(
      [
        ['pack-index', '0000000aa-00000000000000aa'],
        ['pack-index', pack.slice(0, -'.pack'.length)],
      ].sort(),
    );
    expect(report.problems.map((p) => p.problem).join('\n')).toMatch(/pack is missing/);
  });

  it('reads a bad copy that a good one of the same chunk shadows', async () => {
    // Two stores of one layer, their packs put together: every chunk is held twice, and a
    // read of a chunk stops at its first good copy.
    const root = fresh();
    const index = await packStoreOf(root);
    const other = fresh();
    await packStoreOf(other);
    for (const f of readdirSync(join(other, 'packs'))) {
      if (f.endsWith('.pack') || f.endsWith('.idx')) {
        rmSync(join(root, 'packs', f), { force: true });
        const from = join(other, 'packs', f);
        const to = join(root, 'packs', f);
        // Pack names hold a random part: two conversions never share one.
        expect(existsSync(to)).toBe(false);
        copyFileSync(from, to);
      }
    }
    const records = packRecords(root);
    const twice = records.filter((r) => records.filter((o) => o.digest === r.digest).length === 2);
    expect(twice.length).toBe(records.length);
    // Damage one copy of a chunk in each pack, of different chunks.
    const first = twice[0]!;
    const second = twice.find((r) => r.pack !== first.pack && r.digest !== first.digest)!;
    flipStoredBit(first);
    flipStoredBit(second);
    const report = await verifyStore(root, [index]);
    expect(report).toMatchObject({ packs: 2, records: records.length, bad: 2, missing: 0 });
    expect(report.problems.map((p) => [p.kind, p.digest]).sort()).toEqual(
      [
        ['record', first.digest],
        ['record', second.digest],
      ].sort(),
    );
  });

  it('reports an index whose index chunk is gone, and goes on with the next', async () => {
    const root = fresh();
    const index = await packStoreOf(root);
    const second = await (async () => {
      const store = await PackStore.open(root);
      const { index: i } = await convertBytes(tarOf(3), store);
      await store.close();
      return i;
    })();
    // The first layer's index chunks: in its root, not in any data chunk's place.
    const reader = await PackStore.open(root);
    let indexChunk: string | undefined;
    for await (const { kind, ref } of indexChunks(streamOf(index), reader, { hash })) {
      if (kind === 'index') {
        indexChunk = formatDigest(ref.digest);
        break;
      }
    }
    await reader.close();
    const record = packRecords(root).find((r) => r.digest === indexChunk)!;
    dropRecord(record);
    const report = await verifyStore(root, [index, second]);
    expect(report).toMatchObject({ indexes: 2, badIndexes: 1, bad: 0, missing: 0, ok: false });
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'index', index: 0, digest: indexChunk }),
    ]);
    expect(report.referenced).toBeGreaterThan(4);
  });
});

describe('verifyStore and garbage collections', () => {
  it('refuses to start while one runs, or waits lockWaitMs for it to end', async () => {
    const root = fresh();
    await packStoreOf(root);
    const held = await lockExclusive(root);
    await expect(verifyStore(root)).rejects.toBeInstanceOf(StoreLockedError);
    const waiting = verifyStore(root, [], { lockWaitMs: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    await held.release();
    expect(await waiting).toMatchObject({ ok: true, bad: 0 });
  });
});

describe('verifyStore, file-per-chunk stores', () => {
  it('passes a sound store, finds a bad chunk file and sets it aside', async () => {
    const root = fresh();
    const index = await looseStoreOf(root, tarOf(4));
    const sound = await verifyStore(root, [index]);
    expect(sound).toMatchObject({ layout: 'loose', bad: 0, missing: 0, ok: true });
    expect(sound.records).toBeGreaterThan(4);
    // Damage the largest chunk file.
    const largest = chunkFiles(root).sort(
      (a, b) => readFileSync(b).length - readFileSync(a).length || a.localeCompare(b),
    )[0]!;
    const bytes = readFileSync(largest);
    bytes[bytes.length >> 1]! ^= 1;
    unlinkSync(largest);
    writeFileSync(largest, bytes);
    const report = await verifyStore(root, [index]);
    expect(report).toMatchObject({ bad: 1, missing: 1, ok: false });
    expect(report.problems.map((p) => p.kind)).toEqual(['file', 'missing']);
    expect(existsSync(largest)).toBe(false);
    expect(existsSync(`${largest}.corrupt`)).toBe(true);
  });
});

describe('verifyStore, file-per-chunk stores: every file of a chunk', () => {
  it('reads a bad file that a good form of the same chunk shadows, and sets it aside', async () => {
    const root = fresh();
    const index = await looseStoreOf(root, tarOf(6));
    // The text file's chunk: stored coded (.l or .d); a bad plain copy goes beside it.
    const files = chunkFiles(root, /\.[dl]$/);
    expect(files.length).toBeGreaterThan(0);
    const coded = files[0]!;
    const plain = coded.slice(0, -2);
    writeFileSync(plain, 'not the chunk');
    // And a bad deflated copy beside a good plain chunk.
    const rawFile = chunkFiles(root, /^[0-9a-f]{64}$/).find((f) => f !== plain)!;
    writeFileSync(`${rawFile}.d`, deflateRawSync(Buffer.from('not that chunk either')));
    const report = await verifyStore(root, [index]);
    expect(report).toMatchObject({ bad: 2, missing: 0, ok: false });
    expect(report.problems.map((p) => p.kind)).toEqual(['file', 'file']);
    expect(existsSync(plain)).toBe(false);
    expect(existsSync(`${plain}.corrupt`)).toBe(true);
    expect(existsSync(`${rawFile}.d.corrupt`)).toBe(true);
    expect(existsSync(coded)).toBe(true);
    expect(existsSync(rawFile)).toBe(true);
    expect(await verifyStore(root, [index])).toMatchObject({ bad: 0, missing: 0, ok: true });
  });
});

describe('verifyStore, file-per-chunk stores: what is not a file', () => {
  it('reports a directory where a chunk file should be, and its references as missing', async () => {
    const root = fresh();
    const index = await looseStoreOf(root, tarOf(11));
    const victim = chunkFiles(root, /^[0-9a-f]{64}$/)[0]!;
    rmSync(victim);
    mkdirSync(victim);
    const report = await verifyStore(root, [index]);
    expect(report).toMatchObject({ bad: 1, missing: 1, ok: false });
    expect(report.problems.map((p) => p.kind)).toEqual(['file', 'missing']);
    expect(report.problems[0]!.problem).toMatch(/is not a regular file$/);
  });
});

describe('layerdiff verify', () => {
  it('prints ok and exits 0 for a sound store; exits 1 with ERR_STORE_DAMAGED, and the report, for a damaged one', async () => {
    const root = fresh();
    const index = await packStoreOf(root);
    const idx = join(work, `i${n++}.idx`);
    writeFileSync(idx, index);
    const sound = await runCli(['verify', '--store', root, idx]);
    expect(sound.stderr).toBe('');
    expect(sound.code).toBe(0);
    expect(sound.stdout.toString()).toMatch(
      /^read \d+ records in 1 packs \(\d+ bytes stored\): 0 bad\n1 index\(es\) refer to data chunks \d+ times: 0 to chunks no copy gives\nok\n$/,
    );

    // A data chunk's record (index chunks are a few KB).
    const victim = packRecords(root).find((r) => r.entry.stored > 50_000)!;
    flipStoredBit(victim);
    const damaged = await runCli(['verify', '--store', root, idx, '--json']);
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toMatch(
      /^layerdiff verify: ERR_STORE_DAMAGED: found 1 record\(s\) bad, 1 reference\(s\) to chunks no copy gives\n$/,
    );
    const report = JSON.parse(damaged.stdout.toString());
    expect(report).toMatchObject({ bad: 1, missing: 1, ok: false });
    expect(report.problems[0]).toMatchObject({ kind: 'record', digest: victim.digest });

    const usage = await runCli(['verify', idx]);
    expect(usage.code).toBe(2);
    const none = await runCli(['verify', '--store', join(work, 'nothing-here')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/ERR_STORE: .*holds no layerdiff store/);
  });
});
