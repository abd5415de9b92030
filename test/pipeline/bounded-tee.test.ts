/**
 * boundedTee: both branches see every byte; a branch that runs ahead waits (or fails, as
 * asked) once the other is `maxLead` behind; cancelling one frees the other; cancelling both
 * cancels the source; the second branch can get copies.
 */
import { describe, expect, it } from 'vitest';
import { boundedTee } from '../../src/bounded-tee.js';
import { concat } from '../helpers/bytes.js';

/** A source of `pieces` pieces of `size` bytes (piece i filled with i), counting reads. */
function source(pieces: number, size: number) {
  const state = { read: 0, cancelled: undefined as unknown };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (state.read === pieces) c.close();
        else c.enqueue(new Uint8Array(size).fill(state.read++));
      },
      cancel(reason) {
        state.cancelled = reason ?? 'cancelled';
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of s as unknown as AsyncIterable<Uint8Array>) parts.push(p);
  return concat(parts);
}

describe('boundedTee', () => {
  it('gives both branches every byte', async () => {
    const { stream } = source(10, 1000);
    const [a, b] = boundedTee(stream, { maxLead: 3000, overflow: 'wait' });
    const [x, y] = await Promise.all([readAll(a), readAll(b)]);
    expect(x.length).toBe(10_000);
    expect(y).toEqual(x);
  });

  it('makes a branch that runs ahead wait until the other catches up', async () => {
    const { stream, state } = source(100, 1000);
    const [fast, slow] = boundedTee(stream, { maxLead: 5000, overflow: 'wait' });
    const fastDone = readAll(fast);
    await new Promise((r) => setTimeout(r, 20));
    // The fast branch stopped once the slow one was 5,000 bytes behind.
    expect(state.read).toBe(5);
    const slowReader = slow.getReader();
    for (let i = 0; i < 3; i++) await slowReader.read();
    await new Promise((r) => setTimeout(r, 20));
    expect(state.read).toBe(8);
    slowReader.releaseLock();
    await readAll(slow);
    expect((await fastDone).length).toBe(100_000);
  });

  it('with overflow "error", fails both branches instead of waiting, and lets the source go', async () => {
    const { stream, state } = source(100, 1000);
    const [fast, slow] = boundedTee(stream, { maxLead: 5000, overflow: 'error' });
    await expect(readAll(fast)).rejects.toThrow(/drifted more than 5000 bytes/);
    expect(state.cancelled).toBeInstanceOf(RangeError);
    // The slow branch gets what was read before, then the same error.
    await expect(readAll(slow)).rejects.toThrow(/drifted/);
  });

  it('stops reading for a branch cancelled while it waited', async () => {
    const { stream, state } = source(100, 1000);
    const [fast, slow] = boundedTee(stream, { maxLead: 5000, overflow: 'wait' });
    const reader = fast.getReader();
    for (let i = 0; i < 5; i++) await reader.read();
    const waiting = reader.read();
    await new Promise((r) => setTimeout(r, 20));
    expect(state.read).toBe(5);
    await reader.cancel('gone');
    expect((await waiting).done).toBe(true);
    // The other branch takes what was queued for it; nothing is read ahead for the cancelled one.
    const slowReader = slow.getReader();
    await slowReader.read();
    await new Promise((r) => setTimeout(r, 20));
    expect(state.read).toBe(5);
    slowReader.releaseLock();
    expect((await readAll(slow)).length).toBe(99_000);
  });

  it('lets the other branch run free once one is cancelled, and cancels the source with both', async () => {
    const { stream, state } = source(50, 1000);
    const [a, b] = boundedTee(stream, { maxLead: 2000, overflow: 'wait' });
    await b.cancel('not needed');
    expect((await readAll(a)).length).toBe(50_000);
    expect(state.cancelled).toBeUndefined();

    const two = source(50, 1000);
    const [c, d] = boundedTee(two.stream, { maxLead: 2000, overflow: 'wait' });
    await c.cancel('done');
    await d.cancel('done');
    expect(two.state.cancelled).toBe('done');
  });

  it('gives the second branch copies when asked', async () => {
    const { stream } = source(3, 100);
    const [a, b] = boundedTee(stream, { maxLead: 1000, overflow: 'wait', copySecond: true });
    const ra = a.getReader();
    const rb = b.getReader();
    const [x, y] = await Promise.all([ra.read(), rb.read()]);
    expect(y.value).toEqual(x.value);
    expect(y.value!.buffer).not.toBe(x.value!.buffer);
  });
});
