/**
 * `changes`: added, removed and modified files between two versions of a layer, what changed
 * about each, and the bytes that must move, from the indexes alone.
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { changes } from '../../src/pipeline/changes.js';
import { MemoryStore } from '../../src/store/memory.js';
import { encodeHeader, paddingSize, type TarHeaderInput } from '../../src/tar/header.js';
import { concat, pseudoRandom } from '../helpers/bytes.js';
import { convertBytes, hash } from '../helpers/layers.js';
import { streamOf } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';

type File = [TarHeaderInput, Uint8Array];
const file = (path: string, body: Uint8Array, extra: Partial<TarHeaderInput> = {}): File => [
  { path, size: body.length, mode: 0o644, mtime: { sec: 100, nsec: 0 }, ...extra },
  body,
];

function tarOf(files: File[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [h, body] of files) {
    parts.push(encodeHeader(h), body, new Uint8Array(paddingSize(body.length)));
  }
  parts.push(new Uint8Array(1024));
  return concat(parts);
}

const enc = (s: string) => new TextEncoder().encode(s);
const big = pseudoRandom(600_000, 4);
const bigChanged = big.slice();
bigChanged[300_000]! ^= 1;

describe('changes', () => {
  it('lists added, removed and modified files and the bytes to move', async () => {
    const store = new MemoryStore();
    const chunker = { min: 4096, avg: 16384, max: 65536 };
    const v1 = tarOf([
      file('./etc/conf', enc('a = 1\n')),
      file('./etc/same', enc('unchanged\n')),
      file('./opt/big.bin', big),
      file('./opt/gone', enc('bye\n')),
      file('./bin/tool', enc('#!/bin/sh\n'), { mode: 0o755 }),
    ]);
    const v2 = tarOf([
      file('etc/conf', enc('a = 2\n')),
      file('etc/same', enc('unchanged\n')),
      file('etc/new', enc('hello\n')),
      file('opt/big.bin', bigChanged),
      file('bin/tool', enc('#!/bin/sh\n'), { mode: 0o700, mtime: { sec: 200, nsec: 5 } }),
      file('usr/.wh.old', new Uint8Array(0)),
    ]);
    const a = await convertBytes(v1, store, { chunker });
    const b = await convertBytes(v2, store, { chunker });
    const r = await changes(streamOf(a.index), streamOf(b.index), store, { hash });
    const byPath = Object.fromEntries(r.files.map((f) => [f.path, f]));
    expect(Object.keys(byPath).sort()).toEqual([
      'bin/tool',
      'etc/conf',
      'etc/new',
      'opt/big.bin',
      'opt/gone',
    ]);
    expect(byPath['etc/new']).toMatchObject({ change: 'added', size: 6, newBytes: 6 });
    expect(byPath['opt/gone']).toMatchObject({ change: 'removed', oldSize: 4, newBytes: 0 });
    expect(byPath['etc/conf']).toMatchObject({ change: 'modified', aspects: ['content'] });
    expect(byPath['bin/tool']).toMatchObject({
      change: 'modified',
      aspects: ['mode', 'mtime'],
      newBytes: 0,
    });
    const bigChange = byPath['opt/big.bin']!;
    expect(bigChange.aspects).toEqual(['content']);
    // One chunk of the 600 kB file changed (content-defined chunks resynchronize).
    expect(bigChange.newBytes).toBeGreaterThan(0);
    expect(bigChange.newBytes).toBeLessThanOrEqual(2 * 65536);
    expect(r).toMatchObject({ added: 1, removed: 1, modified: 3, deletions: ['usr/old'] });
    expect(r.oldDiffId).toBe(a.result.diffId);
    expect(r.newDiffId).toBe(b.result.diffId);
    // No two new files share a chunk here, so the files' new bytes add up to what must move.
    expect(r.bytesToMove).toBe(r.files.reduce((n, f) => n + f.newBytes, 0));
    expect(r.chunksToMove).toBeGreaterThan(0);
    expect(r.indexChunksToMove).toBeGreaterThan(0);
  });

  it.runIf(toolsAvailable('tar'))(
    'sees a sparse file whose data moved or whose holes grew, with its expanded size',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'layerdiff-changes-sparse-'));
      try {
        // The same 3 data bytes: at 4 KiB in a 1 MiB file, then at 8 KiB, then in 2 MiB.
        const version = (at: number, size: number) => {
          const src = join(dir, `src-${at}-${size}`);
          mkdirSync(src);
          const f = join(src, 'sparse');
          writeFileSync(f, new Uint8Array(0));
          truncateSync(f, size);
          const fd = openSync(f, 'r+');
          writeSync(fd, Uint8Array.of(1, 2, 3), 0, 3, at);
          closeSync(fd);
          const tar = join(dir, `v-${at}-${size}.tar`);
          execFileSync('tar', [
            '--format=gnu',
            '--sparse',
            '--mtime=@0',
            '-cf',
            tar,
            '-C',
            src,
            'sparse',
          ]);
          return new Uint8Array(readFileSync(tar));
        };
        const store = new MemoryStore();
        const a = await convertBytes(version(4096, 1 << 20), store);
        const b = await convertBytes(version(8192, 1 << 20), store);
        const c = await convertBytes(version(8192, 2 << 20), store);
        const moved = await changes(streamOf(a.index), streamOf(b.index), store, { hash });
        expect(moved.files).toEqual([
          expect.objectContaining({ path: 'sparse', aspects: ['content'] }),
        ]);
        const grown = await changes(streamOf(b.index), streamOf(c.index), store, { hash });
        expect(grown.files).toEqual([
          expect.objectContaining({
            aspects: ['content', 'size'],
            size: 2 << 20,
            oldSize: 1 << 20,
          }),
        ]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('of a layer with itself: nothing', async () => {
    const store = new MemoryStore();
    const v1 = tarOf([file('a', enc('x')), file('b', big)]);
    const a = await convertBytes(v1, store);
    const r = await changes(streamOf(a.index), streamOf(a.index), store, { hash });
    expect(r).toMatchObject({
      files: [],
      bytesToMove: 0,
      chunksToMove: 0,
      indexChunksToMove: 0,
      indexBytesToMove: 0,
    });
  });

  it('a path that appears twice counts as its last entry', async () => {
    const store = new MemoryStore();
    const v1 = tarOf([file('a', enc('x'))]);
    const v2 = tarOf([
      file('a', enc('y')),
      file('a', enc('x')),
      file('b', enc('y')),
      file('b', enc('z')),
    ]);
    const a = await convertBytes(v1, store);
    const b = await convertBytes(v2, store);
    const r = await changes(streamOf(a.index), streamOf(b.index), store, { hash });
    expect(r.files.map((f) => [f.path, f.change])).toEqual([['b', 'added']]);
    expect(r.added).toBe(1);
  });

  it('compares owner names, link targets, xattrs and device numbers', async () => {
    const store = new MemoryStore();
    const x = (v: number) => ({ 'user.k': Uint8Array.of(v) });
    const v1 = tarOf([
      file('owned', enc('x'), { uid: 5, uname: 'root', gname: 'root' }),
      file('link', new Uint8Array(0), { kind: 'symlink', linkname: 'a' }),
      file('tagged', enc('x'), { xattrs: x(1) }),
      file('dev', new Uint8Array(0), { kind: 'char', devmajor: 1, devminor: 3 }),
      file('kept', enc('x'), { uname: 'root', xattrs: x(1) }),
    ]);
    const v2 = tarOf([
      file('owned', enc('x'), { uid: 5, uname: 'admin', gname: 'root' }),
      file('link', new Uint8Array(0), { kind: 'symlink', linkname: 'b' }),
      file('tagged', enc('x'), { xattrs: x(2) }),
      file('dev', new Uint8Array(0), { kind: 'char', devmajor: 1, devminor: 5 }),
      file('kept', enc('x'), { uname: 'root', xattrs: x(1) }),
    ]);
    const a = await convertBytes(v1, store);
    const b = await convertBytes(v2, store);
    const r = await changes(streamOf(a.index), streamOf(b.index), store, { hash });
    expect(r.files.map((f) => [f.path, f.aspects])).toEqual([
      ['owned', ['owner']],
      ['link', ['link']],
      ['tagged', ['xattrs']],
      ['dev', ['device']],
    ]);
  });

  it('sees a change in any part of a chunk list that spans several records', async () => {
    // Chunks of 64 to 1,024 bytes: about 2,300 references, three chunk records.
    const chunker = { min: 64, avg: 256, max: 1024 };
    const store = new MemoryStore();
    const tail = big.slice();
    tail[590_000]! ^= 1;
    const a = await convertBytes(tarOf([file('f', big), file('g', big)]), store, { chunker });
    const b = await convertBytes(tarOf([file('f', tail), file('g', big)]), store, { chunker });
    const r = await changes(streamOf(a.index), streamOf(b.index), store, { hash });
    expect(r.files).toEqual([expect.objectContaining({ path: 'f', aspects: ['content'] })]);
    expect(r.files[0]!.newBytes).toBeLessThanOrEqual(2 * 1024);
  });

  it('hands changes to onFile one by one, in the order files would hold them', async () => {
    const store = new MemoryStore();
    const v1 = tarOf([file('a', enc('1')), file('b', enc('2')), file('c', enc('3'))]);
    const v2 = tarOf([file('b', enc('2!')), file('d', enc('4')), file('a', enc('1'))]);
    const a = await convertBytes(v1, store);
    const b = await convertBytes(v2, store);
    const whole = await changes(streamOf(a.index), streamOf(b.index), store, { hash });
    const seen: unknown[] = [];
    const streamed = await changes(streamOf(a.index), streamOf(b.index), store, {
      hash,
      onFile: (f) => seen.push(f),
    });
    expect(whole.files.map((f) => f.path)).toEqual(['b', 'd', 'c']);
    expect(seen).toEqual(whole.files);
    expect(streamed).toEqual({ ...whole, files: [] });
  });

  it('keeps at most maxEntries paths and maxChunks chunks a version, and fails beyond', async () => {
    const store = new MemoryStore();
    const three = await convertBytes(
      tarOf([file('a', enc('1')), file('b', enc('2')), file('c', enc('3'))]),
      store,
    );
    // Two files and a whiteout: three entries; three chunks the old version lacks.
    const other = await convertBytes(
      tarOf([file('d', enc('4')), file('e', enc('5')), file('f', enc('6'))]),
      store,
    );
    const withWhiteout = await convertBytes(
      tarOf([file('a', enc('1')), file('b', enc('2')), file('usr/.wh.x', new Uint8Array(0))]),
      store,
    );
    const one = await convertBytes(tarOf([file('a', enc('1'))]), store);
    const run = (from: Uint8Array, to: Uint8Array, limits: object) =>
      changes(streamOf(from), streamOf(to), store, { hash, ...limits });
    await expect(run(three.index, withWhiteout.index, { maxEntries: 3 })).resolves.toMatchObject({
      removed: 1,
      deletions: ['usr/x'],
    });
    await expect(run(three.index, one.index, { maxEntries: 2 })).rejects.toMatchObject({
      code: 'ERR_INDEX_LIMIT',
      message: expect.stringMatching(/^the old index's paths exceed 2, .*maxEntries/),
    });
    await expect(run(one.index, withWhiteout.index, { maxEntries: 2 })).rejects.toMatchObject({
      code: 'ERR_INDEX_LIMIT',
      message: expect.stringContaining("the new index's paths and whiteouts exceed 2"),
    });
    await expect(run(one.index, other.index, { maxChunks: 3 })).resolves.toMatchObject({
      chunksToMove: 3,
    });
    await expect(run(three.index, one.index, { maxChunks: 2 })).rejects.toMatchObject({
      code: 'ERR_INDEX_LIMIT',
      message: expect.stringMatching(/^the old index's distinct chunks exceed 2, .*maxChunks/),
    });
    await expect(run(one.index, other.index, { maxChunks: 2 })).rejects.toMatchObject({
      code: 'ERR_INDEX_LIMIT',
      message: expect.stringContaining("the new index's chunks that the old one lacks exceed 2"),
    });
    await expect(run(one.index, one.index, { maxEntries: 0 })).rejects.toMatchObject({
      code: 'ERR_USAGE',
    });
  });

  it('stops reading both indexes when one fails', async () => {
    const store = new MemoryStore();
    const many = await convertBytes(
      tarOf(Array.from({ length: 200 }, (_, i) => file(`f${i}`, enc(`${i}`)))),
      store,
      // Flat: read from the stream itself as it goes (a root is read whole first).
      { index: 'flat' },
    );
    const cancelled: unknown[] = [];
    /** The index in 64-byte pieces, one per pull, noting a cancel. */
    const source = (bytes: Uint8Array, name: string) => {
      let at = 0;
      return new ReadableStream<Uint8Array>({
        pull(c) {
          if (at >= bytes.length) return c.close();
          c.enqueue(bytes.slice(at, at + 64));
          at += 64;
        },
        cancel(reason) {
          cancelled.push([name, reason]);
        },
      });
    };
    const err = await changes(source(many.index, 'old'), source(many.index, 'new'), store, {
      hash,
      maxEntries: 10,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_INDEX_LIMIT' });
    // The old index, part read, and the new one, not read at all.
    expect(cancelled).toEqual([
      ['old', err],
      ['new', err],
    ]);
  });
});
