/**
 * The index root: the small file that names a chunked index. The flat index (magic + record
 * frames, `docs/FORMAT.md` §1–§4) is cut into content-defined chunks kept in the chunk store
 * beside the data chunks; the root lists them, so unchanged stretches of metadata dedup like
 * data and a new layer version costs only the index chunks that changed (§7).
 *
 * Pure encoding and decoding; the streams that write and read chunked indexes are in
 * `src/pipeline/`.
 *
 * @module
 */
import { MAX_CHUNK_MAX } from '../cdc/params.js';
import type { ChunkerParams } from '../cdc/types.js';
import { RecordFormatError } from '../errors.js';
import { decodeCbor, decodeRecord, encodeCbor, Reader } from './codec.js';
import { MAX_RECORD_BYTES } from './encoder.js';
import {
  type ChunkRef,
  type EndRecord,
  type FORMAT_VERSION,
  isKnownVersion,
  unknownVersion,
} from './records.js';

/** The 8 bytes every index root starts with: `\x89LDR\r\n\x1a\n`. */
export const ROOT_MAGIC: Uint8Array = Uint8Array.of(0x89, 0x4c, 0x44, 0x52, 0x0d, 0x0a, 0x1a, 0x0a);

/** Bytes of one packed chunk reference: 32-byte SHA-256, then a 4-byte big-endian length. */
export const PACKED_REF_BYTES = 36;

/** Largest root: the magic, a length and one record. */
export const MAX_ROOT_BYTES = ROOT_MAGIC.length + 4 + MAX_RECORD_BYTES;

/** Most levels of indirection a root may declare. */
export const MAX_INDEX_LEVELS = 4;

/** Most references a writer puts in a root before it adds a level of indirection. */
export const ROOT_MAX_REFS = 1024;

/** Chunk size bounds of index chunks: 2/8/32 KiB. */
export const INDEX_CHUNKER_PARAMS: Readonly<ChunkerParams> = Object.freeze({
  min: 2 * 1024,
  avg: 8 * 1024,
  max: 32 * 1024,
});

/** The decoded root of a chunked index. */
export interface IndexRoot {
  /** Format version, {@link FORMAT_VERSION} when written by this library (1 or 2 when read). */
  version: number;
  /** Digest algorithm of every reference. */
  digest: 'sha256';
  /** How the flat index was cut: algorithm and bounds. */
  chunker: { algorithm: string } & ChunkerParams;
  /** Bytes of the flat index. */
  size: number;
  /**
   * Levels of indirection: 0 when {@link IndexRoot.refs} name the flat index's chunks; `n`
   * when they name the chunks of the packed references of level `n - 1`.
   */
  levels: number;
  /** The top level's chunk references, in order. */
  refs: ChunkRef[];
  /** The flat index's end record (a copy of its last record). */
  end: EndRecord;
  /** The end record's CBOR, byte-identical to the flat index's last frame. */
  endBytes: Uint8Array;
}

/**
 * Packs chunk references into {@link PACKED_REF_BYTES}-byte entries.
 * @param refs - the references.
 * @returns their packed bytes.
 */
export function packRefs(refs: readonly ChunkRef[]): Uint8Array {
  const out = new Uint8Array(refs.length * PACKED_REF_BYTES);
  refs.forEach((ref, i) => {
    packRef(ref, out, i * PACKED_REF_BYTES);
  });
  return out;
}

/**
 * Packs one chunk reference into {@link PACKED_REF_BYTES} bytes of `into` from `at`.
 * @param ref - the reference.
 * @param into - where it goes. @param at - where its entry starts.
 */
export function packRef(ref: ChunkRef, into: Uint8Array, at: number): void {
  into.set(ref.digest, at);
  new DataView(into.buffer, into.byteOffset + at + 32, 4).setUint32(0, ref.length);
}

/**
 * Unpacks one packed chunk reference.
 * @param bytes - at least {@link PACKED_REF_BYTES} bytes from `at`.
 * @param at - where the entry starts.
 * @param offset - where it is in its source, for the error message.
 * @returns the reference (its digest copied out of `bytes`).
 * @throws {@link RecordFormatError} when the length is 0 or over 16 MiB.
 */
export function unpackRef(bytes: Uint8Array, at: number, offset: number): ChunkRef {
  const length = new DataView(bytes.buffer, bytes.byteOffset + at + 32, 4).getUint32(0);
  if (length === 0 || length > MAX_CHUNK_MAX) {
    throw new RecordFormatError(`packed chunk reference has length ${length}`, offset);
  }
  // A copy even when `bytes` is a Node Buffer (whose `slice` is a view).
  return { digest: Uint8Array.prototype.slice.call(bytes, at, at + 32), length };
}

/**
 * Encodes a root: {@link ROOT_MAGIC}, a 4-byte big-endian length, then one CBOR map.
 * @param root - the root; `endBytes` is what is written for the end record.
 * @returns the root's bytes.
 */
export function encodeRoot(root: Omit<IndexRoot, 'end'>): Uint8Array {
  const c = root.chunker;
  const wire: Record<string, unknown> = {
    t: 7,
    v: root.version,
    dg: root.digest,
    ch: [c.algorithm, c.min, c.avg, c.max],
    n: root.size,
    r: packRefs(root.refs),
    e: root.endBytes,
  };
  if (root.levels > 0) wire.lv = root.levels;
  const body = encodeCbor(wire);
  const out = new Uint8Array(ROOT_MAGIC.length + 4 + body.length);
  out.set(ROOT_MAGIC);
  new DataView(out.buffer).setUint32(ROOT_MAGIC.length, body.length);
  out.set(body, ROOT_MAGIC.length + 4);
  return out;
}

/**
 * Tells whether bytes start with {@link ROOT_MAGIC}.
 * @param bytes - at least the first 8 bytes of a file.
 */
export function isRoot(bytes: Uint8Array): boolean {
  return bytes.length >= ROOT_MAGIC.length && ROOT_MAGIC.every((b, i) => bytes[i] === b);
}

/**
 * Decodes and checks a root.
 * @param bytes - the whole root file.
 * @returns the root.
 * @throws {@link RecordFormatError} naming the problem and its byte offset.
 */
export function decodeRoot(bytes: Uint8Array): IndexRoot {
  if (!isRoot(bytes)) throw new RecordFormatError('not a layerdiff index root (bad magic)', 0);
  const at = ROOT_MAGIC.length;
  if (bytes.length < at + 4) throw new RecordFormatError('index root ends inside its length', at);
  const len = new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0);
  if (len === 0 || len > MAX_RECORD_BYTES) {
    throw new RecordFormatError(`index root record of ${len} bytes is out of range`, at);
  }
  if (bytes.length !== at + 4 + len) {
    throw new RecordFormatError(
      `index root is ${bytes.length} bytes, its frame says ${at + 4 + len}`,
      at,
    );
  }
  const rd = new Reader(at, 'index root');
  const w = rd.map(decodeCbor(bytes.subarray(at + 4), at, 'index root'), 'root');
  if (w.t !== 7) rd.fail('record type must be 7');
  const version = rd.uint(w.v, 'version');
  if (!isKnownVersion(version)) rd.fail(unknownVersion('format', version));
  rd.keys(w, ['t', 'v', 'dg', 'ch', 'n', 'lv', 'r', 'e']);
  if (rd.str(w.dg, 'digest') !== 'sha256') rd.fail('digest algorithm must be "sha256"');
  const ch = rd.array(w.ch, 'chunker');
  if (ch.length !== 4) rd.fail('chunker must be [algorithm, min, avg, max]');
  const levels = w.lv === undefined ? 0 : rd.uint(w.lv, 'levels');
  if (levels > MAX_INDEX_LEVELS) rd.fail(`levels ${levels} exceeds ${MAX_INDEX_LEVELS}`);
  if (w.lv === 0) rd.fail('levels 0 must be omitted');
  const packed = rd.bytes(w.r, 'refs');
  if (packed.length === 0 || packed.length % PACKED_REF_BYTES) {
    rd.fail(`refs must be a non-empty multiple of ${PACKED_REF_BYTES} bytes`);
  }
  const refs: ChunkRef[] = [];
  for (let i = 0; i < packed.length; i += PACKED_REF_BYTES) refs.push(unpackRef(packed, i, at));
  const endBytes = rd.bytes(w.e, 'end');
  const end = decodeRecord(endBytes, at);
  if (end.type !== 'end') return rd.fail('end must hold an end record');
  return {
    version,
    digest: 'sha256',
    chunker: {
      algorithm: rd.str(ch[0], 'chunker.algorithm'),
      min: rd.uint(ch[1], 'chunker.min'),
      avg: rd.uint(ch[2], 'chunker.avg'),
      max: rd.uint(ch[3], 'chunker.max'),
    },
    size: rd.uint(w.n, 'size'),
    levels,
    refs,
    end,
    endBytes: endBytes.slice(),
  };
}
