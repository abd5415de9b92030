/**
 * Bundles: a zip of an index and every chunk it needs. Standard tools list and test it, it
 * holds each chunk once in reading order, it unbundles into an empty store that then rebuilds
 * the exact tar, and the bundle itself serves as a chunk store for `reassemble`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createBundle } from '../../src/bundle/create-bundle.js';
import { openBundle } from '../../src/bundle/open-bundle.js';
import { unbundle } from '../../src/bundle/unbundle.js';
import { ChunkNotFoundError } from '../../src/errors.js';
import { formatDigest } from '../../src/hash/digest.js';
import { indexChunks } from '../../src/pipeline/open-index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { convertBytes, hash, reassembleBytes } from '../helpers/layers.js';
import { readAll, sha256, streamOf } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { bundleBytes, CHUNKER, entriesOf, expectSame, sampleLayer, tarOf } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'layerdiff-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Distinct chunks of an index in first-reference order. */
async function distinctChunks(root: Uint8Array, store: MemoryStore): Promise<string[]> {
  const seen = new Set<string>();
  for await (const { ref } of indexChunks(streamOf(root), store, { hash })) {
    seen.add(formatDigest(ref.digest));
  }
  return [...seen];
}

describe('createBundle', () => {
  it('holds index.ldr first, then each distinct chunk once, in reading order', async () => {
    const { root, store } = await sampleLayer();
    const zip = await bundleBytes(root, store);
    const entries = await entriesOf(zip);
    expect(entries[0]![0]).toBe('index.ldr');
    expect(entries[0]![1]).toEqual(root);
    // Each distinct chunk once (the exact interleaving of index and data chunks follows the
    // reader's pace through the index).
    const expected = await distinctChunks(root, store);
    const names = entries.slice(1).map(([name]) => `sha256:${name.slice('chunks/sha256/'.length)}`);
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual([...expected].sort());
    for (const [name, bytes] of entries.slice(1))
      expect(sha256(bytes)).toBe(`sha256:${name.slice(14)}`);
    // The index chunks come first (a reader needs them first), and there are some.
    const indexCount = (
      await readAll(
        new ReadableStream({
          async start(c) {
            for await (const x of indexChunks(streamOf(root), store, { hash })) c.enqueue(x);
            c.close();
          },
        }),
      )
    ).filter((x) => (x as { kind: string }).kind === 'index').length;
    expect(indexCount).toBeGreaterThan(0);
  });

  it('is deterministic, and compression choices all rebuild the same tar', async () => {
    const { tar, root, store } = await sampleLayer();
    const auto = await bundleBytes(root, store);
    // Buffer.equals: toEqual walks large byte arrays element by element, for seconds.
    expect(Buffer.from(await bundleBytes(root, store)).equals(auto)).toBe(true);
    const stored = await bundleBytes(root, store, { compression: 'store' });
    const deflated = await bundleBytes(root, store, { compression: 'deflate' });
    // Text and index chunks compress, random chunks do not: auto is the smallest.
    expect(auto.length).toBeLessThan(stored.length);
    expect(auto.length).toBeLessThanOrEqual(deflated.length);
    for (const zip of [auto, stored, deflated]) {
      const bundle = await openBundle(zip, { hash });
      expectSame(await reassembleBytes(await bundle.root(), bundle), tar);
    }
  });

  it.runIf(toolsAvailable('unzip'))('is a zip that unzip lists and tests', async () => {
    const { root, store } = await sampleLayer();
    const zip = await bundleBytes(root, store);
    const path = join(dir, 'sample.zip');
    writeFileSync(path, zip);
    const listing = execFileSync('unzip', ['-l', path], { encoding: 'utf8' });
    const names = (await entriesOf(zip)).map(([n]) => n);
    expect(listing).toContain('index.ldr');
    for (const name of names) expect(listing).toContain(name);
    expect(listing).toMatch(new RegExp(`\\s${names.length} files`));
    const test = execFileSync('unzip', ['-t', path], { encoding: 'utf8' });
    expect(test).toContain('No errors detected');
    // unzip extracts every chunk with the bytes its name promises.
    const out = join(dir, 'x');
    execFileSync('unzip', ['-q', path, '-d', out]);
    const entries = await entriesOf(zip);
    for (const [name, bytes] of entries) {
      const onDisk = readFileSync(join(out, name));
      expect(onDisk.equals(bytes), name).toBe(true);
    }
  });

  it('fails with the store error when a chunk is missing, and reads nothing before a pull', async () => {
    const { root, store } = await sampleLayer();
    let reads = 0;
    const counting = {
      async get(d: string) {
        reads++;
        return store.get(d);
      },
    };
    const stream = createBundle(root, counting, { hash });
    await new Promise((r) => setTimeout(r, 20));
    expect(reads).toBe(0);
    await stream.cancel();
    const [victim] = await distinctChunks(root, store);
    const missing = {
      async get(d: string) {
        if (d === victim) throw new ChunkNotFoundError(d);
        return store.get(d);
      },
    };
    await expect(bundleBytes(root, missing)).rejects.toMatchObject({ code: 'ERR_CHUNK_NOT_FOUND' });
  });
});

describe('createBundle pacing', () => {
  it('reads chunks only as the consumer pulls, and a cancel stops it cleanly', async () => {
    const { root, store } = await sampleLayer();
    let reads = 0;
    const counting = {
      async get(d: string) {
        reads++;
        return store.get(d);
      },
    };
    const reader = createBundle(root, counting, { hash, compression: 'store' }).getReader();
    for (let i = 0; i < 5; i++) expect((await reader.read()).done).toBe(false);
    await new Promise((r) => setTimeout(r, 50));
    // A handful of pieces pulled: a handful of chunks read (plus the index walk's look-ahead).
    const early = reads;
    expect(early).toBeLessThan(20);
    await reader.cancel();
    await new Promise((r) => setTimeout(r, 50));
    expect(reads - early).toBeLessThanOrEqual(1);
  });
});

describe('unbundle', () => {
  it('fills an empty store that then rebuilds the exact tar', async () => {
    const { tar, root, store } = await sampleLayer();
    const zip = await bundleBytes(root, store);
    const fresh = new MemoryStore();
    const result = await unbundle(zip, fresh, { hash });
    expect(result.root).toEqual(root);
    const distinct = await distinctChunks(root, store);
    expect(result.chunks).toBe(distinct.length);
    expect(result.newChunks).toBe(distinct.length);
    expect(result.unusedEntries).toBe(0);
    expect(fresh.size).toBe(distinct.length);
    expectSame(await reassembleBytes(result.root, fresh), tar);
    // A second time writes nothing.
    const again = await unbundle(zip, fresh, { hash });
    expect(again.newChunks).toBe(0);
    expect(again.newBytes).toBe(0);
  });

  it('bundles a flat index too', async () => {
    const tar = tarOf([['a', new TextEncoder().encode('flat\n')]]);
    const store = new MemoryStore();
    const { index } = await convertBytes(tar, store, { chunker: CHUNKER, index: 'flat' });
    const zip = await bundleBytes(index, store);
    const fresh = new MemoryStore();
    const { root } = await unbundle(zip, fresh, { hash });
    expect(root).toEqual(index);
    expectSame(await reassembleBytes(root, fresh), tar);
  });
});

describe('bundles this writer makes, read back', () => {
  it('deflated chunks whose inflated end falls just past a 64 KiB piece (zeros) rebuild', async () => {
    // 65,586 and 65,647 zeros failed to read back from a deflated bundle of our own (a review's
    // sweep): the inflater stopped with the chunk's last bytes pending.
    for (const n of [65_586, 65_647]) {
      const tar = tarOf([['var/zeros.img', new Uint8Array(n)]]);
      const store = new MemoryStore();
      const { index } = await convertBytes(tar, store, {});
      const bundle = await openBundle(await bundleBytes(index, store, { compression: 'deflate' }));
      expectSame(await reassembleBytes(await bundle.root(), bundle), tar);
    }
  });
});
