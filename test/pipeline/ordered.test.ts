/**
 * OrderedQueue and createOrderedMap: results in input order however the work finishes, no more
 * than `concurrency` at work, no more than `capacity` held when a drain returns, the first
 * failure raised at once, and any thenable (a promise from another realm) waited for rather
 * than passed on as a value.
 */
import { describe, expect, it } from 'vitest';
import { createOrderedMap, OrderedQueue } from '../../src/pipeline/ordered.js';
import { deferred } from '../helpers/deferred.js';
import { readAll } from '../helpers/streams.js';

const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe('OrderedQueue', () => {
  it('gives ready values at once and work in its turn, in input order', async () => {
    const q = new OrderedQueue<number>(4, 3);
    const out: number[] = [];
    const give = (v: number) => out.push(v);
    const a = deferred<number>();
    const b = deferred<number>();
    q.add(0);
    q.addWork(() => a.promise);
    q.add(2);
    q.addWork(() => b.promise);
    // Four held, capacity 3: the ready head goes out, which leaves three, with no wait.
    await q.drain(give);
    expect(out).toEqual([0]);
    b.resolve(3);
    q.addWork(() => 4);
    // Four held: the drain waits for a, the head; then 2 is ready, and b and the last work
    // are done, so they go out too, with no further wait.
    const drained = q.drain(give);
    await turns();
    expect(out).toEqual([0]);
    a.resolve(1);
    await drained;
    expect(out).toEqual([0, 1, 2, 3, 4]);
    await q.drain(give, true);
    expect(out).toEqual([0, 1, 2, 3, 4]);
  });

  it('starts at most `concurrency` pieces of work, the next as each settles, in order', async () => {
    const q = new OrderedQueue<number>(2, 100);
    const started: number[] = [];
    const gates = Array.from({ length: 5 }, () => deferred<number>());
    for (let i = 0; i < 5; i++)
      q.addWork(() => {
        started.push(i);
        return gates[i]!.promise;
      });
    expect(started).toEqual([0, 1]);
    gates[1]!.resolve(1); // a later one settling frees a place too
    await turns();
    expect(started).toEqual([0, 1, 2]);
    gates[0]!.resolve(0);
    await turns();
    expect(started).toEqual([0, 1, 2, 3]);
    for (const g of gates.slice(2)) g.resolve(0);
    const out: number[] = [];
    await q.drain((v) => out.push(v), true);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(out).toEqual([0, 1, 0, 0, 0]);
  });

  it('raises the first failure at the next drain, before results still waiting their turn', async () => {
    const q = new OrderedQueue<number>(4, 100);
    const slow = deferred<number>();
    q.addWork(() => slow.promise);
    q.addWork(() => Promise.reject(new Error('boom')));
    q.addWork(() => {
      throw new Error('never reached first');
    });
    await turns();
    // The head is still running and capacity is not reached: without the failure, this drain
    // would return at once.
    await expect(q.drain(() => {})).rejects.toThrow('boom');
    slow.resolve(1);
  });

  it('waits for a thenable that is not a Promise of this realm', async () => {
    const q = new OrderedQueue<string>(1, 0);
    const out: string[] = [];
    const foreign: PromiseLike<string> = {
      // biome-ignore lint/suspicious/noThenProperty: a thenable on purpose
      then(onFulfilled) {
        setTimeout(() => onFulfilled?.('late'), 1);
        return this as unknown as PromiseLike<never>;
      },
    };
    q.addWork(() => foreign);
    q.add('after');
    await q.drain((v) => out.push(v), true);
    expect(out).toEqual(['late', 'after']);
  });
});

describe('createOrderedMap', () => {
  const numbers = (n: number) =>
    new ReadableStream<number>({
      start(c) {
        for (let i = 0; i < n; i++) c.enqueue(i);
        c.close();
      },
    });

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
    expect(await readAll(numbers(20).pipeThrough(map))).toEqual(
      Array.from({ length: 20 }, (_, i) => i * 10),
    );
    expect(most).toBe(3);
  });

  it('takes no more items while `concurrency` are held behind a slow first one', async () => {
    const first = deferred<number>();
    let calls = 0;
    const map = createOrderedMap((n: number) => {
      calls++;
      return n === 0 ? first.promise : n;
    }, 3);
    // A read waiting on the readable side, so that the stream calls the map at all.
    const reader = map.readable.getReader();
    const head = reader.read();
    const writer = map.writable.getWriter();
    for (let i = 0; i < 100; i++) writer.write(i).catch(() => {});
    await new Promise((r) => setTimeout(r, 20));
    // Items that are ready at once (1, 2, ...) still wait behind the first: the stream's own
    // queue holds the rest.
    expect(calls).toBe(3);
    first.resolve(0);
    writer.close().catch(() => {});
    const out = [(await head).value];
    for (let r = await reader.read(); !r.done; r = await reader.read()) out.push(r.value);
    expect(out).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('turns a synchronous throw into a failure of the stream', async () => {
    const map = createOrderedMap((n: number) => {
      if (n === 2) throw new Error('two');
      return n;
    }, 4);
    await expect(readAll(numbers(4).pipeThrough(map))).rejects.toThrow('two');
  });
});

describe('OrderedQueue when work fails or the stream stops', () => {
  it('starts no more work after a failure', async () => {
    const q = new OrderedQueue<number>(1, 100);
    let started = 0;
    q.addWork(() => {
      started++;
      return Promise.reject(new Error('first'));
    });
    for (let i = 0; i < 10; i++)
      q.addWork(() => {
        started++;
        return i;
      });
    await expect(q.drain(() => {}, true)).rejects.toThrow('first');
    await turns();
    expect(started).toBe(1);
  });

  it('wakes a drain waiting on a slow head when other work fails', async () => {
    const q = new OrderedQueue<number>(2, 0);
    const never = new Promise<number>(() => {});
    q.addWork(() => never);
    q.addWork(() => Promise.reject(new Error('second')));
    await expect(q.drain(() => {})).rejects.toThrow('second');
  });
});
