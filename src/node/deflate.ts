/**
 * Node's bundled zlib as a {@link DeflateEngine} for gzip reproduction. Node bundles its own
 * zlib fork, whose output differs from the system zlib's; this engine reproduces blobs that
 * Node itself compressed (with the same Node zlib version).
 *
 * @module
 */
import { createDeflateRaw } from 'node:zlib';
import {
  type DeflateEngine,
  goDeflateEngine,
  klauspostEngines,
  pakoDeflateEngine,
} from '../oci/gzip-reproduce.js';

/**
 * The engine over `node:zlib`; its name records the zlib version (`node-zlib-<version>`).
 * @returns the engine.
 */
export function nodeDeflateEngine(): DeflateEngine {
  return {
    name: `node-zlib-${process.versions.zlib}`,
    createDeflateRaw(params) {
      const z = createDeflateRaw({
        level: params.level,
        memLevel: params.memLevel,
        strategy: params.strategy,
        windowBits: 15,
      });
      // Not `Duplex.toWeb(z)`: Node 20's adapter enqueues zlib's output after its readable
      // side was cancelled (as gzip reproduction cancels a candidate at its first differing
      // byte), which throws from an event handler and ends the process (seen twice in about
      // 125 conversions).
      let out: TransformStreamDefaultController<Uint8Array> | undefined;
      z.on('data', (b: Buffer) => {
        try {
          out?.enqueue(new Uint8Array(b.buffer, b.byteOffset, b.length));
        } catch {
          // Cancelled or errored: nobody wants the rest.
          z.destroy();
        }
      });
      const failed = new Promise<never>((_, reject) => z.once('error', reject));
      failed.catch(() => {});
      // Destroyed above, its consumer gone: a write or the end waiting on zlib would never
      // finish (the gzip search cancels a candidate whose last bytes differ while zlib is
      // still ending), so they end quietly when it closes.
      const closed = new Promise<void>((resolve) => z.once('close', resolve));
      return new TransformStream<Uint8Array, Uint8Array>({
        start(controller) {
          out = controller;
        },
        transform: (chunk) =>
          Promise.race([
            new Promise<void>((resolve) => z.write(chunk, () => resolve())),
            failed,
            closed,
          ]),
        flush: () =>
          Promise.race([
            new Promise<void>((resolve) => {
              z.once('end', () => resolve());
              z.end();
            }),
            failed,
            closed,
          ]),
      });
    },
  };
}

/**
 * The engines gzip reproduction tries, in order: pako (equal to the system zlib, which most
 * tools link), Node's own zlib, Go's `compress/flate`, then klauspost's
 * (`klauspostEngines`).
 * @returns the engines.
 */
export function defaultDeflateEngines(): DeflateEngine[] {
  return [pakoDeflateEngine(), nodeDeflateEngine(), goDeflateEngine(), ...klauspostEngines()];
}
