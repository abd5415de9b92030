/**
 * klauspost/pgzip as a {@link DeflateEngine} for gzip reproduction: layers that umoci, skopeo
 * or containers/image (so podman and buildah) compressed at pgzip's default level come back
 * byte for byte. Platform-neutral, in JavaScript.
 *
 * @module
 */
import { KLAUSPOST_LEVELS } from '../compress/klauspost-flate/compressor.js';
import { PgzipDeflater } from '../compress/klauspost-flate/pgzip.js';
import type { DeflateEngine } from './gzip-reproduce.js';

/**
 * The engine's name: the pgzip and klauspost/compress versions whose output the tests compare
 * against (Debian 12's, which its umoci and skopeo are built with).
 */
export const PGZIP_ENGINE = 'klauspost-pgzip-1.2.5-compress-1.15.12';

/**
 * The pgzip engine. Only level 5 is built (klauspost's `DefaultCompression`, what pgzip's
 * `NewWriter` and containers/image use unless told otherwise); memLevel does not apply (only
 * 8 is tried), and only the default strategy exists. Its output does not depend on how the
 * input is cut into pieces.
 * @returns the engine.
 */
export function pgzipDeflateEngine(): DeflateEngine {
  return {
    name: PGZIP_ENGINE,
    levels: KLAUSPOST_LEVELS,
    memLevels: [8],
    strategies: [0],
    createDeflateRaw(params) {
      if (params.strategy !== 0) {
        throw new RangeError(`${PGZIP_ENGINE} has no strategy ${params.strategy}`);
      }
      const deflater = new PgzipDeflater(params.level);
      const drain = (controller: TransformStreamDefaultController<Uint8Array>) => {
        const out = deflater.take();
        if (out) controller.enqueue(out);
      };
      return new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          deflater.write(chunk);
          drain(controller);
        },
        flush(controller) {
          deflater.close();
          drain(controller);
        },
      });
    },
  };
}
