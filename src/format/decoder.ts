/**
 * The index byte stream reader: checks the magic, cuts frames, decodes and checks each record
 * and the order of records. Buffers at most one frame, bounded by `maxRecordBytes`.
 *
 * @module
 */
import { RecordFormatError } from '../errors.js';
import { intOption } from '../options.js';
import { appendBytes } from './append.js';
import { decodeRecord } from './codec.js';
import { INDEX_MAGIC, MAX_INDEX_BYTES, MAX_RECORD_BYTES } from './encoder.js';
import { IndexGrammar } from './grammar.js';
import type { IndexRecord } from './records.js';

/** Options of {@link createIndexDecoder}. */
export interface IndexDecoderOptions {
  /** Largest accepted record, in bytes. @default 16777216 (16 MiB) */
  maxRecordBytes?: number;
  /**
   * Largest accepted flat index, in bytes: bounds the work a crafted index (or a root that
   * repeats index chunks) can cause. @default {@link MAX_INDEX_BYTES}
   */
  maxIndexBytes?: number;
}

/**
 * Creates a stream that decodes index bytes into checked records. Every record is validated
 * (types, ranges, order, body sizes, totals); the stream errors with
 * {@link RecordFormatError} on the first problem, and when the input ends before the end record.
 *
 * @param options - limits.
 * @returns a `TransformStream` from bytes to records.
 */
export function createIndexDecoder(
  options: IndexDecoderOptions = {},
): TransformStream<Uint8Array, IndexRecord> {
  const maxRecordBytes = intOption(options.maxRecordBytes, 'maxRecordBytes', MAX_RECORD_BYTES);
  const maxIndexBytes = intOption(options.maxIndexBytes, 'maxIndexBytes', MAX_INDEX_BYTES);
  const grammar = new IndexGrammar();
  let buf: Uint8Array = new Uint8Array(0);
  let offset = 0; // index offset of buf[0]
  let magicSeen = false;

  return new TransformStream({
    transform(piece, controller) {
      if (offset + buf.length + piece.length > maxIndexBytes) {
        throw new RecordFormatError(
          `index exceeds the ${maxIndexBytes}-byte limit`,
          offset + buf.length,
        );
      }
      buf = buf.length === 0 ? piece : appendBytes(buf, piece);
      let pos = 0;
      if (!magicSeen) {
        if (buf.length < INDEX_MAGIC.length) return;
        for (let i = 0; i < INDEX_MAGIC.length; i++) {
          if (buf[i] !== INDEX_MAGIC[i])
            throw new RecordFormatError('not a layerdiff index (bad magic)', 0);
        }
        magicSeen = true;
        pos = INDEX_MAGIC.length;
      }
      while (buf.length - pos >= 4) {
        const at = offset + pos;
        if (grammar.complete) throw new RecordFormatError('bytes after the end record', at);
        const len = new DataView(buf.buffer, buf.byteOffset + pos, 4).getUint32(0);
        if (len === 0) throw new RecordFormatError('empty record frame', at);
        if (len > maxRecordBytes) {
          throw new RecordFormatError(
            `record of ${len} bytes exceeds the ${maxRecordBytes}-byte limit`,
            at,
          );
        }
        if (buf.length - pos - 4 < len) break;
        const record = decodeRecord(buf.subarray(pos + 4, pos + 4 + len), at, grammar.version);
        grammar.accept(record, at);
        controller.enqueue(record);
        pos += 4 + len;
      }
      if (grammar.complete && buf.length > pos) {
        throw new RecordFormatError('bytes after the end record', offset + pos);
      }
      // Keep only the unread part, copied so the input piece can be released.
      if (pos > 0) buf = buf.slice(pos);
      offset += pos;
    },
    flush() {
      if (!magicSeen) throw new RecordFormatError('index ends before its magic', 0);
      if (buf.length > 0) throw new RecordFormatError('index ends inside a record', offset);
      if (!grammar.complete)
        throw new RecordFormatError('index ends before its end record', offset);
    },
  });
}
