/**
 * `reassemble`: index bytes and a chunk store in, the exact original tar out, as a pull
 * stream. Each pull emits one piece (a header, a chunk, padding); chunks are fetched only as
 * the consumer asks (plus a small bounded read-ahead), each is verified against its digest,
 * and the whole output against the diff_id at the end.
 *
 * @module
 */
import { LayerDigestError, UsageError } from '../errors.js';
import type { IndexDecoderOptions } from '../format/decoder.js';
import { paddingLength } from '../format/grammar.js';
import type { ChunkRef, IndexRecord } from '../format/records.js';
import { digestsEqual, formatDigest } from '../hash/digest.js';
import type { HashProvider, IncrementalHash } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { intOption } from '../options.js';
import type { ChunkReader } from '../store/types.js';
import { chunkFetcher } from './chunk-fetcher.js';
import { readIndexRecords } from './open-index.js';

/** Options of {@link reassemble}. */
export interface ReassembleOptions {
  /** Hashing for chunk verification and the diff_id. @default webHashProvider() */
  hash?: HashProvider;
  /** Chunks fetched ahead of the consumer, at most. @default 4 */
  readAhead?: number;
  /** Index decoding limits. */
  index?: IndexDecoderOptions;
  /**
   * Read chunks into buffers of a pool and lend each to the consumer (see `lend`), one buffer
   * per piece: a consumer that gives a piece's buffer back once done with it (`giveBack`;
   * `pipeToOutput` in `layerdiff/node` does, with its `giveBack` option) lets it be reused.
   * Without that, a layer of large compressible chunks leaves its decoded chunks to the
   * garbage collector faster than it collects them (a 4.3 GiB file of zeros peaked at 92 to
   * 101 MiB). Buffers nobody gives back are simply garbage. Only the stores that read into a
   * given buffer (the pack store) take part; others return buffers of their own, not lent.
   * @default false
   */
  recycle?: boolean;
  /**
   * Only bytes `start` to `end` (both included) of the tar, as an HTTP byte range asks: the
   * stream ends after byte `end`, and chunks wholly before `start` are not fetched (headers
   * before it are made, from the index, and dropped). Every chunk fetched is still verified;
   * the diff_id cannot be, as the whole tar is not made.
   * @default the whole tar, its diff_id checked
   */
  range?: { start: number; end: number };
}

/**
 * Rebuilds the exact tar an index was made from.
 *
 * The stream errors with {@link ChunkNotFoundError} or {@link ChunkDigestError} when a chunk is
 * missing or corrupt, with {@link RecordFormatError} when the index is malformed, and with
 * {@link LayerDigestError} when the output does not hash to the recorded diff_id (checked
 * after the last byte, so a consumer must treat the output as valid only once the stream closes).
 *
 * @param index - the index bytes: a root (as `convert` writes) or a flat index.
 * @param store - where the chunks (data and index chunks) are.
 * @param options - hashing and read-ahead.
 * @returns the uncompressed tar, byte for byte.
 * @example
 * ```ts
 * const tar = reassemble(indexBytes, store);
 * await tar.pipeTo(destination);
 * ```
 */
export function reassemble(
  index: ReadableStream<Uint8Array>,
  store: ChunkReader,
  options: ReassembleOptions = {},
): ReadableStream<Uint8Array> {
  const hash = options.hash ?? webHashProvider();
  const readAhead = intOption(options.readAhead, 'readAhead', 4);
  const range = options.range;
  if (
    range &&
    !(
      Number.isSafeInteger(range.start) &&
      Number.isSafeInteger(range.end) &&
      range.start >= 0 &&
      range.end >= range.start
    )
  ) {
    throw new UsageError(
      `range must be two whole numbers from 0, the end not before the start, got ${JSON.stringify(range)}`,
    );
  }
  const records = readIndexRecords(index, store, { hash, index: options.index }).getReader();
  let outHash: IncrementalHash | undefined;
  /** Bytes of the tar made so far (or, before a range's start, passed over). */
  let outSize = 0;
  /** Chunk references of the current chunks record not yet fetched. */
  let refs: ChunkRef[] = [];
  let nextRef = 0;
  /** Fetches in flight, in order. */
  const fetching: Array<{ ref: ChunkRef; bytes: Promise<Uint8Array> }> = [];
  /** Padding owed after the current body, unless a padding record replaces it. */
  let owedPadding = 0;
  let held: IndexRecord | undefined;

  const fetchChunk = chunkFetcher(store, hash, options.recycle === true);

  const fill = () => {
    while (fetching.length < readAhead && nextRef < refs.length) {
      const ref = refs[nextRef++]!;
      const bytes = fetchChunk(ref);
      bytes.catch(() => {});
      fetching.push({ ref, bytes });
    }
  };

  /**
   * Passes a piece on (or the part of it in the range).
   * @returns false when nothing was enqueued (a piece before the range), so that the caller
   * goes on to the next: a pull must enqueue or close, or the stream waits for good.
   */
  const emit = async (
    controller: ReadableStreamDefaultController<Uint8Array>,
    bytes: Uint8Array,
  ): Promise<boolean> => {
    const at = outSize;
    outSize += bytes.length;
    if (!range) {
      await outHash!.update(bytes);
      controller.enqueue(bytes);
      return true;
    }
    const from = Math.max(range.start - at, 0);
    const to = Math.min(range.end + 1 - at, bytes.length);
    if (from < to)
      controller.enqueue(from === 0 && to === bytes.length ? bytes : bytes.subarray(from, to));
    if (outSize > range.end) {
      controller.close();
      await records.cancel().catch(() => {});
      return true;
    }
    return from < to;
  };

  return new ReadableStream<Uint8Array>(
    {
      async start() {
        if (!range) outHash = await hash.create();
      },
      async pull(controller) {
        try {
          await step(controller);
        } catch (err) {
          await records.cancel(err).catch(() => {});
          throw err;
        }
      },
      cancel(reason) {
        return records.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );

  async function step(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    for (;;) {
      const f = fetching.shift();
      if (f) {
        fill();
        if (await emit(controller, await f.bytes)) return;
        continue;
      }
      const record = held ?? (await records.read()).value;
      held = undefined;
      if (record === undefined) return controller.close(); // unreachable: the decoder requires an end record
      if (owedPadding > 0 && record.type !== 'chunks') {
        const pad = record.type === 'padding' ? record.bytes : new Uint8Array(owedPadding);
        if (record.type !== 'padding') held = record;
        owedPadding = 0;
        if (await emit(controller, pad)) return;
        continue;
      }
      switch (record.type) {
        case 'layer':
        case 'tail':
        case 'padding': // all-zero padding is never recorded, so this only follows owedPadding 0
          continue;
        case 'entry':
        case 'delete':
          owedPadding = paddingLength(record.entry.size);
          if (await emit(controller, record.raw)) return;
          continue;
        case 'chunks':
          refs = record.refs;
          nextRef = 0;
          // Chunks wholly before the range's start are passed over, not fetched.
          while (range && nextRef < refs.length && outSize + refs[nextRef]!.length <= range.start) {
            outSize += refs[nextRef++]!.length;
          }
          fill();
          continue;
        case 'end': {
          if (range) {
            // The range reaches past the tar's end (an HTTP range is cut to the blob's size
            // before it gets here): all of it is made.
            controller.close();
            return;
          }
          const digest = await outHash!.digest();
          if (outSize !== record.size) {
            throw new LayerDigestError(
              `rebuilt tar is ${outSize} bytes, index records ${record.size}`,
            );
          }
          if (!digestsEqual(digest, record.diffId)) {
            throw new LayerDigestError(
              `rebuilt tar hashes to ${formatDigest(digest)}, index records diff_id ${formatDigest(record.diffId)}`,
            );
          }
          // The index is checked to its end before the output counts as complete: the
          // decoder refuses anything after the end record, and a root whose size or copy of
          // the end record differs from its flat index.
          await records.read();
          controller.close();
          return;
        }
      }
    }
  }
}
