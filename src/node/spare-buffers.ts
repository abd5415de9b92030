/**
 * Copies for worker threads in buffers they handed back. A thread given a fresh buffer per
 * piece leaves it as garbage its collector is slow to reach; handing each buffer back and
 * copying into it again keeps a few in use instead.
 *
 * @module
 */

/**
 * A copy of `bytes` at the start of a buffer from `spares` (the first with room for
 * `capacity` bytes, taken out of the list), or of a new one: a power of two, at least 64 KiB.
 * @param spares - buffers handed back, for reuse.
 * @param bytes - what to copy.
 * @param capacity - the room the buffer must have (the copy may grow into it later).
 * @returns a view of the buffer holding the copy, ready to transfer.
 */
export function copyIntoSpare(
  spares: ArrayBuffer[],
  bytes: Uint8Array,
  capacity = bytes.length,
): Uint8Array {
  const i = spares.findIndex((b) => b.byteLength >= capacity);
  let size = 64 * 1024;
  while (size < capacity) size *= 2;
  const buffer = i >= 0 ? spares.splice(i, 1)[0]! : new ArrayBuffer(size);
  const copy = new Uint8Array(buffer, 0, bytes.length);
  copy.set(bytes);
  return copy;
}
