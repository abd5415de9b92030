/**
 * OrderedQueue and createOrderedMap: results in input order however the work finishes, no
 * more than the limit at work once a drain returns, failures surfacing in their turn, and any
 * thenable (a promise from another realm) waited for rather than passed on as a value.
 */
import { describe, expect, it } from 'vitest';
import { createOrderedMap, OrderedQueue } from '../../src/pipeline/ordered.js';
import { readAll } from '../helpers/streams.js';

/** A promise settled by hand. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('OrderedQueue', () => {
  it('gives ready results at once and running ones in their turn, in input order', async () => {
    const q = new OrderedQueue<number>(2);
    const out: number[] = [];
    const give = (v: number) => out.push(v);
    const a = deferred<number>();
    const b = deferred<number>();
    q.add(0);
    q.add(a.promise);
    q.add(2);
    q.add(b.promise);
    // Two running, limit 2: only the ready head goes out, with no wait.
    await q.drain(give);
    expect(out).toEqual([0]);
    b.resolve(3);
    const c = deferred<number>();
    q.add(c.promise);
    // Three running: the drain waits for the head (a), then stops at two running (b counts
    // until its turn, settled or not).
    const drained = q.drain(give);
    await Promise.resolve();
    expect(out).toEqual([0]);
    a.resolve(1);
    await drained;
    expect(out).toEqual([0, 1, 2]);
    c.resolve(4);
    await q.drain(give, true);
    expect(out).toEqual([0, 1, 2, 3, 4]);
  });

  it('raises a failure when its turn comes, after the results before it', async () => {
    const q = new OrderedQueue<number>(0);
    const out: number[] = [];
    q.add(1);
    q.add(Promise.reject(new Error('boom')));
    q.add(3);
    await expect(q.drain((v) => out.push(v), true)).rejects.toThrow('boom');
    expect(out).toEqual([1]);
  });

  it('waits for a thenable that is not a Promise of this realm', async () => {
    const q = new OrderedQueue<string>(0);
    const out: string[] = [];
    const foreign: PromiseLike<string> = {
      // biome-ignore lint/suspicious/noThenProperty: a thenable on purpose
      then(onFulfilled) {
        setTimeout(() => onFulfilled?.('late'), 1);
        return this as unknown as PromiseLike<never>;
      },
    };
    q.add(foreign);
    q.add('after');
    await q.drain((v) => out.push(v), true);
    expect(out).toEqual(['late', 'after']);
  });
});

describe('createOrderedMap', () => {
  it('keeps input order with at most `concurrency` items at work', async () => {
    let running = 0;
    let most = 0;
    const map = createOrderedMap(async (n: number) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, (7 * n) % 5));
      running--;
      return n * 10;
    }, 3);
    const input = new ReadableStream<number>({
      start(c) {
        for (let i = 0; i < 20; i++) c.enqueue(i);
        c.close();
      },
    });
    expect(await readAll(input.pipeThrough(map))).toEqual(
      Array.from({ length: 20 }, (_, i) => i * 10),
    );
    expect(most).toBe(3);
  });

  it('turns a synchronous throw into a failure in its turn', async () => {
    const map = createOrderedMap((n: number) => {
      if (n === 2) throw new Error('two');
      return n;
    }, 4);
    const input = new ReadableStream<number>({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(i);
        c.close();
      },
    });
    const reader = input.pipeThrough(map).getReader();
    expect((await reader.read()).value).toBe(0);
    expect((await reader.read()).value).toBe(1);
    await expect(reader.read()).rejects.toThrow('two');
  });
});
