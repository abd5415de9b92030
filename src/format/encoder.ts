/**
 * The index byte stream writer: magic, then one length-prefixed CBOR frame per record.
 *
 * @module
 */
import { IndexLimitError, RecordFormatError } from '../errors.js';
import { encodeRecord, encodeRecordInto } from './codec.js';
import { FORMAT_VERSION, type IndexRecord } from './records.js';

/** Largest record writers write and readers accept by default: 16 MiB. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

/**
 * Largest flat index writers write and readers accept by default (`maxIndexBytes` of the
 * decoder): 1 GiB, the index of a layer of several hundred GiB.
 */
export const MAX_INDEX_BYTES = 1024 * 1024 * 1024;

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
 * @param offset - where the frame goes in the index, for the error message. @default 0
 * @param version - the index's format version (its layer record's). @default FORMAT_VERSION
 * @throws {@link RecordFormatError} when the record exceeds {@link MAX_RECORD_BYTES}.
 * @returns the frame.
 */
export function encodeFrame(
  record: IndexRecord,
  offset = 0,
  version: number = FORMAT_VERSION,
): Uint8Array {
  const body = encodeRecord(record, version);
  if (body.length > MAX_RECORD_BYTES) throw recordTooLarge(record, body.length, offset);
  const frame = new Uint8Array(4 + body.length);
  writeUint32(frame, 0, body.length);
  frame.set(body, 4);
  return frame;
}

/** Never write what readers refuse (by default) to read back. */
function recordTooLarge(record: IndexRecord, size: number, offset: number): RecordFormatError {
  return new RecordFormatError(
    `${record.type} record of ${size} bytes exceeds the ${MAX_RECORD_BYTES}-byte record limit`,
    offset,
  );
}

/** Writes `n` big-endian at `at`. */
function writeUint32(bytes: Uint8Array, at: number, n: number): void {
  bytes[at] = n >>> 24;
  bytes[at + 1] = (n >>> 16) & 0xff;
  bytes[at + 2] = (n >>> 8) & 0xff;
  bytes[at + 3] = n & 0xff;
}

/**
 * Index bytes the encoder gathers before passing them on. Records of small files take 100 to
 * 300 bytes each; a piece per record cost every later stage (the index chunker, the output) a
 * stream hop per file.
 */
const PIECE_BYTES = 64 * 1024;

/**
 * Creates a stream that turns records into index bytes (magic first). Frames are passed on in
 * pieces of about 64 KiB; a piece holds whole frames, and a record the stream has taken in is
 * written out no later than at the end of input.
 * @returns a `TransformStream` from records to bytes.
 * @example
 * ```ts
 * const bytes = recordsStream.pipeThrough(createIndexEncoder());
 * ```
 */
export function createIndexEncoder(): TransformStream<IndexRecord, Uint8Array> {
  const frames = new IndexFrames();
  return new TransformStream({
    transform(record, controller) {
      const piece = frames.add(record);
      if (piece) controller.enqueue(piece);
    },
    flush(controller) {
      const piece = frames.end();
      if (piece) controller.enqueue(piece);
    },
  });
}

/**
 * Room the encoder keeps past {@link PIECE_BYTES}: a record that fits in what is left is
 * encoded in place; a larger one is encoded on its own, then copied.
 */
const PIECE_ROOM = 64 * 1024;

/**
 * The index encoder's state, apart from any stream: frames records and gathers them into
 * pieces of about 64 KiB, the first starting with the magic. Records are encoded straight into
 * the piece being gathered: a buffer per record, and another per frame, were most of what
 * converting small files allocated for the index.
 */
export class IndexFrames {
  /** @param maxIndexBytes - the most bytes the index may take. @default {@link MAX_INDEX_BYTES} */
  constructor(private readonly maxIndexBytes = MAX_INDEX_BYTES) {
    this.piece.set(INDEX_MAGIC);
  }

  /** Where the index's next frame starts. */
  private offset = INDEX_MAGIC.length;
  /** The piece being gathered, its first `held` bytes written. */
  private piece = new Uint8Array(PIECE_BYTES + PIECE_ROOM);
  private held = INDEX_MAGIC.length;
  /** The version of the layer record framed, which says how later records are written. */
  private version = FORMAT_VERSION;

  /**
   * Frames a record.
   * @returns a piece of index bytes once about 64 KiB are gathered.
   * @throws {@link RecordFormatError} for a record over {@link MAX_RECORD_BYTES};
   *   {@link IndexLimitError} when the index would grow past its `maxIndexBytes`.
   */
  add(record: IndexRecord): Uint8Array | undefined {
    if (record.type === 'layer') this.version = record.version;
    const at = this.held;
    // In place when it fits (and so is far below MAX_RECORD_BYTES); else framed alone, which
    // checks the record's size and throws whatever else is wrong with it.
    const size = encodeRecordInto(record, this.version, this.piece.subarray(at + 4));
    const frame = size === undefined ? encodeFrame(record, this.offset, this.version) : undefined;
    const length = frame?.length ?? 4 + size!;
    if (this.offset + length > this.maxIndexBytes) {
      throw new IndexLimitError(
        `the index would be over ${this.maxIndexBytes} bytes, the most its readers take (record at index offset ${this.offset})`,
      );
    }
    this.offset += length;
    if (frame) {
      // Too large for the room left: the piece so far and this frame go out together.
      const out = new Uint8Array(at + length);
      out.set(this.piece.subarray(0, at));
      out.set(frame, at);
      this.held = 0;
      return out;
    }
    writeUint32(this.piece, at, size!);
    this.held += length;
    return this.held >= PIECE_BYTES ? this.take() : undefined;
  }

  /** The bytes gathered since the last piece, if any (the magic alone when no record came). */
  end(): Uint8Array | undefined {
    return this.held > 0 ? this.take() : undefined;
  }

  private take(): Uint8Array {
    const out = this.piece.slice(0, this.held);
    this.held = 0;
    return out;
  }
}
