/** Layers and bundles for the bundle tests. */
import { Uint8ArrayReader, Uint8ArrayWriter, ZipWriter } from '@zip.js/zip.js';
import { expect } from 'vitest';
import { type CreateBundleOptions, createBundle } from '../../src/bundle/create-bundle.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { ChunkReader } from '../../src/store/types.js';
import { concat, lcgBytes, pseudoRandom } from '../helpers/bytes.js';
import { convertBytes, hash } from '../helpers/layers.js';
import { collect, sha256 } from '../helpers/streams.js';
import { tarOf } from '../helpers/tars.js';

export { tarOf };

/** Byte-for-byte equality, cheap on large arrays (a deep `toEqual` of megabytes takes seconds). */
export function expectSame(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length).toBe(expected.length);
  expect(sha256(actual)).toBe(sha256(expected));
}

/** Small data chunks, so that small layers still have many chunks (and index chunks). */
export const CHUNKER = { min: 256, avg: 1024, max: 4096 };

/** Text-like bytes (compressible), deterministic. */
export function textBytes(n: number, seed: number): Uint8Array {
  const raw = lcgBytes(n, seed);
  return raw.map((b) => 97 + (b % 8));
}

/** A layer of a small text file, a repeated block (duplicate chunks) and two random files. */
export async function sampleLayer() {
  const block = pseudoRandom(20_000, 3);
  const tar = tarOf([
    ['etc/hello.txt', new TextEncoder().encode('hello, bundle\n')],
    ['usr/share/doc.txt', textBytes(60_000, 5)],
    ['usr/lib/a.bin', pseudoRandom(300_000, 7)],
    ['usr/lib/twice.bin', concat([block, block, block])],
    ['usr/lib/b.bin', pseudoRandom(200_000, 11)],
  ]);
  const store = new MemoryStore();
  const { index, result } = await convertBytes(tar, store, { chunker: CHUNKER });
  return { tar, store, root: index, result };
}

/** The whole bundle of an index, in memory. */
export function bundleBytes(
  root: Uint8Array,
  store: ChunkReader,
  options: CreateBundleOptions = {},
): Promise<Uint8Array> {
  return collect(createBundle(root, store, { hash, ...options }));
}

/** A zip built entry by entry with zip.js directly (for hostile bundles). */
export async function zipOf(
  entries: Array<[string, Uint8Array, { level?: number; directory?: boolean }?]>,
): Promise<Uint8Array> {
  const writer = new Uint8ArrayWriter();
  const zip = new ZipWriter(writer, { useWebWorkers: false, level: 0, dataDescriptor: false });
  for (const [name, bytes, opts] of entries) {
    await zip.add(name, opts?.directory ? undefined : new Uint8ArrayReader(bytes), {
      ...(opts?.level !== undefined ? { level: opts.level } : {}),
      ...(opts?.directory ? { directory: true } : {}),
    });
  }
  return zip.close();
}

/** The entries (name and bytes) of a zip, in order, read with zip.js directly. */
export async function entriesOf(zip: Uint8Array): Promise<Array<[string, Uint8Array]>> {
  const { ZipReader } = await import('@zip.js/zip.js');
  const entries = await new ZipReader(new Uint8ArrayReader(zip), {
    useWebWorkers: false,
  }).getEntries();
  const out: Array<[string, Uint8Array]> = [];
  for (const e of entries) {
    if (e.directory) continue;
    out.push([e.filename, await e.getData(new Uint8ArrayWriter())]);
  }
  return out;
}
