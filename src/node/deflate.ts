/**
 * Node's bundled zlib as a {@link DeflateEngine} for gzip reproduction. Node bundles its own
 * zlib fork, whose output differs from the system zlib's; this engine reproduces blobs that
 * Node itself compressed (with the same Node zlib version).
 *
 * @module
 */
import { Duplex } from 'node:stream';
import { createDeflateRaw } from 'node:zlib';
import { type DeflateEngine, pakoDeflateEngine } from '../oci/gzip-reproduce.js';

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
      return Duplex.toWeb(z) as unknown as ReadableWritablePair<Uint8Array, Uint8Array>;
    },
  };
}

/**
 * The engines gzip reproduction tries, in order: pako (equal to the system zlib, which most
 * tools link), then Node's own zlib.
 * @returns the engines.
 */
export function defaultDeflateEngines(): DeflateEngine[] {
  return [pakoDeflateEngine(), nodeDeflateEngine()];
}
