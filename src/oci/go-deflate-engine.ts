/**
 * Go's `compress/flate` up to Go 1.26 as a {@link DeflateEngine} for gzip reproduction: layers
 * that Go's `compress/gzip` compressed (Docker, BuildKit, containerd and most Go tools that
 * write layers) come back byte for byte. Platform-neutral, in JavaScript. Go 1.27 replaced
 * this encoder with a port of klauspost/compress's (see `klauspost-deflate-engine.ts`).
 *
 * @module
 */
import { GoFlateWriter } from '../compress/go-flate/compressor.js';
import type { DeflateEngine } from './gzip-reproduce.js';

/**
 * The engine's name. It names the Go release whose output the tests compare against; other
 * releases before Go 1.27 are not checked (restore checks every digest either way).
 */
export const GO_FLATE_ENGINE = 'go-compress-flate-1.19';

/**
 * Input is handed to the encoder in writes of exactly this size (the last one shorter), as
 * Go's `io.Copy` hands it to a gzip writer. Go's output can depend on where its writes end
 * (when a write ends within a match length of the window's end, a match across the window's
 * slide may be found or not), so the engine fixes the writes rather than passing on the
 * pieces it happens to be given: its output is a function of its input alone.
 */
const WRITE = 32 * 1024;

/**
 * The Go engine. It knows levels 1-9; memLevel does not apply (only 8 is tried), and only the
 * default strategy exists.
 * @returns the engine.
 */
export function goDeflateEngine(): DeflateEngine {
  return {
    name: GO_FLATE_ENGINE,
    copiesInput: true,
    memLevels: [8],
    strategies: [0],
    createDeflateRaw(params) {
      if (params.strategy !== 0) {
        throw new RangeError(`${GO_FLATE_ENGINE} has no strategy ${params.strategy}`);
      }
      const writer = new GoFlateWriter(params.level);
      const pending = new Uint8Array(WRITE);
      let filled = 0;
      const drain = (controller: TransformStreamDefaultController<Uint8Array>) => {
        const out = writer.take();
        if (out) controller.enqueue(out);
      };
      return new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          for (let at = 0; at < chunk.length; ) {
            const n = Math.min(WRITE - filled, chunk.length - at);
            pending.set(chunk.subarray(at, at + n), filled);
            filled += n;
            at += n;
            if (filled === WRITE) {
              writer.write(pending);
              filled = 0;
              drain(controller);
            }
          }
        },
        flush(controller) {
          if (filled > 0) writer.write(pending.subarray(0, filled));
          writer.close();
          drain(controller);
        },
      });
    },
  };
}
