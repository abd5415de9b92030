/**
 * `openIndex`: the flat index bytes of an index given either as a root (chunked, the form
 * `convert` writes) or already flat. A root's chunks are fetched from the store as the
 * consumer pulls, each verified against its reference.
 *
 * @module
 */
import { MIN_CHUNK_MIN } from '../cdc/params.js';
import { RecordFormatError } from '../errors.js';
import { createIndexDecoder, type IndexDecoderOptions } from '../format/decoder.js';
import { INDEX_MAGIC, MAX_INDEX_BYTES } from '../format/encoder.js';
import type { ChunkRef, IndexRecord } from '../format/records.js';
import {
  decodeRoot,
  type IndexRoot,
  isRoot,
  MAX_ROOT_BYTES,
  PACKED_REF_BYTES,
  ROOT_MAGIC,
  unpackRef,
} from '../format/root.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { intOption } from '../options.js';
import { readChunk } from '../store/read-chunk.js';
import type { ChunkReader } from '../store/types.js';
import { type RepeatCheck, repeatCheck } from './index-repeats.js';

/** Options of {@link openIndex} and {@link readIndexRecords}. */
export interface OpenIndexOptions {
  /** Hashing for chunk verification. @default webHashProvider() */
  hash?: HashProvider;
  /** Index decoding limits (for {@link readIndexRecords}). */
  index?: IndexDecoderOptions;
  /** Called with every index chunk reference (of every level) as it is about to be read. */
  onIndexChunk?: (ref: ChunkRef) => void;
}

/**
 * Reads a whole root (or the start of a flat index) from a stream.
 * @returns the root, or the bytes read so far and the rest of the stream when it is flat.
 */
async function sniff(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<
  { root: IndexRoot } | { head: Uint8Array; rest: ReadableStreamDefaultReader<Uint8Array> }
> {
  const pieces: Uint8Array[] = [];
  let size = 0;
  let checked = false;
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    pieces.push(r.value);
    size += r.value.length;
    if (!checked && size >= ROOT_MAGIC.length) {
      if (!isRoot(concat(pieces, size))) return { head: concat(pieces, size), rest: reader };
      checked = true;
    }
    if (size > MAX_ROOT_BYTES) {
      await reader.cancel();
      throw new RecordFormatError(`index root exceeds ${MAX_ROOT_BYTES} bytes`, 0);
    }
  }
  const bytes = concat(pieces, size);
  if (!isRoot(bytes)) return { head: bytes, rest: reader };
  return { root: decodeRoot(bytes) };
}

/** Joins pieces into one array (and leaves that array as the only piece). */
function concat(pieces: Uint8Array[], size: number): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  pieces.splice(0, pieces.length, out);
  return out;
}

/**
 * The chunks a sequence of references (one level of an index) names, in order, each verified.
 * A chunker never cuts a chunk shorter than {@link MIN_CHUNK_MIN} bytes but the last of a
 * sequence, nor an empty one; a root whose references do (the same tiny chunk over and over, at
 * several levels) would otherwise make its reader fetch without end while its size stays small.
 * The flat index's own chunks (`repeats`, given at level 0) may repeat only within the limits
 * of {@link repeatCheck}.
 */
async function* chunksOf(
  refs: Iterable<ChunkRef> | AsyncIterable<ChunkRef>,
  store: ChunkReader,
  options: OpenIndexOptions & { hash: HashProvider },
  level: number,
  repeats?: RepeatCheck,
): AsyncGenerator<Uint8Array> {
  let short = -1;
  let n = 0;
  for await (const ref of refs) {
    const over = repeats?.(ref);
    if (over) throw new RecordFormatError(over, 0);
    if (ref.length === 0 || short >= 0) {
      throw new RecordFormatError(
        ref.length === 0
          ? `index chunk ${n} of level ${level} is empty`
          : `index chunk ${short} of level ${level} holds fewer than ${MIN_CHUNK_MIN} bytes and is not the last`,
        0,
      );
    }
    if (ref.length < MIN_CHUNK_MIN) short = n;
    n++;
    options.onIndexChunk?.(ref);
    yield await readChunk(store, ref, options.hash);
  }
}

/** The packed references held by a byte sequence (one level of a chunked index). */
async function* refsIn(bytes: AsyncIterable<Uint8Array>, level: number): AsyncGenerator<ChunkRef> {
  const carry = new Uint8Array(PACKED_REF_BYTES);
  let fill = 0;
  let offset = 0;
  for await (const piece of bytes) {
    let i = 0;
    if (fill > 0) {
      const n = Math.min(PACKED_REF_BYTES - fill, piece.length);
      carry.set(piece.subarray(0, n), fill);
      fill += n;
      i = n;
      if (fill < PACKED_REF_BYTES) continue;
      yield unpackRef(carry, 0, offset);
      offset += PACKED_REF_BYTES;
      fill = 0;
    }
    for (; i + PACKED_REF_BYTES <= piece.length; i += PACKED_REF_BYTES) {
      yield unpackRef(piece, i, offset);
      offset += PACKED_REF_BYTES;
    }
    carry.set(piece.subarray(i), 0);
    fill = piece.length - i;
  }
  if (fill > 0) {
    throw new RecordFormatError(`index level ${level} ends inside a packed reference`, offset);
  }
}

/** The flat index bytes of a root, checked against its size and end record. */
async function* flatBytes(
  root: IndexRoot,
  store: ChunkReader,
  options: OpenIndexOptions & { hash: HashProvider },
): AsyncGenerator<Uint8Array> {
  let refs: Iterable<ChunkRef> | AsyncIterable<ChunkRef> = root.refs;
  for (let level = root.levels; level > 0; level--) {
    refs = refsIn(chunksOf(refs, store, options, level), level - 1);
  }
  // The last frame must be the root's copy of the end record.
  const frame = new Uint8Array(4 + root.endBytes.length);
  new DataView(frame.buffer).setUint32(0, root.endBytes.length);
  frame.set(root.endBytes, 4);
  const tail = new Uint8Array(frame.length);
  let size = 0;
  const repeats = repeatCheck(root.size, root.chunker.min);
  for await (const chunk of chunksOf(refs, store, options, 0, repeats)) {
    size += chunk.length;
    if (size > root.size) {
      throw new RecordFormatError(
        `index chunks exceed the root's ${root.size} bytes`,
        size - chunk.length,
      );
    }
    // Keep the last frame.length bytes seen.
    if (chunk.length >= tail.length) {
      tail.set(chunk.subarray(chunk.length - tail.length));
    } else {
      tail.copyWithin(0, chunk.length);
      tail.set(chunk, tail.length - chunk.length);
    }
    yield chunk;
  }
  if (size !== root.size) {
    throw new RecordFormatError(
      `index chunks hold ${size} bytes, the root says ${root.size}`,
      size,
    );
  }
  if (size < INDEX_MAGIC.length + frame.length || tail.some((b, i) => b !== frame[i])) {
    throw new RecordFormatError("the flat index's end record differs from the root's", size);
  }
}

/**
 * Opens an index for reading: a root is expanded through the store (each index chunk fetched
 * only when the consumer pulls, and verified); a flat index passes through unchanged.
 *
 * @param index - the index (root or flat) bytes.
 * @param store - where a root's index chunks are.
 * @param options - hashing.
 * @returns the flat index bytes (magic, then record frames).
 * @throws (through the stream) {@link RecordFormatError} for a malformed root or index chunks
 * that do not add up to what the root says; {@link ChunkNotFoundError} and
 * {@link ChunkDigestError} for missing and corrupt index chunks.
 */
export function openIndex(
  index: ReadableStream<Uint8Array>,
  store: ChunkReader,
  options: OpenIndexOptions = {},
): ReadableStream<Uint8Array> {
  const opts = { ...options, hash: options.hash ?? webHashProvider() };
  const maxIndexBytes = intOption(options.index?.maxIndexBytes, 'maxIndexBytes', MAX_INDEX_BYTES);
  let source: AsyncIterator<Uint8Array> | undefined;
  let rest: ReadableStreamDefaultReader<Uint8Array> | undefined;
  /** The input's reader, taken at the first pull (so a cancel while sniffing reaches it). */
  let input: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!source && !rest) {
          input ??= index.getReader();
          const s = await sniff(input);
          if ('root' in s) {
            // Refused before anything is fetched: a root may name far more bytes than its
            // index chunks hold (by repeating them), so its size bounds the work.
            if (s.root.size > maxIndexBytes) {
              throw new RecordFormatError(
                `index root names a ${s.root.size}-byte index, over the ${maxIndexBytes}-byte limit`,
                0,
              );
            }
            source = flatBytes(s.root, store, opts);
          } else {
            rest = s.rest;
            if (s.head.length > 0) return controller.enqueue(s.head);
          }
        }
        const r = source ? await source.next() : await rest!.read();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      },
      async cancel(reason) {
        await source?.return?.(undefined);
        await input?.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Opens an index (root or flat) and decodes its records, each checked.
 * @param index - the index bytes.
 * @param store - where a root's index chunks are.
 * @param options - hashing and decoding limits.
 * @returns the records, from the layer record to the end record.
 */
export function readIndexRecords(
  index: ReadableStream<Uint8Array>,
  store: ChunkReader,
  options: OpenIndexOptions = {},
): ReadableStream<IndexRecord> {
  return openIndex(index, store, options).pipeThrough(createIndexDecoder(options.index));
}

/** One chunk an index refers to: an index chunk (of any level) or a data chunk. */
export interface IndexChunk {
  kind: 'index' | 'data';
  ref: ChunkRef;
}

/**
 * Lists every chunk an index refers to, in reading order: its index chunks (for a root) and
 * the data chunks of its bodies and tail, with repeats. Reading verifies the index chunks.
 *
 * @param index - the index (root or flat) bytes.
 * @param store - where a root's index chunks are.
 * @param options - hashing and decoding limits.
 * @returns the chunks, as an async iterable.
 */
export async function* indexChunks(
  index: ReadableStream<Uint8Array>,
  store: ChunkReader,
  options: OpenIndexOptions = {},
): AsyncGenerator<IndexChunk> {
  const pending: ChunkRef[] = [];
  const records = readIndexRecords(index, store, {
    ...options,
    onIndexChunk: (ref) => {
      pending.push(ref);
      options.onIndexChunk?.(ref);
    },
  }).getReader();
  let done = false;
  try {
    for (;;) {
      const r = await records.read();
      while (pending.length > 0) yield { kind: 'index', ref: pending.shift()! };
      if (r.done) {
        done = true;
        return;
      }
      if (r.value.type === 'chunks') for (const ref of r.value.refs) yield { kind: 'data', ref };
    }
  } finally {
    // Left early (or failed): stop reading the index.
    if (!done) await records.cancel().catch(() => {});
  }
}
