/**
 * Streaming zstd decompression in pure JS (fzstd), pull-driven and bounded: input is fed to
 * the decoder in slices whose decompressed size is at most about `sliceBytes` and which never
 * span two frames (fzstd allocates a whole window for every frame, and frees it only when the
 * slice is done: a slice of many tiny frames with huge windows took gigabytes), and frames
 * whose window exceeds `maxWindow` are refused before the decoder allocates anything.
 *
 * @module
 */
import { Decompress } from 'fzstd';
import { CompressionError, LayerdiffError, UsageError } from '../errors.js';
import { ZstdWalker } from './zstd-walker.js';

/** Options of {@link createZstdDecoder}. */
export interface ZstdDecoderOptions {
  /** Largest frame window accepted, in bytes. @default 134217728 (128 MiB, zstd's own default limit) */
  maxWindow?: number;
  /**
   * Output produced per pull, at most, plus one block (128 KiB); plus up to two more at the start
   * of a frame, where fzstd holds its first 18 bytes (up to three RLE blocks) until it has them all.
   * @default 1048576
   */
  sliceBytes?: number;
}

/**
 * Decompresses a zstd stream (one or more frames, skippable frames allowed).
 * @param source - the compressed bytes.
 * @param options - limits.
 * @returns the decompressed bytes as a pull stream.
 * @throws {@link UsageError} when `maxWindow` is not a number >= 0 or `sliceBytes` not >= 1.
 */
export function createZstdDecoder(
  source: ReadableStream<Uint8Array>,
  options: ZstdDecoderOptions = {},
): ReadableStream<Uint8Array> {
  const maxWindow = options.maxWindow ?? 128 * 1024 * 1024;
  const sliceBytes = options.sliceBytes ?? 1024 * 1024;
  // A NaN limit would accept every window; a slice budget below 1 would never advance.
  if (!(maxWindow >= 0)) throw new UsageError(`zstd: maxWindow must be >= 0, got ${maxWindow}`);
  if (!(sliceBytes >= 1)) throw new UsageError(`zstd: sliceBytes must be >= 1, got ${sliceBytes}`);
  const walker = new ZstdWalker(maxWindow);
  const reader = source.getReader();
  const out: Uint8Array[] = [];
  const decoder = new Decompress((data) => {
    if (data.length) out.push(data);
  });
  let piece: Uint8Array | undefined;
  let pos = 0;
  let inputFailure: { err: unknown } | undefined;

  const push = (bytes: Uint8Array, final: boolean) => {
    try {
      decoder.push(bytes, final);
    } catch (err) {
      throw new CompressionError(
        `zstd: corrupt data near compressed offset ${walker.offset} (${(err as Error).message})`,
        {
          cause: err,
        },
      );
    }
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        while (out.length === 0) {
          if (!piece || pos >= piece.length) {
            const r = await reader.read().catch((err: unknown) => {
              inputFailure = { err };
              throw err;
            });
            if (r.done) {
              if (!walker.atFrameBoundary) {
                throw new CompressionError(
                  `zstd: stream truncated at compressed offset ${walker.offset}`,
                );
              }
              push(new Uint8Array(0), true);
              for (const o of out.splice(0)) controller.enqueue(o);
              controller.close();
              return;
            }
            piece = r.value;
            pos = 0;
            continue;
          }
          const end = walker.walk(piece, pos, sliceBytes);
          push(piece.subarray(pos, end), false);
          pos = end;
        }
        for (const o of out.splice(0)) controller.enqueue(o);
      } catch (err) {
        await reader.cancel(err).catch(() => {});
        // The input's own failure (an aborted fetch, a network error) is passed on as it is,
        // not taken for corrupt zstd.
        throw err instanceof LayerdiffError || err === inputFailure?.err
          ? err
          : new CompressionError(`zstd: ${(err as Error).message}`, { cause: err });
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
