/**
 * A small event emitter that runs everywhere (no `node:events`), typed through typed-emitter's
 * interface, so `on('progress', (p) => …)` is checked against the event map.
 *
 * @module
 */
import type TypedEventEmitter from 'typed-emitter';
import type { EventMap } from 'typed-emitter';

type Listener = (...args: never[]) => void;

/** An event emitter typed by an event map. Listeners run synchronously, in order. */
export class Emitter<Events extends EventMap> implements TypedEventEmitter<Events> {
  private readonly map = new Map<keyof Events, Array<{ fn: Listener; once: boolean }>>();
  private max = 10;

  private add<E extends keyof Events>(event: E, fn: Events[E], once: boolean, first: boolean) {
    const list = this.map.get(event) ?? [];
    const entry = { fn: fn as unknown as Listener, once };
    if (first) list.unshift(entry);
    else list.push(entry);
    this.map.set(event, list);
    return this;
  }

  addListener<E extends keyof Events>(event: E, listener: Events[E]): this {
    return this.add(event, listener, false, false);
  }
  on<E extends keyof Events>(event: E, listener: Events[E]): this {
    return this.add(event, listener, false, false);
  }
  once<E extends keyof Events>(event: E, listener: Events[E]): this {
    return this.add(event, listener, true, false);
  }
  prependListener<E extends keyof Events>(event: E, listener: Events[E]): this {
    return this.add(event, listener, false, true);
  }
  prependOnceListener<E extends keyof Events>(event: E, listener: Events[E]): this {
    return this.add(event, listener, true, true);
  }
  off<E extends keyof Events>(event: E, listener: Events[E]): this {
    return this.removeListener(event, listener);
  }
  removeListener<E extends keyof Events>(event: E, listener: Events[E]): this {
    const list = this.map.get(event);
    const i = list?.findIndex((l) => l.fn === (listener as unknown as Listener)) ?? -1;
    if (list && i >= 0) list.splice(i, 1);
    return this;
  }
  removeAllListeners<E extends keyof Events>(event?: E): this {
    if (event === undefined) this.map.clear();
    else this.map.delete(event);
    return this;
  }
  /**
   * Calls the event's listeners in order. A listener that throws does not stop the others nor
   * the work that emitted the event: its error is reported with `reportError` where the runtime
   * has it (browsers, workerd), else `console.error`.
   */
  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): boolean {
    const list = this.map.get(event);
    if (!list || list.length === 0) return false;
    for (const l of [...list]) {
      if (l.once) {
        const i = list.indexOf(l);
        if (i >= 0) list.splice(i, 1);
      }
      try {
        (l.fn as (...a: unknown[]) => void)(...args);
      } catch (err) {
        report(err);
      }
    }
    return true;
  }
  eventNames(): (keyof Events | string | symbol)[] {
    return [...this.map.keys()].filter((k) => (this.map.get(k)?.length ?? 0) > 0);
  }
  rawListeners<E extends keyof Events>(event: E): Events[E][] {
    return this.listeners(event);
  }
  listeners<E extends keyof Events>(event: E): Events[E][] {
    return (this.map.get(event) ?? []).map((l) => l.fn as unknown as Events[E]);
  }
  listenerCount<E extends keyof Events>(event: E): number {
    return this.map.get(event)?.length ?? 0;
  }
  getMaxListeners(): number {
    return this.max;
  }
  setMaxListeners(maxListeners: number): this {
    this.max = maxListeners;
    return this;
  }
}

function report(err: unknown): void {
  const g = globalThis as { reportError?: (e: unknown) => void };
  if (typeof g.reportError === 'function') g.reportError(err);
  else console.error('layerdiff: an event listener threw:', err);
}
