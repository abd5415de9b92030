/**
 * klauspost/compress's deflate as {@link DeflateEngine}s for gzip reproduction, in the two
 * framings layers are made with: klauspost/pgzip's blocks (skopeo and containers/image, so
 * podman and buildah; umoci, with blocks of its own size), and one stream (klauspost's own
 * gzip package, and Go's `compress/gzip` from Go 1.27 on, which ports klauspost's encoder).
 * Platform-neutral, in JavaScript.
 *
 * @module
 */
import {
  KLAUSPOST_LEVELS,
  KlauspostFlateWriter,
  type KlauspostVersion,
} from '../compress/klauspost-flate/compressor.js';
import { PGZIP_BLOCK_SIZE, PgzipDeflater } from '../compress/klauspost-flate/pgzip.js';
import type { DeflateEngine } from './gzip-reproduce.js';

/**
 * pgzip with klauspost/compress v1.15.12 (Debian 12's, which its umoci and skopeo are built
 * with; v1.16 to v1.18.0 give the same bytes at levels 5 and 6), pgzip's 1 MiB blocks.
 */
export const PGZIP_ENGINE = 'klauspost-pgzip-1.2.5-compress-1.15.12';
/** As {@link PGZIP_ENGINE}, with umoci's 256 KiB blocks. */
export const PGZIP_UMOCI_ENGINE = `${PGZIP_ENGINE}-256k`;
/** pgzip with klauspost/compress v1.18.2 or later, 1 MiB blocks. */
export const PGZIP_118_ENGINE = 'klauspost-pgzip-1.2.5-compress-1.18.2';
/** As {@link PGZIP_118_ENGINE}, with umoci's 256 KiB blocks. */
export const PGZIP_118_UMOCI_ENGINE = `${PGZIP_118_ENGINE}-256k`;
/** klauspost/compress v1.15.12 to v1.18.0 in one stream. */
export const KLAUSPOST_FLATE_ENGINE = 'klauspost-flate-1.15.12';
/** klauspost/compress v1.18.2 or later in one stream; also Go 1.27's `compress/flate`. */
export const KLAUSPOST_118_FLATE_ENGINE = 'klauspost-flate-1.18.2';

/** umoci's block size: it calls pgzip's `SetConcurrency(256<<10, ...)`. */
export const UMOCI_BLOCK_SIZE = 256 << 10;

/** Input handed to the deflater at a time (the output does not depend on it). */
const PIECE = 64 * 1024;

/** Which klauspost engine. */
export interface KlauspostEngineOptions {
  /** Whose output. @default '1.15' */
  version?: KlauspostVersion;
  /**
   * pgzip's block size (1 MiB is pgzip's default, 256 KiB umoci's), or `undefined` for one
   * stream. @default 1 MiB
   */
  blockSize?: number;
}

/**
 * A klauspost engine. Levels 5 (klauspost's `DefaultCompression`, what pgzip, umoci and
 * containers/image use unless told otherwise) and 6 (Go 1.27's default) are built; memLevel
 * does not apply (only 8 is tried), and only the default strategy exists. Its output does not
 * depend on how the input is cut into pieces.
 * @param options - version and framing.
 * @returns the engine.
 */
export function klauspostDeflateEngine(options: KlauspostEngineOptions = {}): DeflateEngine {
  const version = options.version ?? '1.15';
  const blockSize = 'blockSize' in options ? options.blockSize : PGZIP_BLOCK_SIZE;
  const name = engineName(version, blockSize);
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
      const deflater =
        blockSize !== undefined
          ? new PgzipDeflater(params.level, blockSize, version)
          : oneStream(params.level, version);
      const drain = (controller: TransformStreamDefaultController<Uint8Array>) => {
        const out = deflater.take();
        if (out) controller.enqueue(out);
      };
      return new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          // A piece at a time, each one's output taken before the next, so that the writer's
          // output buffer stays the size of one piece's output, whatever chunks arrive.
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

/** A single-stream writer (no dictionary). */
function oneStream(level: number, version: KlauspostVersion): KlauspostFlateWriter {
  const w = new KlauspostFlateWriter(level, version);
  w.resetDict(null);
  return w;
}

function engineName(version: KlauspostVersion, blockSize: number | undefined): string {
  const compress = version === '1.15' ? '1.15.12' : '1.18.2';
  if (blockSize === undefined) return `klauspost-flate-${compress}`;
  const base = `klauspost-pgzip-1.2.5-compress-${compress}`;
  if (blockSize === PGZIP_BLOCK_SIZE) return base;
  return blockSize === UMOCI_BLOCK_SIZE ? `${base}-256k` : `${base}-block-${blockSize}`;
}

/**
 * The klauspost engines, in the order gzip reproduction tries them: pgzip's blocks (v1.15.12
 * then v1.18.2, each with 1 MiB blocks then umoci's 256 KiB), then one stream (v1.15.12, then
 * v1.18.2, which is also Go 1.27's `compress/gzip`).
 * @returns the engines.
 */
export function klauspostEngines(): DeflateEngine[] {
  const out: DeflateEngine[] = [];
  for (const version of ['1.15', '1.18.2'] as const) {
    out.push(klauspostDeflateEngine({ version }));
    out.push(klauspostDeflateEngine({ version, blockSize: UMOCI_BLOCK_SIZE }));
  }
  for (const version of ['1.15', '1.18.2'] as const) {
    out.push(klauspostDeflateEngine({ version, blockSize: undefined }));
  }
  return out;
}
