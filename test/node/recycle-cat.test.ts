/**
 * Rebuilding with recycled buffers: `reassemble` and `flatten` with `recycle` read chunks into
 * pooled buffers they lend, one per piece; a consumer that gives them back gets them again,
 * and nothing it is handed changes afterwards. `pipeToOutput` and `stdoutSink` with
 * `giveBack`, and `extract`, give each piece back only once it is written.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { giveBack, isLent, lend } from '../../src/lend.js';
import { nodeChunkCodec } from '../../src/node/chunk-codec.js';
import { extract } from '../../src/node/extract.js';
import { pipeToOutput, stdoutSink } from '../../src/node/io.js';
import { PackStore } from '../../src/node/pack-store.js';
import { convert } from '../../src/pipeline/convert.js';
import { flatten } from '../../src/pipeline/flatten.js';
import { reassemble } from '../../src/pipeline/reassemble.js';
import { concat, pseudoRandom, sameBytes } from '../helpers/bytes.js';
import { hash } from '../helpers/layers.js';
import { collect, streamOf } from '../helpers/streams.js';
import { tarOf } from '../helpers/tars.js';

const dir = mkdtempSync(join(tmpdir(), 'layerdiff-recycle-cat-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Random files (stored as they are), text and zeros (stored LZ4-compressed), many chunks. */
const layer = tarOf([
  ['a.bin', pseudoRandom(1_500_000, 1)],
  ['b.txt', new TextEncoder().encode('a line of text in a layer\n'.repeat(40_000))],
  ['zeros', new Uint8Array(1_200_000)],
  ['small', pseudoRandom(3000, 2)],
]);

async function storeOf(blocking: boolean) {
  const store = await PackStore.open(mkdtempSync(join(dir, 'store-')), {
    blocking,
    codec: nodeChunkCodec({ algorithm: 'lz4' }),
  });
  const { index, done } = convert(streamOf(layer), { store, hash });
  const root = await collect(index);
  const { chunks } = await done;
  return { store, root, chunks };
}

/**
 * Reads a stream, copying each piece, then giving its buffer back (if lent) and scribbling on
 * it: a buffer reused too early shows in the copies. Returns the bytes, the lent pieces and
 * the distinct buffers they came in.
 */
async function readGivingBack(stream: ReadableStream<Uint8Array>) {
  const buffers = new Set<ArrayBufferLike>();
  const copies: Uint8Array[] = [];
  let lent = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    copies.push(value.slice());
    if (isLent(value.buffer)) {
      lent++;
      buffers.add(value.buffer);
      giveBack(value.buffer);
      value.fill(0x5a);
    }
  }
  return { bytes: concat(copies), lent, buffers: buffers.size };
}

describe.each([false, true])('reassemble with recycle (blocking reads: %s)', (blocking) => {
  it('lends each chunk in a pooled buffer, reused once given back, and rebuilds exactly', async () => {
    const { store, root, chunks } = await storeOf(blocking);
    expect(chunks).toBeGreaterThan(30);
    const { bytes, lent, buffers } = await readGivingBack(
      reassemble(streamOf(root), store, { hash, recycle: true }),
    );
    expect(sameBytes(bytes, layer)).toBe(true);
    expect(lent).toBe(chunks);
    // A handful of buffers served every chunk: read-ahead, and one per size class.
    expect(buffers).toBeLessThan(16);
    await store.close();
  });

  it('a consumer that keeps every piece gets every piece intact', async () => {
    const { store, root } = await storeOf(blocking);
    const pieces = await collect(reassemble(streamOf(root), store, { hash, recycle: true }));
    expect(sameBytes(pieces, layer)).toBe(true);
    await store.close();
  });

  it('pipeToOutput with giveBack writes the layer exactly', async () => {
    const { store, root } = await storeOf(blocking);
    const out = join(dir, `out-${blocking}.tar`);
    const tar = reassemble(streamOf(root), store, { hash, recycle: true });
    await pipeToOutput(tar, out, { blocking, giveBack: true });
    expect(sameBytes(new Uint8Array(readFileSync(out)), layer)).toBe(true);
    await store.close();
  });
});

/** A stream of `bytes` in lent buffers of `size` bytes that are scribbled on when given back. */
function poisoning(bytes: Uint8Array, size: number) {
  let at = 0;
  let back = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.length) return c.close();
      const piece = bytes.slice(at, at + size);
      at += size;
      lend(piece.buffer, (b) => {
        back++;
        new Uint8Array(b).fill(0x5a);
      });
      c.enqueue(piece);
    },
  });
  return { stream, given: () => back };
}

describe('flatten with recycle', () => {
  it('lends file bodies in pooled buffers, reused once given back, and writes them exactly', async () => {
    const { store, root, chunks } = await storeOf(false);
    const reference = await collect(flatten([() => streamOf(root)], store, { hash }));
    const { bytes, lent, buffers } = await readGivingBack(
      flatten([() => streamOf(root)], store, { hash, recycle: true }),
    );
    expect(sameBytes(bytes, reference)).toBe(true);
    // Every chunk but the tail's (the end-of-archive blocks: flatten writes its own).
    expect(lent).toBe(chunks - 1);
    expect(buffers).toBeLessThan(16);
    await store.close();
  });
});

describe('giving pieces back once written', () => {
  const bytes = pseudoRandom(300_000, 9);

  it('pipeToOutput gives each piece back after writing it, and only with giveBack', async () => {
    // Small pieces are gathered into a batch, large ones written as they are.
    for (const size of [4096, 100_000]) {
      for (const [giveBackOption, blocking] of [
        [true, false],
        [true, true],
        [false, false],
      ]) {
        const { stream, given } = poisoning(bytes, size);
        const out = join(dir, `poison-${size}-${giveBackOption}-${blocking}.bin`);
        await pipeToOutput(stream, out, { giveBack: giveBackOption, blocking });
        expect(sameBytes(new Uint8Array(readFileSync(out)), bytes)).toBe(true);
        expect(given()).toBe(giveBackOption ? Math.ceil(bytes.length / size) : 0);
      }
    }
  });

  it('extract gives each lent piece back once all of its tokens are written', async () => {
    // Pieces of 1,000 bytes: one piece holds the end of a body, padding, the next header and
    // the start of the next body, so a buffer given back at the first of them spoils the rest.
    const files: Array<[string, Uint8Array]> = Array.from({ length: 12 }, (_, i) => [
      `f${i}`,
      pseudoRandom(700 + i * 1311, 20 + i),
    ]);
    const { stream, given } = poisoning(tarOf(files), 1000);
    const out = join(dir, 'extracted');
    await extract(stream, out);
    for (const [name, bytes] of files) {
      expect(sameBytes(new Uint8Array(readFileSync(join(out, name))), bytes)).toBe(true);
    }
    // Every piece that held body bytes came back.
    expect(given()).toBeGreaterThan(10);
  });

  it('stdoutSink gives a piece back only when the stream has written it', async () => {
    const received: Uint8Array[] = [];
    // A slow stream that holds each write a while before taking it.
    const slow = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _enc, done) {
        setTimeout(() => {
          received.push(new Uint8Array(chunk));
          done();
        }, 1);
      },
    });
    const { stream, given } = poisoning(bytes, 4096);
    await stream.pipeTo(stdoutSink(slow, { giveBack: true }));
    await new Promise<void>((resolve) => slow.end(resolve));
    expect(sameBytes(concat(received), bytes)).toBe(true);
    expect(given()).toBe(Math.ceil(bytes.length / 4096));
  });
});
