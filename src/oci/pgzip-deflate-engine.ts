/**
 * klauspost/pgzip as a {@link DeflateEngine} for gzip reproduction: layers that skopeo or
 * containers/image (so podman and buildah), or umoci, compressed at pgzip's default level
 * come back byte for byte. Platform-neutral, in JavaScript.
 *
 * @module
 */
import { KLAUSPOST_LEVELS } from '../compress/klauspost-flate/compressor.js';
import { PGZIP_BLOCK_SIZE, PgzipDeflater } from '../compress/klauspost-flate/pgzip.js';
import type { DeflateEngine } from './gzip-reproduce.js';

/**
 * The name of the engine with pgzip's default blocks of 1 MiB (containers/image: skopeo,
 * podman, buildah): the pgzip and klauspost/compress versions whose output the tests compare
 * against (Debian 12's, which its umoci and skopeo are built with).
 */
export const PGZIP_ENGINE = 'klauspost-pgzip-1.2.5-compress-1.15.12';

/** Input handed to the deflater at a time: its output is passed on before the next. */
const PIECE = 64 * 1024;

/** umoci's block size: it calls `SetConcurrency(256<<10, ...)`. */
export const UMOCI_BLOCK_SIZE = 256 << 10;

/** The name of the engine with umoci's blocks of 256 KiB. */
export const PGZIP_UMOCI_ENGINE = `${PGZIP_ENGINE}-256k`;

/**
 * A pgzip engine. Only level 5 is built (klauspost's `DefaultCompression`, what pgzip's
 * `NewWriter`, umoci and containers/image use unless told otherwise); memLevel does not apply
 * (only 8 is tried), and only the default strategy exists. Its output does not depend on how
 * the input is cut into pieces.
 * @param blockSize - pgzip's block size: 1 MiB ({@link PGZIP_ENGINE}, the default) or umoci's
 *   256 KiB ({@link PGZIP_UMOCI_ENGINE}).
 * @returns the engine.
 */
export function pgzipDeflateEngine(blockSize: number = PGZIP_BLOCK_SIZE): DeflateEngine {
  const name =
    blockSize === PGZIP_BLOCK_SIZE
      ? PGZIP_ENGINE
      : blockSize === UMOCI_BLOCK_SIZE
        ? PGZIP_UMOCI_ENGINE
        : `${PGZIP_ENGINE}-block-${blockSize}`;
  return {
    name,
    levels: KLAUSPOST_LEVELS,
    copiesInput: true,
    memLevels: [8],
    strategies: [0],
    createDeflateRaw(params) {
      if (params.strategy !== 0) {
        throw new RangeError(`${name} has no strategy ${params.strategy}`);
      }
      const deflater = new PgzipDeflater(params.level, blockSize);
      const drain = (controller: TransformStreamDefaultController<Uint8Array>) => {
        const out = deflater.take();
        if (out) controller.enqueue(out);
      };
      return new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          // A window's worth at a time, each one's output passed on before the next.
          for (let at = 0; at < chunk.length; at += PIECE) {
            deflater.write(chunk.subarray(at, at + PIECE));
            drain(controller);
          }
        },
        flush(controller) {
          deflater.close();
          drain(controller);
        },
      });
    },
  };
}
