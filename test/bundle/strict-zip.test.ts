/**
 * Zips that zip readers can read two ways are refused: data before or after the zip, end
 * records that disagree, entries that share bytes, bytes between entries that no entry holds.
 * Each is made from a valid bundle by patching its bytes, and each opened fine before bundles
 * were read strictly. Bundles other zip writers make (Info-ZIP `zip`, Python's `zipfile`,
 * zip.js with data descriptors) still open.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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

/** An entry made by hand, stored. */
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
}

/** A zip of stored entries, in the order given, with its local header offsets. */
function storedZip(entries: HandEntry[]): { zip: Uint8Array; offsets: number[] } {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  const offsets: number[] = [];
  let at = 0;
  for (const { name, data, extra = 0, borrowed = false } of entries) {
    const n = encoder.encode(name);
    const local = new Uint8Array(30 + n.length + extra);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(14, crc32(data), true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
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
    cv.setUint32(16, crc32(data), true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
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
    // The local header's flag cleared: the descriptor is 16 bytes no entry holds.
    const [unflagged, unflaggedView] = copyOf(zip);
    unflaggedView.setUint16(r.offset + 6, unflaggedView.getUint16(r.offset + 6, true) & ~8, true);
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
 * Python's zipfile, writing `<out>/<mode>.zip` for each mode: to a file, or to a stream it
 * cannot seek in (each entry followed by a data descriptor; zip64 ones when forced).
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
for mode in ('file', 'stream', 'stream-zip64'):
    method = zipfile.ZIP_STORED if mode == 'stream-zip64' else zipfile.ZIP_DEFLATED
    with open(os.path.join(out, mode + '.zip'), 'wb') as f:
        with zipfile.ZipFile(f if mode == 'file' else Unseekable(f), 'w', method) as z:
            for name in names:
                if mode == 'file':
                    z.write(os.path.join(src, name), name)
                    continue
                with open(os.path.join(src, name), 'rb') as i:
                    with z.open(name, 'w', force_zip64=mode == 'stream-zip64') as o:
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
    'Info-ZIP zip: to a file, to a pipe and with data descriptors forced',
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
    },
  );

  it.runIf(toolsAvailable('python3'))(
    "Python's zipfile: to a file, and streamed (data descriptors, zip64 ones too)",
    async () => {
      const { src, names } = await files();
      execFileSync('python3', ['-c', PYTHON_ZIP, src, dir, ...names]);
      for (const mode of ['file', 'stream', 'stream-zip64']) {
        await opens(readFileSync(join(dir, `${mode}.zip`)));
      }
    },
  );

  it('zip.js: with data descriptors (12 bytes, no signature), zip64 ones too', async () => {
    const { entries } = await writtenEntries();
    for (const zip64 of [false, true]) {
      const writer = new ZipWriter(new Uint8ArrayWriter(), {
        useWebWorkers: false,
        dataDescriptor: true,
        zip64,
      });
      for (const [name, bytes] of entries) await writer.add(name, new Uint8ArrayReader(bytes));
      await opens(await writer.close());
    }
  });
});
