/** Small stream utilities for tests. */
import { createHash } from 'node:crypto';
import { lend } from '../../src/lend.js';
import { concat } from './bytes.js';

/** A stream of `bytes` cut into pieces of the given sizes (cycled), or of one size. */
export function streamOf(
  bytes: Uint8Array,
  sizes: number | number[] = 65536,
): ReadableStream<Uint8Array> {
  const list = Array.isArray(sizes) ? sizes : [sizes];
  let at = 0;
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.length) return c.close();
      const n = Math.max(1, list[i++ % list.length]!);
      c.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
}

/** Reads a whole stream into an array of its chunks. */
export async function readAll<T>(stream: ReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

/** Reads a whole stream into one buffer. */
export async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return concat(await readAll(stream));
}

/** `sha256:<hex>` of some bytes. */
export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Resolves with the promise's outcome, or rejects if it takes longer than `ms` (a hang). */
export function within<T>(p: Promise<T>, ms = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no result within ${ms} ms: a hang`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Reads the whole stream; returns the bytes read before it failed, and the failure. */
export async function readUntilError(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { bytes: concat(parts), error: undefined };
      parts.push(value);
    }
  } catch (error) {
    return { bytes: concat(parts), error };
  }
}

/**
 * A source that lends every piece (copied into a buffer of its own) and, when a buffer comes
 * back, overwrites it and reuses it: a buffer given back while some stage still reads it
 * corrupts the conversion, and the round trip fails.
 */
export function lendingSource(bytes: Uint8Array, sizes: number[], onGiveBack: () => void) {
  const free: ArrayBuffer[] = [];
  const back = (b: ArrayBuffer) => {
    new Uint8Array(b).fill(0xaa);
    onGiveBack();
    free.push(b);
  };
  let at = 0;
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      const n = Math.min(sizes[i++ % sizes.length]!, bytes.length - at);
      const b = free.find((f) => f.byteLength >= n) ?? new ArrayBuffer(Math.max(n, 65536));
      free.splice(free.indexOf(b), 1);
      const view = new Uint8Array(b, 0, n);
      view.set(bytes.subarray(at, at + n));
      at += n;
      lend(b, back);
      controller.enqueue(view);
    },
  });
}
