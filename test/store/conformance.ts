/**
 * The chunk store conformance suite: every {@link ChunkStore} runs it against itself, so all
 * stores agree on what `get`, `has` and `put` mean (the js-stores pattern).
 */
import { describe, expect, it } from 'vitest';
import { ChunkNotFoundError } from '../../src/errors.js';
import type { ChunkStore } from '../../src/store/types.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { sha256 } from '../helpers/streams.js';

/** A fresh, empty store and a way to dispose of it. */
export interface StoreFixture {
  store: ChunkStore;
  cleanup: () => Promise<void>;
}

/** A chunk of `length` deterministic bytes and its digest. */
export function chunk(length: number, seed: number): { digest: string; bytes: Uint8Array } {
  const bytes = pseudoRandom(length, seed);
  return { digest: sha256(bytes), bytes };
}

const VALID = chunk(100, 1).digest;
const HEX = VALID.slice(7);

/** Digest strings no store may accept: path traversal, wrong case, length or algorithm. */
export const INVALID_DIGESTS: readonly string[] = [
  'sha256:../../etc/passwd',
  `sha256:../../${HEX.slice(6)}`,
  `sha256:${HEX.slice(0, 2)}/../../${HEX.slice(8)}`,
  `sha256:${HEX.toUpperCase()}`,
  `sha256:${HEX.slice(1)}`,
  `${VALID}0`,
  HEX,
  `sha512:${HEX}`,
  `sha256:${'g'.repeat(64)}`,
  `${VALID}\n`,
  '',
];

/** Expects `promise` to reject with a layerdiff error of `code`, and returns the error. */
async function rejectsWith(promise: Promise<unknown>, code: string): Promise<Error> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a rejection with ${code}`).toBeInstanceOf(Error);
  expect((err as { code?: string }).code).toBe(code);
  return err as Error;
}

/** Compares bytes by value, whatever the view type (a Buffer is a Uint8Array). */
export function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual).toBeInstanceOf(Uint8Array);
  expect(actual.length).toBe(expected.length);
  expect(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).toString('hex')).toBe(
    Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength).toString('hex'),
  );
}

/**
 * Declares the conformance tests for one store implementation.
 * @param name - the store's name, for the `describe` title.
 * @param makeStore - makes a fresh, empty store for each test.
 */
export function storeConformance(name: string, makeStore: () => Promise<StoreFixture>): void {
  /** A test that gets its own fresh store, disposed of afterwards. */
  const test = (title: string, body: (store: ChunkStore) => Promise<void>) =>
    it(title, async () => {
      const { store, cleanup } = await makeStore();
      try {
        await body(store);
      } finally {
        await cleanup();
      }
    });

  describe(`${name}: ChunkStore conformance`, () => {
    test('get of a missing digest throws ChunkNotFoundError naming the digest', async (store) => {
      const { digest } = chunk(10, 2);
      const err = await rejectsWith(store.get(digest), 'ERR_CHUNK_NOT_FOUND');
      expect(err).toBeInstanceOf(ChunkNotFoundError);
      expect((err as ChunkNotFoundError).digest).toBe(digest);
      expect(err.message).toContain(digest);
    });

    test('put returns true the first time and false after', async (store) => {
      const { digest, bytes } = chunk(1000, 3);
      expect(await store.put(digest, bytes)).toBe(true);
      expect(await store.put(digest, bytes)).toBe(false);
      expect(await store.put(digest, bytes.slice())).toBe(false);
    });

    test('has is false before put and true after', async (store) => {
      const a = chunk(500, 4);
      const b = chunk(500, 5);
      expect(await store.has(a.digest)).toBe(false);
      await store.put(a.digest, a.bytes);
      expect(await store.has(a.digest)).toBe(true);
      expect(await store.has(b.digest)).toBe(false);
    });

    test('get returns the bytes that were put', async (store) => {
      const a = chunk(4096, 6);
      const b = chunk(333, 7);
      await store.put(a.digest, a.bytes);
      await store.put(b.digest, b.bytes);
      expectBytes(await store.get(a.digest), a.bytes);
      expectBytes(await store.get(b.digest), b.bytes);
    });

    test('put is unaffected by the caller reusing its buffer afterwards', async (store) => {
      const big = pseudoRandom(8192, 8);
      // A view into a larger buffer, as the converter hands over, reused once put resolves.
      const view = big.subarray(1000, 5000);
      const expected = view.slice();
      const digest = sha256(expected);
      expect(await store.put(digest, view)).toBe(true);
      big.fill(0xaa);
      expectBytes(await store.get(digest), expected);
    });

    test('get returns bytes that later puts and gets do not change', async (store) => {
      const a = chunk(300, 13);
      await store.put(a.digest, a.bytes);
      const first = await store.get(a.digest);
      expect(await store.put(a.digest, a.bytes.slice().fill(1))).toBe(false);
      expectBytes(await store.get(a.digest), a.bytes);
      expectBytes(first, a.bytes);
    });

    test('refuses a chunk over 16 MiB before writing it, and serves the others', async (store) => {
      const small = chunk(100, 21);
      await store.put(small.digest, small.bytes);
      const big = chunk(16 * 1024 * 1024 + 1, 22);
      const err = await rejectsWith(store.put(big.digest, big.bytes), 'ERR_USAGE');
      expect(err.message).toMatch(/exceeds the 16777216-byte limit/);
      expect(await store.has(big.digest)).toBe(false);
      await store.flush?.();
      expectBytes(await store.get(small.digest), small.bytes);
    });

    test('stores a zero-length chunk', async (store) => {
      const { digest, bytes } = chunk(0, 9);
      expect(await store.has(digest)).toBe(false);
      expect(await store.put(digest, bytes)).toBe(true);
      expect(await store.has(digest)).toBe(true);
      const got = await store.get(digest);
      expect(got.length).toBe(0);
      expect(await store.put(digest, new Uint8Array(0))).toBe(false);
    });

    test('stores a 1 MiB chunk', async (store) => {
      const { digest, bytes } = chunk(1 << 20, 10);
      expect(await store.put(digest, bytes)).toBe(true);
      const got = await store.get(digest);
      expect(got.length).toBe(1 << 20);
      expect(sha256(got)).toBe(digest);
    });

    test('concurrent puts of one digest: exactly one is new', async (store) => {
      const { digest, bytes } = chunk(70_000, 11);
      const results = await Promise.all(
        Array.from({ length: 32 }, () => store.put(digest, bytes.slice())),
      );
      expect(results.filter((r) => r)).toHaveLength(1);
      expect(results.filter((r) => !r)).toHaveLength(31);
      expectBytes(await store.get(digest), bytes);
    });

    test('concurrent puts of different digests all land', async (store) => {
      const chunks = Array.from({ length: 64 }, (_, i) => chunk(100 + i * 37, 100 + i));
      const results = await Promise.all(chunks.map((c) => store.put(c.digest, c.bytes)));
      expect(results.every((r) => r)).toBe(true);
      const back = await Promise.all(chunks.map((c) => store.get(c.digest)));
      for (const [i, bytes] of back.entries()) expectBytes(bytes, chunks[i]!.bytes);
    });

    test('rejects digest strings that are not sha256:<64 lowercase hex>', async (store) => {
      const { bytes } = chunk(16, 12);
      for (const bad of INVALID_DIGESTS) {
        const what = JSON.stringify(bad);
        await expect(store.put(bad, bytes), `put ${what}`).rejects.toMatchObject({
          code: 'ERR_USAGE',
        });
        await expect(store.has(bad), `has ${what}`).rejects.toMatchObject({ code: 'ERR_USAGE' });
        await expect(store.get(bad), `get ${what}`).rejects.toMatchObject({ code: 'ERR_USAGE' });
      }
    });
  });
}
