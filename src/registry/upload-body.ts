/**
 * `UploadBody`: a blob being uploaded as it is made, checked against the digest and size it
 * must have, and cut into the request bodies of an upload (one `PUT`, or `PATCH` parts and a
 * last `PUT`). Its very last piece is held back until the digest and size are known, so a blob
 * that does not come out as expected never reaches the registry whole.
 *
 * @module
 */
import { formatDigest } from '../hash/digest.js';
import type { IncrementalHash } from '../hash/types.js';

/** A blob that did not come out as expected: its digest (when known) and its size. */
export class UnexpectedBlob extends Error {
  constructor(
    readonly digest: string,
    readonly size: number,
  ) {
    super(`the blob came out as ${digest || 'more bytes than expected'} (${size} bytes)`);
  }
}

/** A blob's stream, checked as it is read, handed out as request bodies. */
export class UploadBody {
  /** Why the blob failed: {@link UnexpectedBlob}, or the source's own error. */
  failure: unknown;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  /** Bytes read from the source (all hashed). */
  private read = 0;
  /** Read, not yet handed out (the rest of a piece cut at a part's end). */
  private carry: Uint8Array | undefined;
  /** The last piece read, in the final part, handed out only when the next read ends. */
  private held: Uint8Array | undefined;
  /** Hashing the rest of a source that turned out longer than expected. */
  private draining: Promise<void> | undefined;
  /** {@link cancel} was called: the source's end is not the blob's. */
  private givenUp = false;
  /** Bytes handed out in request bodies. */
  sent = 0;
  /** Bytes at the source's start still to be hashed but not handed out. */
  private skip: number;

  /**
   * @param source - the blob's bytes.
   * @param hash - a fresh incremental hash.
   * @param digest - the digest it must have.
   * @param size - the size it must have.
   * @param from - where the bodies start: the bytes before are hashed, not handed out (an
   * upload resumed there).
   */
  constructor(
    source: ReadableStream<Uint8Array>,
    private readonly hash: IncrementalHash,
    private readonly digest: string,
    private readonly size: number,
    from = 0,
  ) {
    this.reader = source.getReader();
    this.skip = from;
  }

  /** Settles once a failure is fully known (an over-long source hashed to its end). */
  async settled(): Promise<void> {
    await this.draining;
  }

  /** Gives up the source (the upload failed otherwise); reads that end after it mean nothing. */
  cancel(reason: unknown): Promise<void> {
    this.givenUp = true;
    return this.reader.cancel(reason).catch(() => {});
  }

  /**
   * The body of one request: the next `length` bytes of the blob; with `final`, the rest,
   * which must be `length` bytes and end the blob as expected. Read one at a time, in order.
   * A body whose request went (it was cancelled) stops reading, and what it read is not sent.
   */
  part(length: number, final: boolean): ReadableStream<Uint8Array> {
    let given = 0;
    let cancelled = false;
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          try {
            for (;;) {
              if (!final && given === length) {
                controller.close();
                return;
              }
              let piece = await this.next();
              if (cancelled || this.givenUp) return;
              if (piece === undefined) {
                const got = formatDigest(await this.hash.digest());
                if (!final || got !== this.digest || this.read !== this.size) {
                  throw new UnexpectedBlob(got, this.read);
                }
                if (cancelled) return;
                if (this.held) this.give(controller, this.held);
                controller.close();
                return;
              }
              if (!final) {
                if (given + piece.length > length) {
                  this.carry = piece.subarray(length - given);
                  piece = piece.subarray(0, length - given);
                }
                given += piece.length;
                this.give(controller, piece);
                return;
              }
              const previous = this.held;
              this.held = piece;
              if (previous) {
                this.give(controller, previous);
                return;
              }
            }
          } catch (err) {
            if (cancelled || this.givenUp) return;
            this.failure ??= err;
            controller.error(err);
            if (!(err instanceof UnexpectedBlob) || err.digest !== '') {
              await this.reader.cancel(err).catch(() => {});
            }
          }
        },
        cancel: () => {
          cancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
  }

  /**
   * Reads and hashes the source up to `from` (the bytes a resumed upload's registry holds),
   * before any body is asked for.
   */
  async skipHeld(): Promise<void> {
    if (this.skip === 0 || this.carry) return;
    const piece = await this.next();
    if (piece !== undefined) this.carry = piece;
  }

  private give(controller: ReadableStreamDefaultController<Uint8Array>, piece: Uint8Array) {
    this.sent += piece.length;
    controller.enqueue(piece);
  }

  /**
   * The next piece of the blob to hand out (past `from`), or undefined at its end; throws past
   * the expected size.
   */
  private async next(): Promise<Uint8Array | undefined> {
    if (this.carry) {
      const piece = this.carry;
      this.carry = undefined;
      return piece;
    }
    for (;;) {
      const r = await this.reader.read();
      if (r.done) return undefined;
      this.read += r.value.length;
      await this.hash.update(r.value);
      if (this.read > this.size) {
        // Hash the rest, to say what the blob was, while the request is cut off.
        const over = new UnexpectedBlob('', this.read);
        this.failure = over;
        this.draining = this.drain();
        throw over;
      }
      if (this.skip >= r.value.length) {
        this.skip -= r.value.length;
        continue;
      }
      const piece = this.skip > 0 ? r.value.subarray(this.skip) : r.value;
      this.skip = 0;
      return piece;
    }
  }

  private async drain(): Promise<void> {
    try {
      for (;;) {
        const r = await this.reader.read();
        if (r.done) break;
        this.read += r.value.length;
        await this.hash.update(r.value);
      }
      this.failure = new UnexpectedBlob(formatDigest(await this.hash.digest()), this.read);
    } catch (err) {
      this.failure = err;
    }
  }
}
