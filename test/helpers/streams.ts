/** Small stream utilities for tests. */
import { createHash } from 'node:crypto';

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

/** Reads a whole stream into one buffer. */
export async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    n += value.length;
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `sha256:<hex>` of some bytes. */
export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
