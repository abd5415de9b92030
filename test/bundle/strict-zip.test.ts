/**
 * Zips that zip readers can read two ways are refused: data before or after the zip, end
 * records that disagree, entries that share bytes, bytes between entries that no entry holds.
 * Each is made from a valid bundle by patching its bytes, and each opened fine before bundles
 * were read strictly. Bundles other zip writers make (Info-ZIP `zip`, Python's `zipfile`,
 * zip.js with data descriptors) still open.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { Uint8ArrayReader, Uint8ArrayWriter, ZipWriter } from '@zip.js/zip.js';
import { afterAll, describe, expect, it } from 'vitest';
import { openBundle } from '../../src/bundle/open-bundle.js';
import { unbundle } from '../../src/bundle/unbundle.js';
import { BundleError } from '../../src/errors.js';
import type { ChunkRef, IndexRecord } from '../../src/format/records.js';
import { crc32 } from '../../src/hash/crc32.js';
import { MemoryStore } from '../../src/store/memory.js';
import { indexBytes, LAYER, minimalMeta, sha256 } from '../format/helpers.js';
import { concat } from '../helpers/bytes.js';
import { hash, reassembleBytes } from '../helpers/layers.js';
import { toolsAvailable } from '../helpers/tools.js';
import { bundleBytes, entriesOf, expectSame, sampleLayer } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'layerdiff-strict-zip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const END = 0x06054b50;
const CENTRAL = 0x02014b50;
const ZIP64_END = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;

/** Bytes that hold no zip signature. */
const JUNK = new TextEncoder().encode('not part of any zip\n'.repeat(50));

/** A central directory record, as the tests need it. */
interface CentralRecord {
  /** Where the record starts. */
  at: number;
  /** Its bytes. */
  size: number;
  name: string;
  method: number;
  /** Where its local header starts. */
  offset: number;
}

/** A zip without zip64 or a comment, taken apart: its end record and directory. */
function parse(zip: Uint8Array) {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.length);
  const end = zip.length - 22;
  expect(view.getUint32(end, true)).toBe(END);
  const directory = view.getUint32(end + 16, true);
  const directorySize = view.getUint32(end + 12, true);
  const records: CentralRecord[] = [];
  for (let at = directory; at < directory + directorySize; ) {
    expect(view.getUint32(at, true)).toBe(CENTRAL);
    const nameLength = view.getUint16(at + 28, true);
    const size = 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    records.push({
      at,
      size,
      name: new TextDecoder().decode(zip.subarray(at + 46, at + 46 + nameLength)),
      method: view.getUint16(at + 10, true),
      offset: view.getUint32(at + 42, true),
    });
    at += size;
  }
  return { end, directory, directorySize, records };
}

/** A copy of a zip, with a view to patch it. */
function copyOf(zip: Uint8Array): [Uint8Array, DataView] {
  const out = zip.slice();
  return [out, new DataView(out.buffer)];
}

/** An entry made by hand: stored, unless `inflated` is given. */
interface HandEntry {
  name: string;
  data: Uint8Array;
  /** Length of its local extra field (an unknown field, 0xcafe, of zeros). */
  extra?: number;
  /**
   * Its data is not written after its local header: the entries written after it must be
   * its data.
   */
  borrowed?: boolean;
  /** `data` is these bytes deflated: the entry is deflated (method 8), of this CRC and size. */
  inflated?: Uint8Array;
}

/** A zip of entries made by hand, in the order given, with its local header offsets. */
function storedZip(entries: HandEntry[]): { zip: Uint8Array; offsets: number[] } {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  const offsets: number[] = [];
  let at = 0;
  for (const { name, data, extra = 0, borrowed = false, inflated } of entries) {
    const plain = inflated ?? data;
    const method = inflated ? 8 : 0;
    const n = encoder.encode(name);
    const local = new Uint8Array(30 + n.length + extra);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, method, true);
    lv.setUint32(14, crc32(plain), true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, plain.length, true);
    lv.setUint16(26, n.length, true);
    lv.setUint16(28, extra, true);
    local.set(n, 30);
    if (extra) {
      lv.setUint16(30 + n.length, 0xcafe, true);
      lv.setUint16(32 + n.length, extra - 4, true);
    }
    const record = new Uint8Array(46 + n.length);
    const cv = new DataView(record.buffer);
    cv.setUint32(0, CENTRAL, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, method, true);
    cv.setUint32(16, crc32(plain), true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, plain.length, true);
    cv.setUint16(28, n.length, true);
    cv.setUint32(42, at, true);
    record.set(n, 46);
    offsets.push(at);
    const written = borrowed ? new Uint8Array(0) : data;
    parts.push(local, written);
    central.push(record);
    at += local.length + written.length;
  }
  const directory = concat(central);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, END, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, directory.length, true);
  ev.setUint32(16, at, true);
  return { zip: concat([...parts, directory, end]), offsets };
}

/** A chunk entry's name for the bytes. */
function chunkName(bytes: Uint8Array): string {
  return `chunks/sha256/${Buffer.from(sha256(bytes)).toString('hex')}`;
}

/** A copy where the record's data reaches `by` bytes past `limit` (sizes set to match). */
function reaching(zip: Uint8Array, r: CentralRecord, limit: number, by = 1): Uint8Array {
  const [out, view] = copyOf(zip);
  const size = limit - r.offset - 30 - r.name.length + by;
  view.setUint32(r.at + 20, size, true);
  if (r.method === 0) view.setUint32(r.at + 24, size, true);
  return out;
}

/**
 * The zip with a zip64 end record and locator before its end record. The end record gives the
 * central directory's offset as 0xffffffff (so readers go to the zip64 record) and, unless
 * `allSentinels` (as zip.js writes them), its real disk numbers, count and size.
 */
function zip64Form(
  zip: Uint8Array,
  figures: { entries?: number; size?: number; allSentinels?: boolean } = {},
): Uint8Array {
  const { end, directory, directorySize, records } = parse(zip);
  const tail = new Uint8Array(56 + 20 + 22);
  const view = new DataView(tail.buffer);
  view.setUint32(0, ZIP64_END, true);
  view.setBigUint64(4, 44n, true);
  view.setUint16(12, 45, true);
  view.setUint16(14, 45, true);
  const entries = BigInt(figures.entries ?? records.length);
  view.setBigUint64(24, entries, true);
  view.setBigUint64(32, entries, true);
  view.setBigUint64(40, BigInt(figures.size ?? directorySize), true);
  view.setBigUint64(48, BigInt(directory), true);
  view.setUint32(56, ZIP64_LOCATOR, true);
  view.setBigUint64(60, BigInt(end), true);
  view.setUint32(68, 1, true);
  tail.set(zip.subarray(end), 76);
  view.setUint32(76 + 16, 0xffffffff, true);
  if (figures.allSentinels) {
    view.setUint16(76 + 4, 0xffff, true);
    view.setUint16(76 + 6, 0xffff, true);
    view.setUint16(76 + 8, 0xffff, true);
    view.setUint16(76 + 10, 0xffff, true);
    view.setUint32(76 + 12, 0xffffffff, true);
  }
  return concat([zip.subarray(0, end), tail]);
}

/**
 * The zip with `bytes` inserted at `at` (before an entry's local header, or before the central
 * directory), the offsets of the central directory fixed up to match: every entry is still
 * where the directory says.
 */
function inserted(zip: Uint8Array, at: number, bytes: Uint8Array): Uint8Array {
  const { end, records } = parse(zip);
  const out = concat([zip.subarray(0, at), bytes, zip.subarray(at)]);
  const view = new DataView(out.buffer);
  for (const r of records) {
    if (r.offset >= at) view.setUint32(bytes.length + r.at + 42, r.offset + bytes.length, true);
  }
  const directory = view.getUint32(bytes.length + end + 16, true);
  view.setUint32(bytes.length + end + 16, directory + bytes.length, true);
  return out;
}

/** The digest a chunk entry's name gives. */
const digestOf = (name: string) => `sha256:${name.slice('chunks/sha256/'.length)}`;

let sample: Promise<{ zip: Uint8Array; tar: Uint8Array }> | undefined;
/** The sample layer's bundle, as the project's writer makes it. */
function sampleBundle() {
  sample ??= (async () => {
    const { tar, root, store } = await sampleLayer();
    return { zip: await bundleBytes(root, store), tar };
  })();
  return sample;
}

/** Opens the zip and expects a {@link BundleError} whose message matches. */
async function refused(zip: Uint8Array, message: RegExp): Promise<BundleError> {
  const err = await openBundle(zip, { hash }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BundleError);
  expect((err as BundleError).message).toMatch(message);
  return err as BundleError;
}

describe('bundles that zip readers could read two ways', () => {
  it('control: the bundle as written opens, unbundles and rebuilds', async () => {
    const { zip, tar } = await sampleBundle();
    expect((await openBundle(zip, { hash })).size).toBe(parse(zip).records.length - 1);
    const store = new MemoryStore();
    const { root } = await unbundle(zip, store, { hash });
    expectSame(await reassembleBytes(root, store), tar);
  });

  it('junk before the zip is refused, whether or not the offsets are shifted to match', async () => {
    const { zip } = await sampleBundle();
    await refused(concat([JUNK, zip]), /Ambiguous archive \(prepended data\)/);
    // Offsets shifted as a self-extracting archive's are: every entry is where it says.
    const shifted = concat([JUNK, zip]);
    const view = new DataView(shifted.buffer);
    const { end, records } = parse(zip);
    for (const r of records) {
      view.setUint32(JUNK.length + r.at + 42, r.offset + JUNK.length, true);
    }
    const directory = view.getUint32(JUNK.length + end + 16, true);
    view.setUint32(JUNK.length + end + 16, directory + JUNK.length, true);
    await refused(shifted, /Ambiguous archive \(prepended data\)/);
    // Another bundle before this one: readers differ on which of the two they read.
    await refused(concat([zip, zip]), /Ambiguous archive \(prepended data\)/);
    // unbundle refuses it the same way, before it stores anything.
    const store = new MemoryStore();
    await expect(unbundle(concat([JUNK, zip]), store, { hash })).rejects.toBeInstanceOf(
      BundleError,
    );
    expect(store.size).toBe(0);
  });

  it('junk after the zip is refused', async () => {
    const { zip } = await sampleBundle();
    await refused(concat([zip, JUNK]), /Ambiguous archive \(appended data\)/);
    await refused(concat([zip, new Uint8Array(1)]), /Ambiguous archive \(appended data\)/);
  });

  it('two directory records for one local entry are refused', async () => {
    const { zip } = await sampleBundle();
    const { end, directory, directorySize, records } = parse(zip);
    const last = records[records.length - 1]!;
    // A copy of the last record under another chunk's name, pointing at the same local entry.
    const copy = zip.slice(last.at, last.at + last.size);
    const other = `chunks/sha256/${'0'.repeat(64)}`;
    expect(other.length).toBe(last.name.length);
    copy.set(new TextEncoder().encode(other), 46);
    const directoryEnd = directory + directorySize;
    const out = concat([zip.subarray(0, directoryEnd), copy, zip.subarray(directoryEnd)]);
    const view = new DataView(out.buffer);
    const at = end + copy.length;
    view.setUint16(at + 8, records.length + 1, true);
    view.setUint16(at + 10, records.length + 1, true);
    view.setUint32(at + 12, directorySize + copy.length, true);
    const err = await refused(out, /two directory records for one local entry/);
    expect(err.message).toContain(last.offset.toString());
  });

  it('an entry whose data reaches into the next entry is refused', async () => {
    const { zip } = await sampleBundle();
    const { records } = parse(zip);
    // One stored entry and one deflated entry, each reaching one byte into the next.
    const stored = records.findIndex((r, i) => r.method === 0 && i + 1 < records.length);
    const deflated = records.findIndex((r, i) => r.method === 8 && i + 1 < records.length);
    expect(stored).toBeGreaterThanOrEqual(0);
    expect(deflated).toBeGreaterThanOrEqual(0);
    for (const i of [stored, deflated]) {
      const [r, next] = [records[i]!, records[i + 1]!];
      const err = await refused(reaching(zip, r, next.offset), /overlaps entry/);
      expect(err.entry).toBe(r.name);
      expect(err.message).toContain(next.name);
      expect(err.message).toContain(`byte ${next.offset}`);
    }
    // Control: an entry that ends right where the next local header starts opens.
    const r = records[stored]!;
    await openBundle(reaching(zip, r, records[stored + 1]!.offset, 0), { hash });
  });

  it('an entry whose data reaches into the central directory is refused', async () => {
    const { zip } = await sampleBundle();
    const { directory, records } = parse(zip);
    const last = records[records.length - 1]!;
    const err = await refused(reaching(zip, last, directory), /into the central directory/);
    expect(err.entry).toBe(last.name);
  });

  it('an entry whose local extra field pushes its data into the next entry is refused when read', async () => {
    // The open-time check counts each local header without its extra field, so chunk one
    // (extra field as long as its data) seems to end where chunk two's local header starts;
    // its data really is chunk two's whole entry. Before reads checked the extra field, both
    // chunks read back, sharing bytes.
    const index = new TextEncoder().encode('not read here');
    const two = new TextEncoder().encode('the bytes of chunk two');
    // Chunk one's bytes: chunk two's local header, name and data.
    const one = storedZip([{ name: chunkName(two), data: two }]).zip.subarray(
      0,
      30 + chunkName(two).length + two.length,
    );
    const { zip, offsets } = storedZip([
      { name: 'index.ldr', data: index },
      { name: chunkName(one), data: one, extra: one.length, borrowed: true },
      { name: chunkName(two), data: two },
    ]);
    const bundle = await openBundle(zip, { hash });
    expect(bundle.size).toBe(2);
    const err = await bundle.get(`sha256:${chunkName(one).slice(14)}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BundleError);
    expect((err as BundleError).entry).toBe(chunkName(one));
    expect((err as BundleError).message).toContain(`at byte ${offsets[2]}`);
    // Chunk two, and the index, still read.
    expect(await bundle.get(`sha256:${chunkName(two).slice(14)}`)).toEqual(two);
    expect(await bundle.root()).toEqual(index);
    // The last entry pushed into the central directory the same way is refused too.
    const last = storedZip([
      { name: 'index.ldr', data: index },
      { name: chunkName(two), data: two, extra: 4 },
    ]);
    const patched = last.zip.slice();
    // Its extra field grows by its data's length: the data now starts at the directory.
    const at = last.offsets[1]! + 28;
    new DataView(patched.buffer).setUint16(at, 4 + two.length, true);
    const lastErr = await (await openBundle(patched, { hash }))
      .get(`sha256:${chunkName(two).slice(14)}`)
      .catch((e: unknown) => e);
    expect(lastErr).toBeInstanceOf(BundleError);
    expect((lastErr as BundleError).message).toMatch(
      /past the next entry or the central directory/,
    );
  });

  it('bytes between two entries, which no entry holds, are refused when the entry before is read', async () => {
    const { zip, tar } = await sampleBundle();
    const { records, directory } = parse(zip);
    const [r, next] = [records[2]!, records[3]!];
    for (const junk of [JUNK, new Uint8Array(1)]) {
      const out = inserted(zip, next.offset, junk);
      // The open-time check counts no local extra field: the gap could be one.
      const bundle = await openBundle(out, { hash });
      const err = await bundle.get(digestOf(r.name)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BundleError);
      expect((err as BundleError).code).toBe('ERR_BUNDLE');
      expect((err as BundleError).entry).toBe(r.name);
      expect((err as BundleError).message).toContain(
        `${junk.length} bytes before the next entry or the central directory (at byte ${next.offset + junk.length})`,
      );
      expect((err as BundleError).message).toMatch(/bytes no entry holds/);
      // The entries around the gap still read.
      await bundle.get(digestOf(next.name));
      await bundle.get(digestOf(records[1]!.name));
      // unbundle needs the entry, and refuses the bundle.
      await expect(unbundle(out, new MemoryStore(), { hash })).rejects.toBeInstanceOf(BundleError);
    }
    // Before the central directory, after the last entry.
    const last = records[records.length - 1]!;
    const bundle = await openBundle(inserted(zip, directory, JUNK), { hash });
    const err = await bundle.get(digestOf(last.name)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BundleError);
    expect((err as BundleError).entry).toBe(last.name);
    expect((err as BundleError).message).toContain(`at byte ${directory + JUNK.length}`);
    // Control: the bundle as written reads every entry.
    const store = new MemoryStore();
    const { root } = await unbundle(zip, store, { hash });
    expectSame(await reassembleBytes(root, store), tar);
  });

  it('more bytes between entries than a local extra field and data descriptor can fill are refused at open', async () => {
    const { zip } = await sampleBundle();
    const { records, directory } = parse(zip);
    const [r, next] = [records[2]!, records[3]!];
    const gap = 65_535 + 24 + 1;
    const err = await refused(
      inserted(zip, next.offset, new Uint8Array(gap)),
      /bytes no entry holds/,
    );
    expect(err.entry).toBe(r.name);
    expect(err.message).toContain(`the next entry (at byte ${next.offset + gap})`);
    const last = records[records.length - 1]!;
    const lastErr = await refused(
      inserted(zip, directory, new Uint8Array(gap)),
      /the central directory \(at byte \d+\), more than/,
    );
    expect(lastErr.entry).toBe(last.name);
    // Control: one byte fewer may be a local extra field and data descriptor: it opens.
    await openBundle(inserted(zip, next.offset, new Uint8Array(gap - 1)), { hash });
  });

  it('a data descriptor must be all that lies after an entry, and agree with the directory', async () => {
    const { entries } = await writtenEntries();
    // zip.js with data descriptors that start with their signature (16 bytes each).
    const writer = new ZipWriter(new Uint8ArrayWriter(), {
      useWebWorkers: false,
      level: 0,
      dataDescriptor: true,
      dataDescriptorSignature: true,
      extendedTimestamp: false,
    });
    for (const [name, bytes] of entries) await writer.add(name, new Uint8ArrayReader(bytes));
    const zip = await writer.close();
    const { records } = parse(zip);
    const r = records[1]!;
    const view = new DataView(zip.buffer, zip.byteOffset, zip.length);
    expect(view.getUint16(r.offset + 6, true) & 8).toBe(8);
    const dataEnd =
      r.offset +
      30 +
      r.name.length +
      view.getUint16(r.offset + 28, true) +
      view.getUint32(r.at + 20, true);
    expect(view.getUint32(dataEnd, true)).toBe(0x08074b50);
    // Control: it opens and every entry reads.
    const store = new MemoryStore();
    await unbundle(zip, store, { hash });
    // A descriptor whose compressed size disagrees with the central directory's.
    const [wrongSize, wrongView] = copyOf(zip);
    wrongView.setUint32(dataEnd + 8, wrongView.getUint32(dataEnd + 8, true) + 1, true);
    const bundle = await openBundle(wrongSize, { hash });
    const err = await bundle.get(digestOf(r.name)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BundleError);
    expect((err as BundleError).entry).toBe(r.name);
    expect((err as BundleError).message).toMatch(/data descriptor \(at byte \d+\) does not give/);
    // Its signature gone: 16 bytes that are no descriptor.
    const [unsigned, unsignedView] = copyOf(zip);
    unsignedView.setUint32(dataEnd, 0, true);
    const unsignedErr = await (await openBundle(unsigned, { hash }))
      .get(digestOf(r.name))
      .catch((e: unknown) => e);
    expect((unsignedErr as BundleError).message).toMatch(/does not give/);
    // The local header's flag cleared: its zero CRC-32 and sizes now disagree with the
    // central directory.
    const [unflagged, unflaggedView] = copyOf(zip);
    unflaggedView.setUint16(r.offset + 6, unflaggedView.getUint16(r.offset + 6, true) & ~8, true);
    const zeroErr = await (await openBundle(unflagged, { hash }))
      .get(digestOf(r.name))
      .catch((e: unknown) => e);
    expect((zeroErr as BundleError).message).toMatch(
      /local header \(with flag bit 3 clear\) gives CRC-32 0x00000000/,
    );
    // With the central CRC-32 and sizes copied in, the descriptor is 16 bytes no entry holds.
    for (const [local, central] of [
      [14, 16],
      [18, 20],
      [22, 24],
    ] as const) {
      unflaggedView.setUint32(
        r.offset + local,
        unflaggedView.getUint32(r.at + central, true),
        true,
      );
    }
    const unflaggedErr = await (await openBundle(unflagged, { hash }))
      .get(digestOf(r.name))
      .catch((e: unknown) => e);
    expect((unflaggedErr as BundleError).message).toMatch(
      /16 bytes before .*announces no data descriptor/,
    );
  });

  it('a zip64 end record whose figures disagree with the end record is refused', async () => {
    const { zip } = await sampleBundle();
    const { records, directorySize } = parse(zip);
    // Controls: honest zip64 end records (also as zip.js writes them, all sentinels) open.
    expect((await openBundle(zip64Form(zip), { hash })).size).toBe(records.length - 1);
    const sentinels = zip64Form(zip, { allSentinels: true });
    expect((await openBundle(sentinels, { hash })).size).toBe(records.length - 1);
    await refused(
      zip64Form(zip, { entries: records.length + 1 }),
      /Ambiguous archive \(mismatched zip64 end of central directory record\)/,
    );
    await refused(
      zip64Form(zip, { size: directorySize + 46 }),
      /Ambiguous archive \(mismatched zip64 end of central directory record\)/,
    );
  });
});

/** What `bsdtar` lists reading the zip from stdin: it walks the local headers, as a stream. */
function listedFromStdin(zip: Uint8Array): string {
  return spawnSync('bsdtar', ['-tvf', '-'], { input: zip }).stdout.toString();
}

/** A data descriptor (with its signature) for `plain` packed into `size` bytes. */
function descriptor(plain: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x08074b50, true);
  view.setUint32(4, crc32(plain), true);
  view.setUint32(8, size, true);
  view.setUint32(12, plain.length, true);
  return out;
}

/** A whole entry (local header, name, data) for `evil.sh`, to hide inside another entry. */
const EVIL = storedZip([
  { name: 'evil.sh', data: new TextEncoder().encode('#!/bin/sh\necho owned\n') },
]).zip;
const HIDDEN = EVIL.subarray(0, EVIL.length - 22 - 46 - 'evil.sh'.length);

/**
 * A bundle of an index and one chunk, one of them (`hostile`) built by `make`, with every
 * entry's name and checks as the central directory gives them.
 */
function twoEntries(hostile: 'index' | 'chunk', entry: (plain: Uint8Array) => HandEntry) {
  const index = new TextEncoder().encode('an index, not read here');
  const chunk = new TextEncoder().encode('hello');
  const made = entry(hostile === 'index' ? index : chunk);
  const chunkEntry = hostile === 'chunk' ? made : { name: '', data: chunk };
  chunkEntry.name = chunkName(chunkEntry.inflated ?? chunkEntry.data);
  const { zip, offsets } = storedZip([
    hostile === 'index' ? { ...made, name: 'index.ldr' } : { name: 'index.ldr', data: index },
    chunkEntry,
  ]);
  const at = offsets[hostile === 'index' ? 0 : 1]!;
  return { zip, at, name: hostile === 'index' ? 'index.ldr' : chunkEntry.name };
}

/** Reads the entry through `openBundle` and `unbundle`; both must refuse it, naming it. */
async function unreadable(zip: Uint8Array, name: string, reason: RegExp) {
  const bundle = await openBundle(zip, { hash });
  const err =
    name === 'index.ldr'
      ? await bundle.root().catch((e: unknown) => e)
      : await bundle.get(digestOf(name)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BundleError);
  expect((err as BundleError).code).toBe('ERR_BUNDLE');
  expect((err as BundleError).entry).toBe(name);
  expect((err as BundleError).message).toMatch(reason);
  if (name === 'index.ldr') {
    const store = new MemoryStore();
    const unbundled = await unbundle(zip, store, { hash }).catch((e: unknown) => e);
    expect(unbundled).toBeInstanceOf(BundleError);
    expect((unbundled as BundleError).message).toMatch(reason);
    expect(store.size).toBe(0);
  }
}

describe('entries that a reader walking local headers lists differently', () => {
  it.runIf(toolsAvailable('bsdtar'))(
    'a local header whose sizes are smaller than the central directory’s hides an entry in the rest: refused',
    async () => {
      for (const hostile of ['index', 'chunk'] as const) {
        // The data, as the central directory gives it: "hello" and then a whole entry.
        const { zip, at, name } = twoEntries(hostile, (plain) => ({
          name: '',
          data: concat([plain, HIDDEN]),
        }));
        // Control: as written, the local header agrees; no reader lists evil.sh.
        expect(listedFromStdin(zip)).not.toContain('evil.sh');
        const [shortened, view] = copyOf(zip);
        const plainLength = hostile === 'index' ? 23 : 5;
        view.setUint32(at + 18, plainLength, true);
        view.setUint32(at + 22, plainLength, true);
        // The attack: bsdtar, walking local headers, lists an entry no central record names.
        expect(listedFromStdin(shortened)).toContain('evil.sh');
        const total = plainLength + HIDDEN.length;
        await unreadable(
          shortened,
          name,
          new RegExp(
            `local header \\(with flag bit 3 clear\\) gives uncompressed size ${plainLength}, the central directory ${total}: readers that walk local headers`,
          ),
        );
        // The same sizes given in a local zip64 extra field (local sizes 0xffffffff).
        const { zip: wide, at: wideAt } = twoEntries(hostile, (plain) => ({
          name: '',
          data: concat([plain, HIDDEN]),
          extra: 20,
        }));
        const [hidden64, v64] = copyOf(wide);
        const extraAt = wideAt + 30 + name.length;
        v64.setUint16(extraAt, 0x0001, true);
        v64.setUint16(extraAt + 2, 16, true);
        v64.setBigUint64(extraAt + 4, BigInt(total), true);
        v64.setBigUint64(extraAt + 12, BigInt(total), true);
        v64.setUint32(wideAt + 18, 0xffffffff, true);
        v64.setUint32(wideAt + 22, 0xffffffff, true);
        // Control: a zip64 field that gives the central sizes reads.
        const bundle = await openBundle(hidden64, { hash });
        await (hostile === 'index' ? bundle.root() : bundle.get(digestOf(name)));
        v64.setBigUint64(extraAt + 4, BigInt(plainLength), true);
        v64.setBigUint64(extraAt + 12, BigInt(plainLength), true);
        expect(listedFromStdin(hidden64)).toContain('evil.sh');
        await unreadable(
          hidden64,
          name,
          new RegExp(
            `local zip64 extra field gives uncompressed size ${plainLength}, the central directory ${total}`,
          ),
        );
        // Only the CRC-32 disagreeing, and the sizes with flag bit 3 set.
        const [crc, crcView] = copyOf(zip);
        crcView.setUint32(at + 14, crc32(new TextEncoder().encode('hello')), true);
        await unreadable(crc, name, /gives CRC-32 0x[0-9a-f]{8}, the central directory/);
        view.setUint16(at + 6, 8, true);
        await unreadable(
          shortened,
          name,
          /local header \(with flag bit 3 set\) gives uncompressed size/,
        );
      }
    },
  );

  it.runIf(toolsAvailable('bsdtar'))(
    'bytes after the end of an entry’s deflate stream, within its compressed size, are refused',
    async () => {
      for (const hostile of ['index', 'chunk'] as const) {
        // The entry's data: its deflate stream, a data descriptor for that stream alone, and a
        // whole entry; then (flag bit 3 set) the data descriptor the central directory agrees
        // with. bsdtar, walking local headers, ends the entry at the end of its deflate stream
        // and takes the first descriptor; a reader that follows the central directory and
        // ignores what follows the deflate stream (as Node 20's DecompressionStream does) reads
        // the entry's bytes, which pass their CRC-32 and digest checks.
        let data: Uint8Array = new Uint8Array(0);
        let bytes: Uint8Array = new Uint8Array(0);
        const { zip, at, name } = twoEntries(hostile, (plain) => {
          const packed = new Uint8Array(deflateRawSync(plain));
          data = concat([packed, descriptor(plain, packed.length), HIDDEN]);
          bytes = plain;
          return { name: '', data, inflated: plain };
        });
        const [flagged, view] = copyOf(zip);
        view.setUint16(at + 6, 8, true);
        for (const field of [14, 18, 22]) view.setUint32(at + field, 0, true);
        const dataEnd = at + 30 + name.length + data.length;
        const out = inserted(flagged, dataEnd, descriptor(bytes, data.length));
        // The attack: bsdtar lists the entry hidden after the deflate stream.
        expect(listedFromStdin(out)).toContain('evil.sh');
        await unreadable(
          out,
          name,
          new RegExp(
            `does not inflate to exactly its declared \\d+ bytes: ${16 + HIDDEN.length} bytes follow the end of the deflate data`,
          ),
        );
        // Control: without the hidden entry (and the descriptor before it), it reads.
        const { zip: plainZip } = twoEntries(hostile, (bytes) => ({
          name: '',
          data: new Uint8Array(deflateRawSync(bytes)),
          inflated: bytes,
        }));
        expect(listedFromStdin(plainZip)).not.toContain('evil.sh');
        const bundle = await openBundle(plainZip, { hash });
        await (hostile === 'index' ? bundle.root() : bundle.get(digestOf(name)));
      }
    },
  );

  it.runIf(toolsAvailable('bsdtar'))(
    'a stored entry followed by a data descriptor whose data holds one a reader ends it at is refused',
    async () => {
      for (const hostile of ['index', 'chunk'] as const) {
        // Flag bit 3 set on a stored entry: a reader that walks local headers finds its end by
        // looking for a descriptor. Its data: the entry's start, a descriptor for that start,
        // and a whole entry; then the descriptor the central directory agrees with.
        let data: Uint8Array = new Uint8Array(0);
        const { zip, at, name } = twoEntries(hostile, (plain) => {
          data = concat([plain, descriptor(plain, plain.length), HIDDEN]);
          return { name: '', data };
        });
        const described = (bytes: Uint8Array) => {
          const [flagged, view] = copyOf(bytes);
          view.setUint16(at + 6, 8, true);
          for (const field of [14, 18, 22]) view.setUint32(at + field, 0, true);
          const dataEnd = at + 30 + name.length + data.length;
          return inserted(flagged, dataEnd, descriptor(data, data.length));
        };
        const out = described(zip);
        expect(listedFromStdin(out)).toContain('evil.sh');
        const plainLength = data.length - 16 - HIDDEN.length;
        await unreadable(
          out,
          name,
          new RegExp(
            `stored with a data descriptor after it, and its data holds one at byte ${at + 30 + name.length + plainLength} that a reader scanning for it ends the entry at`,
          ),
        );
        // Control: a descriptor signature in the data that gives neither the CRC-32 nor the
        // length of the data before it reads.
        const [harmless, view] = copyOf(zip);
        const inner = at + 30 + name.length + plainLength;
        view.setUint32(inner + 4, view.getUint32(inner + 4, true) ^ 1, true);
        view.setUint32(inner + 8, plainLength + 1, true);
        data = harmless.slice(at + 30 + name.length, at + 30 + name.length + data.length);
        const renamed = twoEntries(hostile, () => ({ name: '', data }));
        const bundle = await openBundle(described(renamed.zip), { hash });
        await (hostile === 'index' ? bundle.root() : bundle.get(digestOf(renamed.name)));
      }
    },
  );
});

describe('a bundle of many chunks, as the project writes it', () => {
  it('opens, every entry apart from the others', async () => {
    const count = 2048;
    const store = new MemoryStore();
    const refs: ChunkRef[] = [];
    for (let i = 0; i < count; i++) {
      const bytes = new TextEncoder().encode(`chunk ${i}\n`);
      const digest = sha256(bytes);
      await store.put(`sha256:${Buffer.from(digest).toString('hex')}`, bytes);
      refs.push({ digest, length: bytes.length });
    }
    const total = refs.reduce((n, r) => n + r.length, 0);
    const records: IndexRecord[] = [
      LAYER,
      { type: 'entry', entry: minimalMeta('a', total), raw: new Uint8Array(512) },
      { type: 'chunks', refs },
      { type: 'tail' },
      {
        type: 'end',
        diffId: new Uint8Array(32),
        size: 512 + Math.ceil(total / 512) * 512,
        entries: 1,
        deletions: 0,
        chunks: count,
        dataBytes: total,
      },
    ];
    const zip = await bundleBytes(indexBytes(records), store, { compression: 'store' });
    const bundle = await openBundle(zip, { hash });
    expect(bundle.size).toBe(count);
    expect(
      await bundle.get(`sha256:${Buffer.from(refs[count - 1]!.digest).toString('hex')}`),
    ).toEqual(new TextEncoder().encode(`chunk ${count - 1}\n`));
  });
});

let written: Promise<{ entries: Array<[string, Uint8Array]> }> | undefined;
/** The entries of the sample layer's bundle. */
function writtenEntries() {
  written ??= (async () => ({ entries: await entriesOf((await sampleBundle()).zip) }))();
  return written;
}

/**
 * Python's zipfile, writing `<out>/<mode>.zip` for each mode: to a file (zip64 local extra
 * fields when forced), or to a stream it cannot seek in (each entry followed by a data
 * descriptor; zip64 ones when forced; stored entries too).
 */
const PYTHON_ZIP = `
import io, os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
names = sys.argv[3:]
class Unseekable(io.RawIOBase):
    def __init__(self, f): self.f = f
    def writable(self): return True
    def seekable(self): return False
    def write(self, b): return self.f.write(b)
for mode in ('file', 'file-zip64', 'stream', 'stream-zip64', 'stream-stored'):
    stored = mode in ('stream-zip64', 'stream-stored')
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with open(os.path.join(out, mode + '.zip'), 'wb') as f:
        streamed = mode.startswith('stream')
        with zipfile.ZipFile(Unseekable(f) if streamed else f, 'w', method) as z:
            for name in names:
                if mode == 'file':
                    z.write(os.path.join(src, name), name)
                    continue
                with open(os.path.join(src, name), 'rb') as i:
                    with z.open(name, 'w', force_zip64=mode.endswith('zip64')) as o:
                        o.write(i.read())
`;

describe('bundles other zip writers make', () => {
  /** The sample's entries written out as files under `src`, to be zipped by other tools. */
  const files = async () => {
    const { entries } = await writtenEntries();
    const src = join(dir, 'entries');
    for (const [name, bytes] of entries) {
      mkdirSync(dirname(join(src, name)), { recursive: true });
      writeFileSync(join(src, name), bytes);
    }
    return { src, names: entries.map(([name]) => name) };
  };

  /** Opens the zip and unbundles it into an empty store: every entry is read and checked. */
  const opens = async (zip: Uint8Array) => {
    const { entries } = await writtenEntries();
    const result = await unbundle(zip, new MemoryStore(), { hash });
    expect(result.root).toEqual(entries[0]![1]);
    expect(result.newChunks).toBe(entries.length - 1);
  };

  it.runIf(toolsAvailable('zip'))(
    'Info-ZIP zip: to a file, to a pipe, with data descriptors forced (stored entries too) and with zip64 forced',
    async () => {
      const { src, names } = await files();
      // Local extra fields (UT and ux, 28 bytes) longer than the central directory's (24).
      const file = join(dir, 'file.zip');
      execFileSync('zip', ['-q', '-D', file, ...names], { cwd: src });
      await opens(readFileSync(file));
      // Written to a pipe: every entry is followed by a 16-byte data descriptor.
      const piped = execFileSync('zip', ['-q', '-D', '-', ...names], {
        cwd: src,
        maxBuffer: 64 << 20,
      });
      await opens(new Uint8Array(piped));
      const forced = join(dir, 'forced.zip');
      execFileSync('zip', ['-q', '-D', '-fd', forced, ...names], { cwd: src });
      await opens(readFileSync(forced));
      // Data descriptors on stored entries; zip64 local extra fields forced.
      const storedForced = join(dir, 'stored-forced.zip');
      execFileSync('zip', ['-q', '-D', '-0', '-fd', storedForced, ...names], { cwd: src });
      await opens(readFileSync(storedForced));
      const zip64 = join(dir, 'zip64.zip');
      execFileSync('zip', ['-q', '-D', '-fz', zip64, ...names], { cwd: src });
      await opens(readFileSync(zip64));
    },
  );

  it.runIf(toolsAvailable('python3'))(
    "Python's zipfile: to a file, and streamed (data descriptors, zip64 ones too, stored entries too)",
    async () => {
      const { src, names } = await files();
      execFileSync('python3', ['-c', PYTHON_ZIP, src, dir, ...names]);
      for (const mode of ['file', 'file-zip64', 'stream', 'stream-zip64', 'stream-stored']) {
        await opens(readFileSync(join(dir, `${mode}.zip`)));
      }
    },
  );

  it('zip.js: with data descriptors (with and without signature), zip64 ones too', async () => {
    const { entries } = await writtenEntries();
    for (const zip64 of [false, true]) {
      for (const dataDescriptorSignature of [false, true]) {
        const writer = new ZipWriter(new Uint8ArrayWriter(), {
          useWebWorkers: false,
          dataDescriptor: true,
          dataDescriptorSignature,
          zip64,
        });
        for (const [name, bytes] of entries) await writer.add(name, new Uint8ArrayReader(bytes));
        await opens(await writer.close());
      }
    }
  });
});
