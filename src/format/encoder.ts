/**
 * The index byte stream writer: magic, then one length-prefixed CBOR frame per record.
 *
 * @module
 */
import { encodeRecord } from './codec.js';
import type { IndexRecord } from './records.js';

/** The 8 bytes every layerdiff index starts with: `\x89LDI\r\n\x1a\n`. */
export const INDEX_MAGIC: Uint8Array = Uint8Array.of(
  0x89,
  0x4c,
  0x44,
  0x49,
  0x0d,
  0x0a,
  0x1a,
  0x0a,
);

/**
 * Frames one encoded record: a 4-byte big-endian length, then the CBOR bytes.
 * @param record - the record.
 * @returns the frame.
 */
export function encodeFrame(record: IndexRecord): Uint8Array {
  const body = encodeRecord(record);
  const frame = new Uint8Array(4 + body.length);
  new DataView(frame.buffer).setUint32(0, body.length);
  frame.set(body, 4);
  return frame;
}

/**
 * Creates a stream that turns records into index bytes (magic first).
 * @returns a `TransformStream` from records to bytes.
 * @example
 * ```ts
 * const bytes = recordsStream.pipeThrough(createIndexEncoder());
 * ```
 */
export function createIndexEncoder(): TransformStream<IndexRecord, Uint8Array> {
  return new TransformStream({
    start(controller) {
      controller.enqueue(INDEX_MAGIC.slice());
    },
    transform(record, controller) {
      controller.enqueue(encodeFrame(record));
    },
  });
}
