import { describe, expect, it } from 'vitest';
import { Slots } from '../src/slots.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('Slots', () => {
  it('lets `max` holders in, queues the rest in order, and frees a slot once per release', async () => {
    const slots = new Slots(2);
    const a = await slots.acquire();
    const b = await slots.acquire();
    const order: string[] = [];
    const queue = (name: string) =>
      slots.acquire().then((release) => {
        order.push(name);
        return release;
      });
    const c = queue('c');
    const d = queue('d');
    await tick();
    expect([slots.held, slots.queued, order]).toEqual([2, 2, []]);
    a();
    a(); // a second call frees nothing more
    await tick();
    expect([slots.held, slots.queued, order]).toEqual([2, 1, ['c']]);
    b();
    (await c)();
    await tick();
    expect(order).toEqual(['c', 'd']);
    (await d)();
    expect([slots.held, slots.queued]).toEqual([0, 0]);
  });

  it('a waiter whose signal aborts leaves the queue; the slot passes over it', async () => {
    const slots = new Slots(1);
    const a = await slots.acquire();
    const gone = new AbortController();
    const b = slots.acquire(gone.signal);
    const c = slots.acquire();
    await tick();
    expect(slots.queued).toBe(2);
    gone.abort(new Error('the client went away'));
    await expect(b).rejects.toThrow('the client went away');
    expect(slots.queued).toBe(1);
    a();
    const releaseC = await c;
    expect([slots.held, slots.queued]).toEqual([1, 0]);
    releaseC();
    expect(slots.held).toBe(0);
    // Aborted before asking: no slot taken.
    await expect(slots.acquire(gone.signal)).rejects.toThrow('the client went away');
    expect(slots.held).toBe(0);
  });

  it('refuses a bound that is not a whole number from 1', () => {
    for (const n of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new Slots(n)).toThrow(/whole number/);
    }
  });
});
