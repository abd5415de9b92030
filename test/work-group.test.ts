import { describe, expect, it } from 'vitest';
import { stopOnAbort, TurnsByKey, WorkGroup } from '../src/work-group.js';
import { deferred } from './helpers/deferred.js';

const turns = () => new Promise((r) => setTimeout(r, 0));

describe('WorkGroup', () => {
  it('runs at most max at once and gives results in order', async () => {
    const group = new WorkGroup(2);
    const gates = [deferred(), deferred(), deferred()];
    let running = 0;
    let most = 0;
    const pending = gates.map((g, i) =>
      group.run(async () => {
        most = Math.max(most, ++running);
        await g.promise;
        running--;
        return i;
      }),
    );
    await turns();
    expect(running).toBe(2);
    // The first done, its slot goes to the third.
    gates[0]!.resolve();
    await turns();
    expect(running).toBe(2);
    gates[2]!.resolve();
    gates[1]!.resolve();
    expect(await group.all(pending)).toEqual([0, 1, 2]);
    expect(most).toBe(2);
  });

  it('fails as one: the first failure aborts the others and is thrown once none runs', async () => {
    const group = new WorkGroup(2);
    const first = new Error('first');
    const slow = deferred();
    let sawAbort: unknown;
    let thirdStarted = false;
    const pending = [
      group.run(async () => {
        await turns();
        throw first;
      }),
      group.run(async (signal) => {
        await slow.promise;
        sawAbort = signal.reason;
        throw new Error('second, because of the first');
      }),
      group.run(async () => {
        thirdStarted = true;
      }),
    ];
    let settled = false;
    const all = group.all(pending).finally(() => {
      settled = true;
    });
    await turns();
    await turns();
    expect(group.signal.aborted).toBe(true);
    // The second still runs: the group has not failed its caller yet.
    expect(settled).toBe(false);
    slow.resolve();
    await expect(all).rejects.toBe(first);
    expect(sawAbort).toBe(first);
    expect(thirdStarted).toBe(false);
  });

  it('stops its work at once when a promise it did not run fails', async () => {
    const group = new WorkGroup(1);
    const failure = new Error('a check outside the group');
    // Work that ends only when its signal is aborted.
    const waiting = group.run(
      (signal) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    );
    await expect(group.all([waiting, Promise.reject(failure)])).rejects.toBe(failure);
  });

  it('gives each piece of work a signal of its own: no signal gathers listeners', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const group = new WorkGroup(13);
      const never = () => new ReadableStream<number>({ pull: () => new Promise(() => {}) });
      const pending = Array.from({ length: 12 }, () =>
        group.run((signal) => stopOnAbort(never(), signal).getReader().read()),
      );
      await turns();
      const failure = new Error('one failed');
      await expect(group.all([...pending, group.run(() => Promise.reject(failure))])).rejects.toBe(
        failure,
      );
      await turns();
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('counts a failure of a promise it did not run', async () => {
    const group = new WorkGroup(1);
    const failure = new Error('checked after');
    await expect(group.all([group.run(async () => 1), Promise.reject(failure)])).rejects.toBe(
      failure,
    );
    expect(group.signal.reason).toBe(failure);
  });
});

describe('stopOnAbort', () => {
  it('passes the pieces on, then fails at once on abort, cancelling a source that waits', async () => {
    const ac = new AbortController();
    let cancelled: unknown;
    let n = 0;
    const source = new ReadableStream<number>({
      // Two pieces, then nothing ever again.
      pull: (c) => (n < 2 ? c.enqueue(n++) : new Promise(() => {})),
      cancel: (r) => {
        cancelled = r;
      },
    });
    const reader = stopOnAbort(source, ac.signal).getReader();
    expect((await reader.read()).value).toBe(0);
    expect((await reader.read()).value).toBe(1);
    const waiting = reader.read();
    const why = new Error('another layer failed');
    ac.abort(why);
    await expect(waiting).rejects.toBe(why);
    expect(cancelled).toBe(why);
  });

  it('ends as its source ends', async () => {
    const ac = new AbortController();
    const source = new ReadableStream<number>({
      start: (c) => {
        c.enqueue(7);
        c.close();
      },
    });
    const reader = stopOnAbort(source, ac.signal).getReader();
    expect(await reader.read()).toEqual({ done: false, value: 7 });
    expect(await reader.read()).toEqual({ done: true, value: undefined });
    // Aborting afterwards changes nothing.
    ac.abort(new Error('late'));
  });

  it('fails at once, and cancels the stream, when the signal is aborted already', async () => {
    const ac = new AbortController();
    const why = new Error('failed before');
    ac.abort(why);
    let cancelled: unknown;
    const source = new ReadableStream({
      cancel: (r) => {
        cancelled = r;
      },
    });
    expect(() => stopOnAbort(source, ac.signal)).toThrow(why);
    await turns();
    expect(cancelled).toBe(why);
  });
});

describe('TurnsByKey', () => {
  it('runs tasks of one key one at a time, however each ends, and of different keys at once', async () => {
    const turns = new TurnsByKey();
    const order: string[] = [];
    const first = deferred();
    const other = deferred();
    const a = turns.run('k', async () => {
      order.push('a starts');
      await first.promise;
      throw new Error('a failed');
    });
    const b = turns.run('k', async () => {
      order.push('b starts');
      return 2;
    });
    const c = turns.run('j', async () => {
      order.push('c starts');
      await other.promise;
      return 3;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual(['a starts', 'c starts']);
    first.resolve();
    await expect(a).rejects.toThrow('a failed');
    expect(await b).toBe(2);
    expect(order).toEqual(['a starts', 'c starts', 'b starts']);
    other.resolve();
    expect(await c).toBe(3);
  });

  it('stops waiting with the reason when the signal is aborted, or was already', async () => {
    const turns = new TurnsByKey();
    const held = deferred();
    const running = turns.run('k', () => held.promise);
    const ac = new AbortController();
    let ran = false;
    const waiting = turns.run(
      'k',
      async () => {
        ran = true;
      },
      ac.signal,
    );
    ac.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    await expect(turns.run('k', async () => {}, ac.signal)).rejects.toThrow('stop');
    held.resolve();
    await running;
    expect(ran).toBe(false);
  });
});
