/**
 * Paced stages: output that waits for its reader also within one input piece, and a
 * conversion whose records are far larger than their tar bytes (a pax global header's xattrs,
 * copied into every later entry) holding back until its index is read.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { convert } from '../../src/pipeline/convert.js';
import { type PacedController, pacedThrough } from '../../src/pipeline/paced.js';
import { MemoryStore } from '../../src/store/memory.js';
import { encodeHeader } from '../../src/tar/header.js';
import { concat } from '../helpers/bytes.js';
import { hash, reassembleBytes } from '../helpers/layers.js';
import { collect, readAll, streamOf } from '../helpers/streams.js';

/** A stream of the given items, then its end (or `fail`). */
function source<T>(items: T[], fail?: Error) {
  const state = { cancelled: undefined as unknown, pulls: 0 };
  const stream = new ReadableStream<T>({
    pull(c) {
      const item = items[state.pulls++];
      if (item !== undefined) c.enqueue(item);
      else if (fail) c.error(fail);
      else c.close();
    },
    cancel(reason) {
      state.cancelled = reason;
    },
  });
  return { stream, state };
}

/** Enqueues `n` pieces of `size` bytes per input item, waiting for room after each. */
async function spill(c: PacedController<Uint8Array>, n: number, size: number, log: number[]) {
  for (let i = 0; i < n; i++) {
    c.enqueue(new Uint8Array(size).fill(log.length % 251));
    log.push(size);
    await c.room();
  }
}

/**
 * A long stream of numbers, recording its cancellation. (Long rather than endless, so that a
 * stage that goes on reading after it was cancelled fails a test rather than running away.)
 */
function endless() {
  const state = { cancelled: undefined as unknown };
  let n = 0;
  const stream = new ReadableStream<number>({
    pull(c) {
      if (n === 20_000) c.close();
      else c.enqueue(++n);
    },
    cancel(reason) {
      state.cancelled = reason;
    },
  });
  return { stream, state };
}

describe('pacedThrough', () => {
  it('queues its high-water mark and one piece more, also within one input piece', async () => {
    const made: number[] = [];
    const out = pacedThrough<number, Uint8Array>(
      source([1, 2]).stream,
      {
        transform: (_n, c) => spill(c, 40, 1000, made),
        flush: (c) => spill(c, 10, 1000, made),
      },
      { highWaterMark: 4000, size: (b) => b.byteLength },
    );
    const reader = out.getReader();
    let read = 0;
    let most = 0;
    for (;;) {
      // The reader is slow: the stage gets every chance to run ahead.
      await sleep(1);
      most = Math.max(most, made.length - read);
      const r = await reader.read();
      if (r.done) break;
      expect(r.value[0]).toBe(read % 251);
      read++;
    }
    expect(read).toBe(90);
    // Without waiting for room, one input's 40 pieces would be queued at once.
    expect(most).toBeLessThanOrEqual(5);
  });

  it('fails with its source (telling the transformer), or with its transformer (cancelling the source)', async () => {
    const broken = new Error('source broke');
    let told: unknown;
    const a = pacedThrough(source([1, 2], broken).stream, {
      transform: (n, c) => c.enqueue(n),
      cancel(reason) {
        told = reason;
      },
    });
    await expect(readAll(a)).rejects.toBe(broken);
    // As a TransformStream's transformer is: its queued work stops too.
    expect(told).toBe(broken);
    // A cancel that throws does not hide the source's error.
    const c = pacedThrough(source([1], broken).stream, {
      transform: () => {},
      cancel() {
        throw new Error('cancel broke');
      },
    });
    await expect(readAll(c)).rejects.toBe(broken);

    const refused = new Error('transform refused');
    const { stream, state } = source([1, 2, 3]);
    const b = pacedThrough(stream, {
      transform: (n, c) => {
        if (n === 2) throw refused;
        c.enqueue(n);
      },
    });
    await expect(readAll(b)).rejects.toBe(refused);
    expect(state.cancelled).toBe(refused);
  });

  it('on cancel, stops the transformer waiting for room and cancels the source', async () => {
    const { stream, state } = source([1, 2, 3]);
    let cancelled: unknown;
    let stopped: unknown;
    const out = pacedThrough<number, Uint8Array>(
      stream,
      {
        async transform(_n, c) {
          try {
            // Bounded, so that a stage that never waits fails here rather than running away.
            for (let i = 0; i < 10_000; i++) {
              c.enqueue(new Uint8Array(100));
              await c.room();
            }
            stopped = 'never waited';
          } catch (err) {
            stopped = err;
            throw err;
          }
        },
        cancel(reason) {
          cancelled = reason;
        },
      },
      { highWaterMark: 300, size: (b) => b.byteLength },
    );
    const reader = out.getReader();
    await reader.read();
    await sleep(5);
    await reader.cancel('enough');
    await sleep(5);
    expect(cancelled).toBe('enough');
    expect(state.cancelled).toBe('enough');
    // It went on from its wait and met the closed stream, rather than waiting for good.
    expect(stopped).toBeInstanceOf(TypeError);
  });
});

describe('pacedThrough, stopping', () => {
  it("starts no transform or flush once cancelled, while the transformer's cancel runs", async () => {
    const { stream, state } = endless();
    let transforms = 0;
    let flushed = false;
    const out = pacedThrough<number, number>(stream, {
      transform(n, c) {
        transforms++;
        // Output only at first: the rest of the input makes none, as tar bodies mostly do.
        if (n === 1) c.enqueue(n);
      },
      flush() {
        flushed = true;
      },
      cancel: () => sleep(30),
    });
    const reader = out.getReader();
    await reader.read();
    const cancelled = reader.cancel('stop');
    const at = transforms;
    await cancelled;
    await sleep(10);
    expect(transforms - at).toBeLessThanOrEqual(1);
    expect(flushed).toBe(false);
    expect(state.cancelled).toBe('stop');
  });

  it("cancels the source when start fails, and when the transformer's cancel throws", async () => {
    const a = endless();
    const refused = new Error('no kernel');
    const out = pacedThrough<number, number>(a.stream, {
      start() {
        throw refused;
      },
      transform: () => {},
    });
    await expect(readAll(out)).rejects.toBe(refused);
    expect(a.state.cancelled).toBe(refused);

    const b = endless();
    const reader = pacedThrough<number, number>(b.stream, {
      transform: (n, c) => c.enqueue(n),
      cancel() {
        throw new Error('cancel broke');
      },
    }).getReader();
    await reader.read();
    await expect(reader.cancel('stop')).rejects.toThrow('cancel broke');
    expect(b.state.cancelled).toBe('stop');
  });
});

/** A pax record: `"<length> <key>=<value>\n"`, the length counting itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let n = body.length + 1;
  while (`${n}${body}`.length !== n) n++;
  return `${n}${body}`;
}

/** A pax global header of `keys` xattrs of `size` bytes each, then `files` empty files. */
function globalXattrsTar(keys: number, size: number, files: number): Uint8Array {
  let records = '';
  for (let i = 0; i < keys; i++) records += paxRecord(`SCHILY.xattr.user.k${i}`, 'v'.repeat(size));
  const data = new TextEncoder().encode(records);
  const block = (n: number) => new Uint8Array(Math.ceil(n / 512) * 512);
  const body = block(data.length);
  body.set(data);
  const parts = [
    encodeHeader({ path: 'pax_global_header', typeflag: 'g', size: data.length }),
    body,
  ];
  for (let i = 0; i < files; i++) parts.push(encodeHeader({ path: `f${i}` }));
  parts.push(new Uint8Array(1024));
  return concat(parts);
}

describe('a conversion whose records outgrow their tar bytes', () => {
  it('converts no further ahead of its reader than 256 KiB of index bytes: here, a few records', async () => {
    // 200 xattrs of 500 bytes: a record of about 100 KB for every 512-byte header block.
    const tar = globalXattrsTar(200, 500, 300);
    const store = new MemoryStore();
    // The whole tar as one piece: a stage that waits only between pieces would convert it all.
    const { index, done, events } = convert(streamOf(tar, tar.length), {
      store,
      hash,
      index: 'flat',
    });
    const reader = index.getReader();
    const first = await reader.read();
    await sleep(50);
    expect(events.current.entries).toBeGreaterThan(0);
    expect(events.current.entries).toBeLessThan(10);
    reader.releaseLock();
    const rest = await collect(index);
    const result = await done;
    expect(result.entries).toBe(300);
    const flat = concat([first.value!, rest]);
    expect(await reassembleBytes(flat, store)).toEqual(tar);
  });
});
