/**
 * The search for a gzip blob's compression stops when its signal aborts (the layer it was
 * for failed elsewhere): it fails with the signal's reason at once, and the blob it was
 * reading is cancelled, instead of checking the candidate to the blob's end.
 */
import { describe, expect, it } from 'vitest';
import { findGzipParams } from '../../src/oci/gzip-reproduce.js';
import { text } from '../helpers/bytes.js';
import { toolsAvailable } from '../helpers/tools.js';
import { pythonGzip } from './helpers.js';

describe.runIf(toolsAvailable('python3'))('findGzipParams and its signal', () => {
  // Text gzipped by the system zlib: pako's candidate agrees with the first MiB, and its
  // check then reads the whole blob.
  const blob = pythonGzip(text(24_000_000, 7), 6);

  /** The blob in 64 KiB pieces, 10 ms apart (about 2 s for the whole), noting cancels. */
  function slowBlob(seen: { cancelled: number; read: number }) {
    let at = 0;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (at >= blob.length) return controller.close();
        await new Promise((r) => setTimeout(r, 10));
        controller.enqueue(blob.slice(at, at + 65536));
        at += 65536;
        seen.read = at;
      },
      cancel() {
        seen.cancelled++;
      },
    });
  }

  it('fails with the reason at once, the blob cancelled', async () => {
    expect(blob.length).toBeGreaterThan(3 << 20);
    const seen = { cancelled: 0, read: 0 };
    const stop = new AbortController();
    const reason = new Error('another layer failed');
    const search = findGzipParams(() => slowBlob(seen), { signal: stop.signal });
    // The probe reads the first MiB (about 0.2 s); the check is under way by then. "At once"
    // is counted in pieces read after the abort, not in time, which a busy machine stretches.
    let readAtAbort = -1;
    setTimeout(() => {
      readAtAbort = seen.read;
      stop.abort(reason);
    }, 600);
    await expect(search).rejects.toBe(reason);
    expect(readAtAbort).toBeGreaterThan(0);
    expect(seen.read - readAtAbort).toBeLessThanOrEqual(2 * 65536);
    expect(seen.cancelled).toBeGreaterThan(0);
    expect(seen.read).toBeLessThan(blob.length);
  }, 20_000);

  it('without an abort, finds the parameters over the whole blob (the same setup)', async () => {
    const seen = { cancelled: 0, read: 0 };
    const found = await findGzipParams(() => slowBlob(seen));
    expect(found.params).toMatchObject({ engine: 'pako-2.1.0', level: 6 });
    expect(seen.read).toBeGreaterThanOrEqual(blob.length);
  }, 20_000);
});
