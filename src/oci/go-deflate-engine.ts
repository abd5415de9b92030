/**
 * Go's `compress/flate` as a {@link DeflateEngine} for gzip reproduction: layers that Go's
 * `compress/gzip` compressed (Docker, BuildKit, containerd and most Go tools that write
 * layers) come back byte for byte. Platform-neutral, in JavaScript.
 *
 * @module
 */
import { GoFlateWriter } from '../compress/go-flate/compressor.js';
import type { DeflateEngine } from './gzip-reproduce.js';

/**
 * The engine's name. It names the Go release whose output the tests compare against; Go's
 * deflate output has been the same from Go 1.8 on.
 */
export const GO_FLATE_ENGINE = 'go-compress-flate-1.19';

/** Input handed to the encoder at a time, so that output is taken in bounded pieces. */
const PIECE = 1 << 16;

/**
 * The Go engine. It knows levels 1-9; memLevel does not apply (only 8 is tried), and only the
 * default strategy exists.
 * @returns the engine.
 */
export function goDeflateEngine(): DeflateEngine {
  return {
    name: GO_FLATE_ENGINE,
    memLevels: [8],
    strategies: [0],
    createDeflateRaw(params) {
      if (params.strategy !== 0) {
        throw new RangeError(`${GO_FLATE_ENGINE} has no strategy ${params.strategy}`);
      }
      const writer = new GoFlateWriter(params.level);
      const drain = (controller: TransformStreamDefaultController<Uint8Array>) => {
        const out = writer.take();
        if (out) controller.enqueue(out);
      };
      return new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          for (let at = 0; at < chunk.length; at += PIECE) {
            writer.write(chunk.subarray(at, at + PIECE));
            drain(controller);
          }
        },
        flush(controller) {
          writer.close();
          drain(controller);
        },
      });
    },
  };
}
