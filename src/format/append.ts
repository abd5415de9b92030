/**
 * Growing a byte buffer that frames arrive into piece by piece.
 *
 * @module
 */

/**
 * Appends `b` to `a`, reusing spare capacity of `a`'s buffer and doubling it when full, so that
 * a frame arriving in many tiny pieces costs linear, not quadratic, copying.
 */
export function appendBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const end = a.byteOffset + a.length;
  if (a.byteOffset === 0 && a.buffer.byteLength - end >= b.length && ownsBuffer.has(a.buffer)) {
    const out = new Uint8Array(a.buffer, 0, a.length + b.length);
    out.set(b, a.length);
    return out;
  }
  const grown = new Uint8Array(Math.max(2 * (a.length + b.length), 4096));
  ownsBuffer.add(grown.buffer);
  grown.set(a);
  grown.set(b, a.length);
  return grown.subarray(0, a.length + b.length);
}
const ownsBuffer = new WeakSet<ArrayBufferLike>();
