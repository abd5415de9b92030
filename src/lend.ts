/**
 * Buffers lent to a pipeline: a source that wants its read buffers back (to reuse them, so
 * that a long conversion does not leave a gigabyte of released buffers for the garbage
 * collector) lends each one, and the stage that is provably the last to read it gives it back.
 *
 * In a conversion that stage is the body chunker: it copies every byte it keeps, and the
 * stages before it finish with one input piece before they start the next, so when the
 * chunker sees a piece of another lent buffer, the previous one is free. Views of buffers that
 * are not lent (the tokenizer's own padding buffer, a shared empty array) say nothing about
 * where the input is, and are ignored. With gzip input the tar comes out of the decoder, and
 * the lent buffers hold compressed bytes: the `./node` entry's `nodeGunzip` gives those back
 * once zlib is done with them; other decoders keep nothing back. A buffer nobody gives
 * back is simply garbage, as if it had not been lent. The argument holds for the conversion
 * pipelines as built (`convert`, `createConverter`, `createDiff`, with a hash provider whose
 * `update` is done with the bytes when it settles, as every provider here is); a stream that
 * hands its pieces to anything else as well (a `tee()` branch) must not lend them.
 *
 * @module
 */

const lenders = new WeakMap<ArrayBufferLike, (buffer: ArrayBuffer) => void>();

/**
 * Lends a buffer to the pipeline it is about to enter.
 * @param buffer - the buffer behind the bytes the source emits.
 * @param giveBack - called once, when the last stage that reads it is done.
 */
export function lend(buffer: ArrayBuffer, giveBack: (buffer: ArrayBuffer) => void): void {
  lenders.set(buffer, giveBack);
}

/** Tells whether a buffer is out on loan (lent and not given back yet). */
export function isLent(buffer: ArrayBufferLike): boolean {
  return lenders.has(buffer);
}

/**
 * Gives a lent buffer back to its source (a no-op for any other buffer). The caller must not
 * read it, or any view of it, afterwards.
 * @param buffer - the buffer behind a view the caller was handed.
 */
export function giveBack(buffer: ArrayBufferLike): void {
  const back = lenders.get(buffer);
  if (!back) return;
  lenders.delete(buffer);
  back(buffer as ArrayBuffer);
}
