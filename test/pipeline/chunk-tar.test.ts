/**
 * The one-stage tar chunker's bounds: at most `concurrency` chunks at work however many one
 * input piece holds, input read no further than its capacity while a chunk is slow, and a
 * failed put raised at once rather than after the rest of the input. (That it gives exactly
 * the four streams' tokens is a property in property.test.ts.)
 */
import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_CHUNKER_PARAMS, loadCdcKernel } from '../../src/cdc/index.js';
import type { HashProvider } from '../../src/hash/types.js';
import { ChunkBlocks } from '../../src/pipeline/chunk-blocks.js';
import { createTarChunker, tarChunkerTransformer } from '../../src/pipeline/chunk-tar.js';
import { storeChunk } from '../../src/pipeline/store-chunks.js';
import type { StoredToken } from '../../src/pipeline/tokens.js';
import { MemoryStore } from '../../src/store/memory.js';
import { encodeHeader, paddingSize } from '../../src/tar/header.js';
import { concat, pseudoRandom } from '../helpers/bytes.js';
import { readAll, streamOf } from '../helpers/streams.js';

/** A tar of one file of `first` bytes, then `files` files of `size` bytes each. */
function tarOf(first: number, files: number, size: number): Uint8Array {
  const parts: Uint8Array[] = [];
  const file = (path: string, body: Uint8Array) =>
    parts.push(
      encodeHeader({ path, size: body.length, mode: 0o644, mtime: 1 }),
      body,
      new Uint8Array(paddingSize(body.length)),
    );
  if (first) file('first', pseudoRandom(first, 1));
  for (let i = 0; i < files; i++) file(`f${i}`, pseudoRandom(size, i + 2));
  parts.push(new Uint8Array(1024));
  return concat(parts);
}

/** A hash provider over node:crypto that counts digests at work at once. */
function countingHash() {
  const seen = { running: 0, most: 0 };
  const provider: HashProvider = {
    algorithm: 'sha256',
    name: 'counting',
    async digest(bytes) {
      seen.running++;
      seen.most = Math.max(seen.most, seen.running);
      await new Promise((r) => setImmediate(r));
      seen.running--;
      return createHash('sha256').update(bytes).digest();
    },
    async create() {
      throw new Error('not used');
    },
  };
  return { provider, seen };
}

/** Counts the bytes a consumer has pulled from `stream`. */
function counted(stream: ReadableStream<Uint8Array>) {
  const read = { bytes: 0 };
  const reader = stream.getReader();
  const out = new ReadableStream<Uint8Array>({
    async pull(c) {
      const r = await reader.read();
      if (r.done) return c.close();
      read.bytes += r.value.length;
      c.enqueue(r.value);
    },
  });
  return { out, read };
}

const params = DEFAULT_CHUNKER_PARAMS;

/** A store over a MemoryStore whose every put runs `before` first (to count, hold or fail it). */
function storeWith(before: () => unknown) {
  const inner = new MemoryStore();
  return {
    inner,
    has: (d: string) => inner.has(d),
    async put(d: string, b: Uint8Array) {
      await before();
      return inner.put(d, b);
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('createTarChunker', () => {
  it('keeps at most `concurrency` chunks at work when one piece holds thousands', async () => {
    const kernel = await loadCdcKernel();
    const tar = tarOf(0, 3000, 1);
    const { provider, seen } = countingHash();
    let puts = 0;
    let mostPuts = 0;
    const store = storeWith(async () => {
      puts++;
      mostPuts = Math.max(mostPuts, puts);
      await tick();
      puts--;
    });
    const tokens = await readAll(
      streamOf(tar, tar.length).pipeThrough(
        createTarChunker({ kernel, params, hash: provider, store, concurrency: 3 }),
      ),
    );
    // A chunk per file, and one of the tail (the end blocks).
    expect(tokens.filter((t) => t.type === 'chunk')).toHaveLength(3001);
    expect(seen.most).toBeLessThanOrEqual(3);
    expect(mostPuts).toBeLessThanOrEqual(3);
  });

  it('cuts chunks into a few blocks, each used again once the store has its chunks', async () => {
    const kernel = await loadCdcKernel();
    const made = new Set<ArrayBufferLike>();
    const blocks = new (class extends ChunkBlocks {
      override take(atLeast?: number) {
        const room = super.take(atLeast);
        made.add(room.buffer);
        return room;
      }
    })(params.max);
    const store = storeWith(tick);
    const tar = tarOf(16 * 1024 * 1024, 400, 5000);
    const { provider } = countingHash();
    const tokens = await readAll(
      streamOf(tar, 65536).pipeThrough(
        createTarChunker({ kernel, params, hash: provider, store, blocks }),
      ),
    );
    const chunks = tokens.filter((t) => t.type === 'chunk');
    expect(chunks.length).toBeGreaterThan(600);
    // 16 MiB of chunks went through blocks of 1 MiB; a few were made.
    expect(made.size).toBeLessThanOrEqual(6);
    // And no chunk was overwritten before the store took it: every copy matches its digest.
    for (const d of store.inner.digests()) {
      const bytes = await store.inner.get(d);
      expect(`sha256:${createHash('sha256').update(bytes!).digest('hex')}`).toBe(d);
    }
  });

  it('gives a chunk back to its block only once the store has it', async () => {
    const blocks = new ChunkBlocks(4096);
    const give = vi.spyOn(blocks, 'give');
    const chunk = blocks.trim(blocks.take(), 10);
    let givenInPut = true;
    const store = storeWith(async () => {
      await tick();
      givenInPut = give.mock.calls.length > 0;
    });
    const digest = new Uint8Array(createHash('sha256').update(chunk).digest());
    await storeChunk(store, { type: 'chunk', bytes: chunk, digest }, blocks);
    expect(givenInPut).toBe(false);
    expect(give).toHaveBeenCalledWith(chunk);
  });

  it("lets the store write over a chunk only when the chunk is its blocks' to take back", async () => {
    const seen: unknown[] = [];
    const store = {
      has: async () => false,
      async put(_d: string, _b: Uint8Array, options?: { scratch?: boolean }) {
        seen.push(options?.scratch);
        return true;
      },
    };
    const blocks = new ChunkBlocks(4096);
    const chunk = blocks.trim(blocks.take(), 10);
    const digest = new Uint8Array(createHash('sha256').update(chunk).digest());
    await storeChunk(store, { type: 'chunk', bytes: chunk, digest }, blocks);
    // A caller's own bytes are left alone, with blocks or without, and so is a chunk given back.
    const mine = chunk.slice();
    await storeChunk(store, { type: 'chunk', bytes: mine, digest }, blocks);
    await storeChunk(store, { type: 'chunk', bytes: mine, digest });
    await storeChunk(store, { type: 'chunk', bytes: chunk, digest }, blocks);
    expect(seen).toEqual([true, undefined, undefined, undefined]);
  });

  it('reads no further than its capacity while the first chunk is slow', async () => {
    const kernel = await loadCdcKernel();
    // One chunk at work, held; everything after it is ready at once.
    const tar = tarOf(10_000, 20_000, 0);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let first = true;
    const store = storeWith(() => {
      if (!first) return;
      first = false;
      return gate;
    });
    const { provider } = countingHash();
    const { out, read } = counted(streamOf(tar, 65536));
    const tokens = out.pipeThrough(createTarChunker({ kernel, params, hash: provider, store }));
    const all = readAll(tokens);
    await new Promise((r) => setTimeout(r, 100));
    // 512 KiB of tokens are held; the rest of the input, 10 MB of headers, waits.
    expect(read.bytes).toBeLessThan(2 * 1024 * 1024);
    release();
    const got: StoredToken[] = await all;
    expect(read.bytes).toBe(tar.length);
    expect(got.filter((t) => t.type === 'header')).toHaveLength(20_001);
  });

  it('raises a failed put at once, not after the rest of the input', async () => {
    const kernel = await loadCdcKernel();
    const tar = tarOf(100_000, 20_000, 0);
    const store = {
      has: async () => false,
      put: async () => {
        throw new Error('disk full');
      },
    };
    const { provider } = countingHash();
    const { out, read } = counted(streamOf(tar, 65536));
    await expect(
      readAll(out.pipeThrough(createTarChunker({ kernel, params, hash: provider, store }))),
    ).rejects.toThrow('disk full');
    expect(read.bytes).toBeLessThan(tar.length / 4);
  });

  it('puts nothing more once a put has failed or the stream is cancelled', async () => {
    const kernel = await loadCdcKernel();
    const tar = tarOf(0, 3000, 100);
    for (const how of ['fail', 'cancel'] as const) {
      let settled = false;
      let putsAfter = 0;
      let first = true;
      const store = storeWith(() => {
        if (settled) putsAfter++;
        if (first && how === 'fail') {
          first = false;
          throw new Error('disk full');
        }
        return tick();
      });
      const { provider } = countingHash();
      const tokens = streamOf(tar, tar.length).pipeThrough(
        createTarChunker({ kernel, params, hash: provider, store, concurrency: 3 }),
      );
      if (how === 'fail') {
        await expect(readAll(tokens)).rejects.toThrow('disk full');
      } else {
        const reader = tokens.getReader();
        await reader.read();
        await reader.cancel('enough');
      }
      settled = true;
      await new Promise((r) => setTimeout(r, 50));
      // At most the puts already waiting on their digest when it stopped.
      expect(putsAfter, how).toBeLessThanOrEqual(3);
    }
  });

  it('starts no chunk of a piece that waited on the sink when the stream was cancelled', async () => {
    const kernel = await loadCdcKernel();
    // One file of 4 MiB in one input piece: some 64 chunks.
    const tar = tarOf(4 << 20, 0, 0);
    let puts = 0;
    const store = storeWith(() => puts++);
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    let begun!: () => void;
    const beginCalled = new Promise<void>((r) => {
      begun = r;
    });
    const { provider } = countingHash();
    const stage = new TransformStream(
      tarChunkerTransformer<StoredToken>(
        { kernel, params, hash: provider, store, concurrency: 2 },
        {
          async begin() {
            begun();
            await gate;
          },
          token: (t, enqueue) => enqueue(t),
        },
      ),
    );
    stage.writable
      .getWriter()
      .write(tar)
      .catch(() => {});
    const reader = stage.readable.getReader();
    // A read lifts the backpressure, so the transform runs and waits on `begin`.
    reader.read().catch(() => {});
    await beginCalled;
    await reader.cancel(new Error('stop'));
    open();
    await new Promise((r) => setTimeout(r, 100));
    expect(puts).toBe(0);
  });

  it('a sink that throws, or a bad tar, fails the stage and stops the chunks queued', async () => {
    const kernel = await loadCdcKernel();
    const good = tarOf(0, 3000, 100);
    // The same files, then a header block whose checksum is wrong.
    const bad = concat([good.subarray(0, good.length - 1024), new Uint8Array(512).fill(7)]);
    for (const how of ['sink', 'tar'] as const) {
      let settled = false;
      let putsAfter = 0;
      const store = storeWith(() => {
        if (settled) putsAfter++;
        return tick();
      });
      let headers = 0;
      const { provider } = countingHash();
      const stage = new TransformStream(
        tarChunkerTransformer<StoredToken>(
          { kernel, params, hash: provider, store, concurrency: 3 },
          {
            token(t, enqueue) {
              if (how === 'sink' && t.type === 'header' && ++headers === 50) {
                throw new Error('refused');
              }
              enqueue(t);
            },
          },
        ),
      );
      const input = how === 'sink' ? good : bad;
      await expect(readAll(streamOf(input, input.length).pipeThrough(stage))).rejects.toThrow(
        how === 'sink' ? 'refused' : /checksum/,
      );
      settled = true;
      await new Promise((r) => setTimeout(r, 50));
      expect(putsAfter, how).toBeLessThanOrEqual(3);
    }
  });
});
