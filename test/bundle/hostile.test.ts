/**
 * Hostile bundles (built with zip.js directly, or patched bytes): every way a zip can break the
 * layout or lie about its chunks ends in a typed error, never a hang, and the receiving store
 * never holds a chunk whose bytes do not match its digest.
 */
import { describe, expect, it } from 'vitest';
import { openBundle } from '../../src/bundle/open-bundle.js';
import { unbundle } from '../../src/bundle/unbundle.js';
import { LayerdiffError } from '../../src/errors.js';
import { MemoryStore } from '../../src/store/memory.js';
import { oneChunkTwiceIndex } from '../format/helpers.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { hash, reassembleBytes } from '../helpers/layers.js';
import { sha256, within } from '../helpers/streams.js';
import { bundleBytes, entriesOf, expectSame, sampleLayer, zipOf } from './helpers.js';

type Entries = Array<[string, Uint8Array]>;

/** Every chunk in the store hashes to its key. */
async function storeIsClean(store: MemoryStore): Promise<void> {
  for (const digest of store.digests()) expect(sha256(await store.get(digest))).toBe(digest);
}

/** Unbundles into a fresh store; returns the error (typed) and checks the store stayed clean. */
async function unbundleFails(zip: Uint8Array, code: string): Promise<LayerdiffError> {
  const store = new MemoryStore();
  const err = await within(unbundle(zip, store, { hash })).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LayerdiffError);
  expect((err as LayerdiffError).code).toBe(code);
  await storeIsClean(store);
  return err as LayerdiffError;
}

let sample: Promise<{ entries: Entries; tar: Uint8Array; root: Uint8Array }> | undefined;
/** The sample layer's bundle, as entries to rearrange. */
function sampleEntries() {
  sample ??= (async () => {
    const { tar, root, store } = await sampleLayer();
    return { entries: await entriesOf(await bundleBytes(root, store)), tar, root };
  })();
  return sample;
}

/** Central directory and local header fields of the entry named `name` set to `size`. */
function patchUncompressedSize(zip: Uint8Array, name: string, size: number): Uint8Array {
  const out = zip.slice();
  const view = new DataView(out.buffer);
  const nameBytes = new TextEncoder().encode(name);
  const nameAt = (at: number) => nameBytes.every((b, i) => out[at + i] === b);
  for (let at = 0; at + 46 <= out.length; at++) {
    const sig = view.getUint32(at, true);
    if (
      sig === 0x04034b50 &&
      view.getUint16(at + 26, true) === nameBytes.length &&
      nameAt(at + 30)
    ) {
      view.setUint32(at + 22, size, true);
    }
    if (
      sig === 0x02014b50 &&
      view.getUint16(at + 28, true) === nameBytes.length &&
      nameAt(at + 46)
    ) {
      view.setUint32(at + 24, size, true);
    }
  }
  return out;
}

/** Every occurrence of `from` replaced by `to` (same length), e.g. to rename an entry in place. */
function replaceBytes(zip: Uint8Array, from: string, to: string): Uint8Array {
  const a = new TextEncoder().encode(from);
  const b = new TextEncoder().encode(to);
  expect(a.length).toBe(b.length);
  const out = zip.slice();
  for (let at = 0; at + a.length <= out.length; at++) {
    if (a.every((x, i) => out[at + i] === x)) out.set(b, at);
  }
  return out;
}

describe('hostile bundles', () => {
  it('control: the sample entries, re-zipped by zip.js, unbundle and rebuild', async () => {
    const { entries, tar } = await sampleEntries();
    const store = new MemoryStore();
    const { root } = await unbundle(await zipOf(entries), store, { hash });
    expectSame(await reassembleBytes(root, store), tar);
  });

  it('a chunk entry with tampered bytes is ERR_CHUNK_DIGEST, and never stored', async () => {
    const { entries } = await sampleEntries();
    // Tamper with the last entry (a data chunk) and with the first chunk (an index chunk).
    for (const victim of [entries.length - 1, 1]) {
      const tampered = entries.map(([n, b], i): [string, Uint8Array] => {
        if (i !== victim) return [n, b];
        const c = b.slice();
        c[c.length >> 1]! ^= 1;
        return [n, c];
      });
      const zip = await zipOf(tampered);
      const err = await unbundleFails(zip, 'ERR_CHUNK_DIGEST');
      expect(err.message).toContain(entries[victim]![0]);
      // Reading straight out of the bundle fails the same way.
      const bundle = await openBundle(zip, { hash });
      const read = await reassembleBytes(await bundle.root(), bundle).catch((e) => e);
      expect(read).toMatchObject({ code: 'ERR_CHUNK_DIGEST' });
    }
  });

  it('a chunk under the wrong name is ERR_CHUNK_DIGEST', async () => {
    const { entries } = await sampleEntries();
    const [a, b] = [entries[entries.length - 1]!, entries[entries.length - 2]!];
    const swapped: Entries = [...entries.slice(0, -2), [a[0], b[1]], [b[0], a[1]]];
    await unbundleFails(await zipOf(swapped), 'ERR_CHUNK_DIGEST');
  });

  it.each([
    '../x',
    '/etc/passwd',
    'chunks/sha256/../../x',
    'chunks/sha256/AB',
    `chunks/sha256/${'A'.repeat(64)}`,
    `./chunks/sha256/${'a'.repeat(64)}`,
    `chunks/sha256/${'a'.repeat(64)}/`,
    `chunks/sha512/${'a'.repeat(128)}`,
    'index.ldr/',
    'INDEX.LDR',
    'notes.txt',
  ])('an entry named %j is ERR_BUNDLE', async (name) => {
    const { entries } = await sampleEntries();
    const zip = await zipOf([...entries, [name, new Uint8Array([1, 2, 3])]]);
    const err = await unbundleFails(zip, 'ERR_BUNDLE');
    // zip.js itself refuses unsafe names (`..`, absolute) while reading the directory.
    expect(err.message).toMatch(/not part of the bundle layout|Unsafe filename/);
  });

  it('a directory entry is ERR_BUNDLE', async () => {
    const { entries } = await sampleEntries();
    const zip = await zipOf([...entries, ['chunks/', new Uint8Array(), { directory: true }]]);
    await unbundleFails(zip, 'ERR_BUNDLE');
  });

  it('a missing index, data chunk or index chunk is ERR_BUNDLE', async () => {
    const { entries } = await sampleEntries();
    const noRoot = await unbundleFails(await zipOf(entries.slice(1)), 'ERR_BUNDLE');
    expect(noRoot.message).toContain('no index.ldr');
    const noData = await unbundleFails(await zipOf(entries.slice(0, -1)), 'ERR_BUNDLE');
    expect(noData.message).toContain('lacks chunk');
    const noIndexChunk = await unbundleFails(
      await zipOf([entries[0]!, ...entries.slice(2)]),
      'ERR_BUNDLE',
    );
    expect(noIndexChunk.message).toContain('lacks chunk');
    // openBundle itself is fine with a partial bundle; a missing chunk is ERR_CHUNK_NOT_FOUND there.
    const bundle = await openBundle(await zipOf(entries.slice(0, -1)), { hash });
    const digest = `sha256:${entries[entries.length - 1]![0].slice(14)}`;
    await expect(bundle.get(digest)).rejects.toMatchObject({ code: 'ERR_CHUNK_NOT_FOUND' });
    await expect(bundle.get('sha256:../x')).rejects.toMatchObject({ code: 'ERR_USAGE' });
  });

  it('duplicate entries are ERR_BUNDLE', async () => {
    const { entries } = await sampleEntries();
    const [name, bytes] = entries[entries.length - 1]!;
    const placeholder = `chunks/sha256/${'0'.repeat(64)}`;
    const dupChunk = replaceBytes(
      await zipOf([...entries, [placeholder, bytes]]),
      placeholder,
      name,
    );
    expect((await unbundleFails(dupChunk, 'ERR_BUNDLE')).message).toContain('twice');
    const dupRoot = replaceBytes(
      await zipOf([...entries, ['index.xyz', entries[0]![1]]]),
      'index.xyz',
      'index.ldr',
    );
    expect((await unbundleFails(dupRoot, 'ERR_BUNDLE')).message).toContain('twice');
  });

  it('an entry declaring more than 16 MiB is refused before it is read', async () => {
    const { entries } = await sampleEntries();
    const big = new Uint8Array(16 * 1024 * 1024 + 1);
    const name = `chunks/sha256/${sha256(big).slice(7)}`;
    const zip = await zipOf([...entries, [name, big, { level: 9 }]]);
    expect(zip.length).toBeLessThan(1_000_000);
    expect((await unbundleFails(zip, 'ERR_BUNDLE')).message).toContain('declares');
  });

  it('a zip bomb (an entry inflating past its declared size) stops at the declared size', async () => {
    const { entries } = await sampleEntries();
    // A data chunk the index needs, replaced by 8 MiB of zeros that claim to be its size.
    const [name, bytes] = entries[entries.length - 1]!;
    const bomb = await zipOf([
      ...entries.slice(0, -1),
      [name, new Uint8Array(8 * 1024 * 1024), { level: 9 }],
    ]);
    const zip = patchUncompressedSize(bomb, name, bytes.length);
    const err = await unbundleFails(zip, 'ERR_BUNDLE');
    expect(err.message).toContain(name);
  });

  it('a local header whose name differs from the central directory is ERR_BUNDLE', async () => {
    const { root, store } = await sampleLayer();
    const zip = (await bundleBytes(root, store)).slice();
    const view = new DataView(zip.buffer);
    // The first local header is the index entry's; rename it there only (zip readers that
    // trust local headers would see another file than those that trust the directory).
    expect(view.getUint32(0, true)).toBe(0x04034b50);
    const nameLength = view.getUint16(26, true);
    expect(new TextDecoder().decode(zip.subarray(30, 30 + nameLength))).toBe('index.ldr');
    zip[30 + nameLength - 1] = 0x58; // 'index.ldX'
    await unbundleFails(zip, 'ERR_BUNDLE');
  });

  it('truncated zips and garbage are ERR_BUNDLE', async () => {
    const { entries } = await sampleEntries();
    const zip = await zipOf(entries);
    for (const cut of [zip.length - 1, zip.length - 30, zip.length >> 1, 100, 0]) {
      await unbundleFails(zip.subarray(0, cut), 'ERR_BUNDLE');
    }
    await unbundleFails(pseudoRandom(100_000, 9), 'ERR_BUNDLE');
  });

  it('an index entry that is not an index is ERR_RECORD_FORMAT', async () => {
    const { entries } = await sampleEntries();
    const zip = await zipOf([
      ['index.ldr', new TextEncoder().encode('not an index')],
      ...entries.slice(1),
    ]);
    await unbundleFails(zip, 'ERR_RECORD_FORMAT');
  });
});

describe('an index that gives a chunk the wrong length', () => {
  const enc = new TextEncoder();
  const HELLO = enc.encode('hello');
  const TAIL = new Uint8Array(1024);
  const name = (b: Uint8Array) => `chunks/sha256/${sha256(b).slice('sha256:'.length)}`;
  const zip = (lengths: [number, number]) =>
    zipOf([
      ['index.ldr', oneChunkTwiceIndex(HELLO, TAIL, lengths)],
      [name(HELLO), HELLO],
      [name(TAIL), TAIL],
    ]);

  it('control: the right lengths unbundle', async () => {
    const store = new MemoryStore();
    expect((await unbundle(await zip([5, 5]), store, { hash })).chunks).toBe(2);
  });

  it('two lengths for one chunk, or a length it does not have, is ERR_BUNDLE', async () => {
    for (const lengths of [
      [5, 6],
      [6, 5],
    ] as Array<[number, number]>) {
      const err = await unbundleFails(await zip(lengths), 'ERR_BUNDLE');
      expect(err.message).toMatch(/6/);
    }
    // Also when the store already holds the chunk, so that the bundle's entry is not read.
    const store = new MemoryStore();
    await store.put(sha256(HELLO), HELLO);
    const err = await unbundle(await zip([6, 6]), store, { hash }).catch((e: unknown) => e);
    expect((err as LayerdiffError).code).toBe('ERR_BUNDLE');
  });
});
