/**
 * The diff stream format: one ordered byte stream that carries a layer's index root and the
 * chunks (data and index) a receiver's base lacks, each compressed when that pays. Pure frame
 * encoding and a streaming, bounded decoder. Specified in `docs/FORMAT.md` §11.
 *
 * @module
 */
import { MAX_CHUNK_MAX } from '../cdc/params.js';
import { CHUNK_CODINGS, type ChunkCoding } from '../compress/chunk-codec.js';
import { DiffFormatError } from '../errors.js';
import { appendBytes } from './append.js';
import { MAX_ROOT_BYTES } from './root.js';

/** The 8 bytes a diff stream starts with: `\x89LDD\r\n\x1a\n`, then the version byte. */
export const DIFF_MAGIC: Uint8Array = Uint8Array.of(0x89, 0x4c, 0x44, 0x44, 0x0d, 0x0a, 0x1a, 0x0a);

/** Diff stream format version (the byte after the magic). */
export const DIFF_VERSION = 1;

const CHUNK_KIND = 0x43; // 'C'
const ROOT_KIND = 0x52; // 'R'
const CHUNK_HEAD = 1 + 32 + 1 + 4 + 4;
/** Largest root a diff may carry. */

/** One frame of a diff stream. */
export type DiffFrame =
  | {
      type: 'chunk';
      /** Raw SHA-256 of the uncompressed chunk. */
      digest: Uint8Array;
      coding: ChunkCoding;
      /** Uncompressed length. */
      size: number;
      /** The bytes as sent (compressed when `coding` says so). */
      bytes: Uint8Array;
      /** Offset of the frame in the stream. */
      offset: number;
    }
  | { type: 'root'; root: Uint8Array; offset: number };

/** The stream's first bytes: magic and version. */
export function diffHeader(): Uint8Array {
  const out = new Uint8Array(DIFF_MAGIC.length + 1);
  out.set(DIFF_MAGIC);
  out[DIFF_MAGIC.length] = DIFF_VERSION;
  return out;
}

/**
 * Encodes a chunk frame.
 * @param digest - raw SHA-256 of the uncompressed chunk.
 * @param size - uncompressed length.
 * @param coding - how `bytes` are encoded.
 * @param bytes - the payload.
 */
export function encodeChunkFrame(
  digest: Uint8Array,
  size: number,
  coding: ChunkCoding,
  bytes: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(CHUNK_HEAD + bytes.length);
  const view = new DataView(out.buffer);
  out[0] = CHUNK_KIND;
  out.set(digest, 1);
  out[33] = CHUNK_CODINGS.indexOf(coding);
  view.setUint32(34, size);
  view.setUint32(38, bytes.length);
  out.set(bytes, CHUNK_HEAD);
  return out;
}

/**
 * Encodes the root frame, the last of a diff.
 * @param root - the index root bytes.
 */
export function encodeRootFrame(root: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + root.length);
  out[0] = ROOT_KIND;
  new DataView(out.buffer).setUint32(1, root.length);
  out.set(root, 5);
  return out;
}

/**
 * Creates a stream that cuts a diff stream into frames, checking the magic, version, kinds and
 * sizes before buffering anything (at most one frame: a chunk of at most 16 MiB, or a root).
 * It does not decompress or verify chunks; the receiver does.
 * @returns a `TransformStream` from diff bytes to frames.
 * @throws (through the stream) {@link DiffFormatError} naming the problem and its offset.
 */
export function createDiffDecoder(): TransformStream<Uint8Array, DiffFrame> {
  let buf: Uint8Array = new Uint8Array(0);
  let offset = 0; // stream offset of buf[0]
  let started = false;
  let ended = false;
  return new TransformStream({
    transform(piece, controller) {
      buf = buf.length === 0 ? piece : appendBytes(buf, piece);
      let pos = 0;
      if (!started) {
        if (buf.length < DIFF_MAGIC.length + 1) return;
        if (DIFF_MAGIC.some((b, i) => buf[i] !== b)) {
          throw new DiffFormatError('not a layerdiff diff stream (bad magic)', 0);
        }
        if (buf[DIFF_MAGIC.length] !== DIFF_VERSION) {
          throw new DiffFormatError(`diff version ${buf[DIFF_MAGIC.length]} is not supported`, 8);
        }
        started = true;
        pos = DIFF_MAGIC.length + 1;
      }
      for (;;) {
        const at = offset + pos;
        const left = buf.length - pos;
        if (left === 0) break;
        if (ended) throw new DiffFormatError('bytes after the root frame', at);
        const kind = buf[pos];
        const view = new DataView(buf.buffer, buf.byteOffset + pos);
        if (kind === CHUNK_KIND) {
          if (left < CHUNK_HEAD) break;
          const coding = CHUNK_CODINGS[buf[pos + 33]!];
          const size = view.getUint32(34);
          const stored = view.getUint32(38);
          if (!coding) throw new DiffFormatError(`unknown chunk coding ${buf[pos + 33]}`, at);
          if (size === 0 || size > MAX_CHUNK_MAX) {
            throw new DiffFormatError(`chunk size ${size} out of range`, at);
          }
          if (coding === 'identity' ? stored !== size : stored === 0 || stored >= size) {
            throw new DiffFormatError(
              `chunk of ${size} bytes sent as ${stored} ${coding} bytes`,
              at,
            );
          }
          if (left < CHUNK_HEAD + stored) break;
          controller.enqueue({
            type: 'chunk',
            digest: buf.slice(pos + 1, pos + 33),
            coding,
            size,
            bytes: buf.slice(pos + CHUNK_HEAD, pos + CHUNK_HEAD + stored),
            offset: at,
          });
          pos += CHUNK_HEAD + stored;
        } else if (kind === ROOT_KIND) {
          if (left < 5) break;
          const len = view.getUint32(1);
          if (len === 0 || len > MAX_ROOT_BYTES)
            throw new DiffFormatError(`root of ${len} bytes`, at);
          if (left < 5 + len) break;
          controller.enqueue({ type: 'root', root: buf.slice(pos + 5, pos + 5 + len), offset: at });
          pos += 5 + len;
          ended = true;
        } else {
          throw new DiffFormatError(`unknown frame kind 0x${kind!.toString(16)}`, at);
        }
      }
      buf = pos === 0 ? buf : buf.slice(pos);
      offset += pos;
    },
    flush() {
      if (!started) throw new DiffFormatError('diff stream ends before its header', 0);
      if (buf.length > 0) throw new DiffFormatError('diff stream ends inside a frame', offset);
      if (!ended) throw new DiffFormatError('diff stream ends before its root frame', offset);
    },
  });
}
