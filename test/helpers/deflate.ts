/** Helpers for the deflate encoder tests: an engine driven in pieces, and random inputs. */
import fc from 'fast-check';
import type { DeflateEngine } from '../../src/oci/gzip-reproduce.js';
import { concat } from './bytes.js';

/** A writer of the encoders here: input in, output taken as it is ready. */
export interface DeflateWriter {
  write(b: Uint8Array): void;
  close(): void;
  take(): Uint8Array | undefined;
}

/** What `w` writes for `input` handed over in `writeSize` pieces, then closed. */
export function drive(w: DeflateWriter, input: Uint8Array, writeSize: number): Uint8Array {
  const out: Uint8Array[] = [];
  for (let at = 0; at < input.length; at += writeSize) {
    w.write(input.subarray(at, at + writeSize));
    const o = w.take();
    if (o) out.push(o);
  }
  w.close();
  const o = w.take();
  if (o) out.push(o);
  return concat(out);
}

/** The engine's raw deflate of `input` at `level`, handed over in pieces of `sizes()` bytes. */
export async function viaEngine(
  engine: DeflateEngine,
  level: number,
  input: Uint8Array,
  sizes: () => number,
): Promise<Uint8Array> {
  const pair = engine.createDeflateRaw({ level, memLevel: 8, strategy: 0 });
  const writer = pair.writable.getWriter();
  const parts: Uint8Array[] = [];
  const reading = (async () => {
    for await (const p of pair.readable as unknown as AsyncIterable<Uint8Array>) parts.push(p);
  })();
  for (let at = 0; at < input.length; ) {
    const n = Math.max(1, sizes());
    await writer.write(input.subarray(at, at + n));
    at += n;
  }
  await writer.close();
  await reading;
  return concat(parts);
}

/** Random inputs made of literals, repeats (up to 40,000 bytes back) and runs. */
export const literalsRepeatsRuns: fc.Arbitrary<Uint8Array> = fc
  .array(
    fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 3000 }),
      fc.record({ back: fc.nat(40_000), length: fc.integer({ min: 3, max: 600 }) }),
      fc.record({ byte: fc.nat(255), run: fc.integer({ min: 1, max: 5000 }) }),
    ),
    { maxLength: 80 },
  )
  .map((pieces) => {
    const parts: number[] = [];
    for (const p of pieces) {
      if (p instanceof Uint8Array) parts.push(...p);
      else if ('run' in p) for (let i = 0; i < p.run; i++) parts.push(p.byte);
      else {
        const from = Math.max(0, parts.length - 1 - p.back);
        for (let i = 0; i < p.length && from + i < parts.length; i++) parts.push(parts[from + i]!);
      }
    }
    return Uint8Array.from(parts);
  });
