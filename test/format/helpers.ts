/** Shared fixtures and utilities of the index-format tests. */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { RecordFormatError } from '../../src/errors.js';
import { createIndexDecoder, type IndexDecoderOptions } from '../../src/format/decoder.js';
import { encodeFrame, INDEX_MAGIC } from '../../src/format/encoder.js';
import { type EntryMeta, FORMAT_VERSION, type IndexRecord } from '../../src/format/records.js';
import { concat } from '../helpers/bytes.js';

/** Lowercase hex of some bytes. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Bytes of a hex string (whitespace ignored). */
export function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

/** Raw SHA-256 of some bytes. */
export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

/** 32 bytes all equal to `b` (a recognisable fake digest). */
export function fakeDigest(b: number): Uint8Array {
  return new Uint8Array(32).fill(b);
}

/** A frame around arbitrary CBOR bytes: 4-byte big-endian length, then the bytes. */
export function rawFrame(cbor: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + cbor.length);
  new DataView(out.buffer).setUint32(0, cbor.length);
  out.set(cbor, 4);
  return out;
}

/**
 * Index bytes: the magic, then one frame per record (encoded as the version of the layer
 * record before it says, or given as raw frame bytes).
 */
export function indexBytes(records: Array<IndexRecord | Uint8Array>): Uint8Array {
  let version = FORMAT_VERSION;
  return concat([
    INDEX_MAGIC,
    ...records.map((r) => {
      if (r instanceof Uint8Array) return r;
      if (r.type === 'layer') version = r.version;
      return encodeFrame(r, 0, version);
    }),
  ]);
}

/** The smallest metadata an entry record can carry. */
export function minimalMeta(path: string, size = 0): EntryMeta {
  return {
    path,
    typeflag: '0',
    mode: 0o644,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    mtime: { sec: 0, nsec: 0 },
    size,
    linkname: '',
    devmajor: 0,
    devminor: 0,
    pax: {},
    xattrs: {},
  };
}

/** A layer record with the default chunker. */
export const LAYER: IndexRecord = {
  type: 'layer',
  version: FORMAT_VERSION,
  chunker: { algorithm: 'fastcdc-gear32-v1', min: 16384, avg: 65536, max: 262144 },
  digest: 'sha256',
  compression: 'none',
};

/**
 * Feeds `bytes` to a fresh decoder in pieces of the given sizes (cycled) and collects the
 * records, or the error the stream fails with.
 */
export async function decodeIndex(
  bytes: Uint8Array,
  sizes: number | number[] = bytes.length || 1,
  options?: IndexDecoderOptions,
): Promise<{ records: IndexRecord[]; error?: unknown }> {
  const list = Array.isArray(sizes) ? sizes : [sizes];
  const pieces: Uint8Array[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = Math.max(1, list[i % list.length]!);
    pieces.push(bytes.slice(at, at + n));
    at += n;
  }
  const decoder = createIndexDecoder(options);
  const writer = decoder.writable.getWriter();
  const reader = decoder.readable.getReader();
  const records: IndexRecord[] = [];
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      records.push(value);
    }
  })();
  const writing = (async () => {
    for (const p of pieces) await writer.write(p);
    await writer.close();
  })();
  const results = await Promise.allSettled([reading, writing]);
  const failed = results.find((r) => r.status === 'rejected');
  return failed ? { records, error: failed.reason } : { records };
}

/** Decodes `bytes` and expects a {@link RecordFormatError} at `offset` matching `message`. */
export async function expectIndexError(
  bytes: Uint8Array,
  message: RegExp,
  offset?: number,
  sizes?: number | number[],
  options?: IndexDecoderOptions,
): Promise<RecordFormatError> {
  const { error } = await decodeIndex(bytes, sizes, options);
  expect(error).toBeInstanceOf(RecordFormatError);
  const err = error as RecordFormatError;
  expect(err.code).toBe('ERR_RECORD_FORMAT');
  expect(err.message).toMatch(message);
  if (offset !== undefined) expect(err.offset).toBe(offset);
  return err;
}

/**
 * A flat index of two files, `a` and `b`, each one reference to `chunk` (with `lengths`), and
 * a tail of `tail`: with lengths that are not the chunk's, an index a hostile sender could make.
 */
export function oneChunkTwiceIndex(
  chunk: Uint8Array,
  tail: Uint8Array,
  lengths: [number, number],
): Uint8Array {
  const file = (path: string, size: number): IndexRecord => ({
    type: 'entry',
    entry: minimalMeta(path, size),
    raw: new Uint8Array(512),
  });
  const [a, b] = lengths;
  return indexBytes([
    LAYER,
    file('a', a),
    { type: 'chunks', refs: [{ digest: sha256(chunk), length: a }] },
    file('b', b),
    { type: 'chunks', refs: [{ digest: sha256(chunk), length: b }] },
    { type: 'tail' },
    { type: 'chunks', refs: [{ digest: sha256(tail), length: tail.length }] },
    {
      type: 'end',
      diffId: new Uint8Array(32),
      size: 512 * 2 + Math.ceil(a / 512) * 512 + Math.ceil(b / 512) * 512 + tail.length,
      entries: 2,
      deletions: 0,
      chunks: 3,
      dataBytes: a + b + tail.length,
    },
  ]);
}
