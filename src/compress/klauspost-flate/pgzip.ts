/**
 * klauspost/pgzip's deflate stream (v1.2.5), what skopeo and containers/image (so podman and
 * buildah) and umoci compress layers with. pgzip cuts its input into blocks (1 MiB unless its
 * user sets another size: umoci sets 256 KiB) and compresses them in parallel, each as its
 * own flate stream primed with the last 16 KiB of the block before and ended by a sync flush;
 * the last block also gets the final block. Its output depends on the input and the block
 * size alone, not on how writes were cut or how many blocks ran at once. Here the blocks are
 * compressed in turn, as the input arrives, holding 16 KiB of it.
 *
 * @module
 */
import { KlauspostFlateWriter, type KlauspostVersion } from './compressor.js';

/** pgzip's default block size. */
export const PGZIP_BLOCK_SIZE = 1 << 20;
/** The bytes of the block before that prime the next one. */
const TAIL_SIZE = 16384;

/** A raw deflate writer whose output is pgzip's deflate stream at the same level. */
export class PgzipDeflater {
  private readonly flate: KlauspostFlateWriter;
  /** Bytes of the current block written so far. */
  private filled = 0;
  /** The current block's last {@link TAIL_SIZE} bytes (once it has that many). */
  private readonly ring = new Uint8Array(TAIL_SIZE);
  /** Where the next byte goes in {@link PgzipDeflater.ring}. */
  private ringAt = 0;
  /** The ring's bytes in order, made at each block's end. */
  private readonly tail = new Uint8Array(TAIL_SIZE);
  private closed = false;

  /**
   * @param level - klauspost's level (-1, its default, is 5).
   * @param blockSize - pgzip's block size (above 16 KiB).
   * @param version - the klauspost/compress whose flate pgzip was built with.
   */
  constructor(
    level: number,
    private readonly blockSize = PGZIP_BLOCK_SIZE,
    version: KlauspostVersion = '1.15',
  ) {
    if (!Number.isInteger(blockSize) || blockSize <= TAIL_SIZE) {
      throw new RangeError(`pgzip block size must be an integer above ${TAIL_SIZE}`);
    }
    this.flate = new KlauspostFlateWriter(level === -1 ? 5 : level, version);
    this.flate.resetDict(null);
  }

  /** Compresses `b`; output is ready for {@link PgzipDeflater.take} as windows fill. */
  write(b: Uint8Array): void {
    if (this.closed) throw new Error('pgzip deflater written after close');
    for (let at = 0; at < b.length; ) {
      const n = Math.min(b.length - at, this.blockSize - this.filled);
      const piece = b.subarray(at, at + n);
      this.flate.write(piece);
      this.keepTail(piece);
      this.filled += n;
      at += n;
      if (this.filled === this.blockSize) {
        this.flate.flush();
        this.tail.set(this.ring.subarray(this.ringAt));
        this.tail.set(this.ring.subarray(0, this.ringAt), TAIL_SIZE - this.ringAt);
        this.flate.resetDict(this.tail);
        this.filled = 0;
      }
    }
  }

  /** Ends the stream: the last block (empty when the input filled the one before). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.flate.flush();
    this.flate.close();
  }

  /** The output written since the last call, or `undefined` when there is none. */
  take(): Uint8Array | undefined {
    return this.flate.take();
  }

  /** Keeps the last {@link TAIL_SIZE} bytes written, in a ring (each byte copied once). */
  private keepTail(piece: Uint8Array): void {
    const last = piece.subarray(Math.max(0, piece.length - TAIL_SIZE));
    const first = Math.min(last.length, TAIL_SIZE - this.ringAt);
    this.ring.set(last.subarray(0, first), this.ringAt);
    this.ring.set(last.subarray(first), 0);
    this.ringAt = (this.ringAt + last.length) % TAIL_SIZE;
  }
}
