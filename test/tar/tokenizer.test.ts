import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryKind, type TarEntry } from '../../src/tar/index.js';
import { buildFixtures, type Fixture } from './fixtures.js';
import {
  fingerprint,
  gnuTarNames,
  hasBsdtar,
  type PyMember,
  pythonMembers,
  reassemble,
  sameBytes,
  split,
  summarize,
  tokenize,
  tokenizePieces,
} from './helpers.js';

// Deterministic property runs: the same cases on every run and machine.
fc.configureGlobal({ seed: 20240601 });

let fixtures: Fixture[] = [];
let cleanup = () => {};

beforeAll(() => {
  const built = buildFixtures();
  fixtures = built.fixtures;
  cleanup = built.cleanup;
});
afterAll(() => cleanup());

const stripDirSlash = (e: TarEntry) =>
  e.kind === 'directory' ? e.path.replace(/\/+$/, '') : e.path;

function expectMatchesPython(entries: TarEntry[], members: PyMember[]): void {
  expect(entries.map(stripDirSlash)).toEqual(members.map((m) => m.name));
  entries.forEach((e, i) => {
    const m = members[i]!;
    const ctx = `${e.path}`;
    expect(e.kind, ctx).toBe(entryKind(m.type === '\0' ? '0' : m.type, m.name));
    expect(e.sparse ? e.sparse.realSize : e.size, ctx).toBe(m.size);
    expect(e.linkname, ctx).toBe(m.linkname);
    expect(e.mode, ctx).toBe(m.mode);
    expect(e.uid, ctx).toBe(m.uid);
    expect(e.gid, ctx).toBe(m.gid);
    expect(e.uname, ctx).toBe(m.uname);
    expect(e.gname, ctx).toBe(m.gname);
    expect(e.mtime.sec + e.mtime.nsec / 1e9, ctx).toBeCloseTo(m.mtime, 6);
    const noXattr = (p: Record<string, string>) =>
      Object.fromEntries(Object.entries(p).filter(([k]) => !k.includes('.xattr.')));
    expect(noXattr(e.pax), ctx).toEqual(noXattr(m.pax));
    if (e.kind === 'char' || e.kind === 'block') {
      expect([e.devmajor, e.devminor], ctx).toEqual([m.devmajor, m.devminor]);
    }
    if (e.sparse?.map) {
      // Python drops empty segments (GNU tar's end marker) from extension blocks only.
      const nonEmpty = (map: Array<[number, number]>) => map.filter(([, n]) => n !== 0);
      expect(nonEmpty(e.sparse.map), ctx).toEqual(nonEmpty(m.sparse ?? []));
    } else if (e.sparse) {
      expect(e.sparse.format).toBe('pax-1.0');
    } else {
      expect(m.sparse, ctx).toBeNull();
    }
  });
}

describe('real archives', () => {
  it('built the expected fixtures', () => {
    const names = fixtures.map((f) => f.name);
    expect(names).toContain('gnu-posix-sparse-1.0');
    expect(names).toContain('py-gnu');
    if (!hasBsdtar()) console.warn('bsdtar not installed: bsdtar fixtures skipped');
  });

  it('reassembles every archive byte for byte and matches Python tarfile and GNU tar', async () => {
    const reference = pythonMembers(fixtures.map((f) => f.file));
    for (const [i, f] of fixtures.entries()) {
      const tokens = await tokenize(f.bytes);
      expect(sameBytes(reassemble(tokens), f.bytes), f.name).toBe(true);
      const { entries, tail } = summarize(tokens);
      expect(tail.length, f.name).toBeGreaterThanOrEqual(512);
      expectMatchesPython(
        entries.map((e) => e.entry),
        reference[i]!,
      );
      expect(
        entries.map((e) => e.entry.path),
        f.name,
      ).toEqual(gnuTarNames(f.file));
      for (const e of entries) {
        expect(e.padding.length, f.name).toBe((512 - (e.entry.bodySize % 512)) % 512);
        expect(e.raw.length % 512, f.name).toBe(0);
      }
    }
  });

  it('gives identical tokens for fixed piece sizes, including 1-byte pieces', async () => {
    for (const f of fixtures) {
      const whole = fingerprint(await tokenize(f.bytes));
      const sizes: Array<number | number[]> = [511, 512, 513, 4096, [1, 1023, 7, 100_000]];
      // 1-byte pieces for small archives; mostly tiny pieces for the rest.
      sizes.push(f.bytes.length <= 16 * 1024 ? 1 : [1, 1, 1, 2, 1, 3, 511, 1, 1, 700]);
      for (const s of sizes) {
        const tokens = await tokenize(f.bytes, s);
        expect(sameBytes(reassemble(tokens), f.bytes), `${f.name} ${s}`).toBe(true);
        expect(fingerprint(tokens), `${f.name} ${s}`).toEqual(whole);
      }
    }
  });

  it('gives identical tokens for random splits (property)', async () => {
    const wholes = new Map<string, ReturnType<typeof fingerprint>>();
    for (const f of fixtures) wholes.set(f.name, fingerprint(await tokenize(f.bytes)));
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: fixtures.length - 1 }),
        fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 20 }),
        async (which, sizes) => {
          const f = fixtures[which]!;
          const tokens = await tokenize(f.bytes, sizes);
          expect(sameBytes(reassemble(tokens), f.bytes)).toBe(true);
          expect(fingerprint(tokens)).toEqual(wholes.get(f.name));
        },
      ),
      { numRuns: 60, seed: 42 },
    );
  });

  it('passes body bytes through as subarrays of the input pieces', async () => {
    const f = fixtures.find((x) => x.name === 'gnu-gnu-basic')!;
    const pieces = split(f.bytes, 777);
    const buffers = new Set(pieces.map((p) => p.buffer));
    const tokens = await tokenizePieces(pieces);
    const bodies = tokens.filter((t) => t.type === 'body');
    expect(bodies.length).toBeGreaterThan(5);
    for (const t of bodies) expect(buffers.has(t.bytes.buffer)).toBe(true);
  });
});

describe('what the archives decode to', () => {
  const entriesOf = async (name: string) => {
    const f = fixtures.find((x) => x.name === name)!;
    return summarize(await tokenize(f.bytes));
  };

  it('decodes GNU base-256 ids and negative mtimes', async () => {
    const { entries } = await entriesOf('py-gnu');
    const ids = entries.find((e) => e.entry.path === 'big-ids')!.entry;
    expect([ids.uid, ids.gid, ids.format]).toEqual([2 ** 40, 2 ** 33, 'gnu']);
    expect(entries.find((e) => e.entry.path === 'neg-mtime')!.entry.mtime).toEqual({
      sec: -1000,
      nsec: 0,
    });
    expect(entries.find((e) => e.entry.path === 'big-mtime')!.entry.mtime.sec).toBe(2 ** 40);
    expect(entries.find((e) => e.entry.path === 'p'.repeat(300))?.entry.kind).toBe('file');
    expect(entries.find((e) => e.entry.path === 'sym')?.entry.linkname).toBe(
      `/l/${'k'.repeat(200)}`,
    );
  });

  it('decodes pax times, global headers and xattrs', async () => {
    const { entries } = await entriesOf('py-pax');
    const get = (p: string) => entries.find((e) => e.entry.path === p)!.entry;
    expect(get('frac-mtime').mtime).toEqual({ sec: 1600000000, nsec: 250000000 });
    expect(get('neg-frac').mtime).toEqual({ sec: -2, nsec: 500000000 });
    expect(get('plain.txt').pax.comment).toBe('global header');
    expect(get('plain.txt').format).toBe('ustar');
    const x = get('xattr-file');
    expect(Object.keys(x.xattrs).sort()).toEqual(['security.x', 'user.k']);
    expect(new TextDecoder().decode(x.xattrs['user.k'])).toBe('v');
    expect(get('chr')).toMatchObject({ kind: 'char', devmajor: 1, devminor: 3, bodySize: 0 });
    expect(get('blk')).toMatchObject({ kind: 'block', devmajor: 8, devminor: 1 });
    expect(get('ünïcödé-名前.txt').size).toBe(2);
    // The global header's bytes (header block + one data block) start the first entry's raw.
    expect(entries[0]!.raw.length).toBe(512 * 3);
    expect(String.fromCharCode(entries[0]!.raw[156]!)).toBe('g');
    expect(entries[0]!.offset).toBe(0);
    expect(get('chr').pax.comment).toBe('global header');
  });

  it('decodes GNU tar xattrs (binary values) and bsdtar LIBARCHIVE.xattr', async () => {
    const want = {
      'user.comment': new TextEncoder().encode('hello xattr'),
      'user.bin': new Uint8Array([0, 1, 2, 255, 10, 61]),
    };
    const gnu = await entriesOf('gnu-posix-xattrs');
    expect(gnu.entries.find((e) => e.entry.path === './attrs')!.entry.xattrs).toEqual(want);
    if (hasBsdtar()) {
      const bsd = await entriesOf('bsd-pax-xattrs');
      const e = bsd.entries.find((x) => x.entry.path === './attrs')!.entry;
      expect(e.xattrs).toEqual(want);
      expect(Object.keys(e.pax).some((k) => k.startsWith('LIBARCHIVE.xattr.'))).toBe(true);
    }
  });

  it('decodes every sparse flavour', async () => {
    const holes = async (name: string) =>
      (await entriesOf(name)).entries.find((e) => e.entry.path.endsWith('holes'))!;
    const map = (await holes('gnu-gnu-sparse')).entry.sparse?.map ?? [];
    expect(map.length).toBeGreaterThanOrEqual(3);
    expect(map[0]).toEqual([0, 4096]);
    for (const [name, format] of [
      ['gnu-gnu-sparse', 'gnu-old'],
      ['gnu-oldgnu-sparse', 'gnu-old'],
      ['gnu-posix-sparse-0.0', 'pax-0.0'],
      ['gnu-posix-sparse-0.1', 'pax-0.1'],
      ['gnu-posix-sparse-1.0', 'pax-1.0'],
    ] as const) {
      const e = await holes(name);
      expect(e.entry.path, name).toBe('./holes');
      expect(e.entry.sparse?.format, name).toBe(format);
      expect(e.entry.sparse?.realSize, name).toBe(200 * 1024);
      if (format !== 'pax-1.0') expect(e.entry.sparse?.map, name).toEqual(map);
      const stored = map.reduce((n, [, len]) => n + len, 0);
      if (format === 'pax-1.0') expect(e.entry.size).toBeGreaterThan(stored);
      else expect(e.entry.size, name).toBe(stored);
      expect(e.body.length).toBe(e.entry.size);
    }
    expect((await holes('gnu-gnu-sparse')).entry.kind).toBe('gnu-sparse');
    // More than 4 segments: old GNU format needs sparse extension blocks after the header.
    for (const name of ['gnu-gnu-sparse', 'gnu-oldgnu-sparse', 'gnu-posix-sparse-0.1']) {
      const many = (await entriesOf(name)).entries.find((e) =>
        e.entry.path.endsWith('many-holes'),
      )!;
      expect(many.entry.sparse?.map?.length, name).toBeGreaterThanOrEqual(30);
      if (name !== 'gnu-posix-sparse-0.1') expect(many.raw.length, name).toBeGreaterThan(1024);
    }
  });

  it('keeps hardlinks, symlinks, fifos, directories and empty files header-only', async () => {
    for (const name of ['gnu-gnu-basic', 'gnu-posix-special', 'gnu-v7-basic']) {
      const { entries } = await entriesOf(name);
      for (const { entry } of entries) {
        if (['hardlink', 'symlink', 'fifo', 'directory'].includes(entry.kind)) {
          expect(entry.bodySize, `${name} ${entry.path}`).toBe(0);
        }
      }
      if (name.endsWith('basic')) {
        const hard = entries.find((e) => e.entry.kind === 'hardlink');
        expect(hard?.entry.linkname).toBe('./hard');
        expect(hard?.entry.path).toBe('./hello.txt');
      }
    }
    const v7 = await entriesOf('gnu-v7-basic');
    expect(v7.entries.every((e) => e.entry.format === 'v7')).toBe(true);
    const oldgnu = await entriesOf('gnu-oldgnu-basic');
    expect(oldgnu.entries.every((e) => e.entry.format === 'gnu')).toBe(true);
  });

  it('puts trailing garbage in the tail', async () => {
    const f = fixtures.find((x) => x.name === 'gnu-basic-trailing-garbage')!;
    const base = fixtures.find((x) => x.name === 'gnu-gnu-basic')!;
    const a = summarize(await tokenize(f.bytes));
    const b = summarize(await tokenize(base.bytes));
    expect(a.entries).toEqual(b.entries);
    expect(a.tail.length).toBe(b.tail.length + 1000);
  });
});
