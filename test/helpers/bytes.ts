/** Byte-array utilities and deterministic byte generators for tests. */

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A xorshift32 generator (shifts 13, 17, 5) started from `seed`; each call returns the next
 * state as an unsigned 32-bit integer. The seed is used as given, so it must be non-zero.
 */
export function xorshift32(seed: number): () => number {
  let s = seed;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

/**
 * Deterministic pseudo-random bytes (xorshift32, so failures reproduce): each byte is the low
 * (default) or high byte of the next state. A zero seed is taken as 1.
 */
export function pseudoRandom(n: number, seed: number, byte: 'low' | 'high' = 'low'): Uint8Array {
  const next = xorshift32(seed >>> 0 || 1);
  const out = new Uint8Array(n);
  const shift = byte === 'high' ? 24 : 0;
  for (let i = 0; i < n; i++) out[i] = next() >>> shift;
  return out;
}

/**
 * Deterministic bytes from a linear congruential generator (glibc's multiplier and increment,
 * modulo 2^32): each byte is the high byte of the next state.
 */
export function lcgBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/**
 * Whether two byte arrays hold the same bytes. Fast on large arrays, where `toEqual` compares
 * element by element (seconds for megabytes).
 */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/**
 * Where two byte arrays first differ (the shorter one's length when one is a prefix of the
 * other), or -1 when they hold the same bytes: for asserting on large outputs with a failure
 * message that says where.
 */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (sameBytes(a, b)) return -1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** Words from a small vocabulary: text that compresses, with matches of every length. */
export function text(n: number, seed: number): Uint8Array {
  const words = ['layer', 'chunk', 'tar', 'digest', 'sha256', 'the', 'of', 'a', 'image', '\n'];
  const next = xorshift32(seed);
  let s = '';
  while (s.length < n) s += `${words[next() % words.length]} `;
  return new TextEncoder().encode(s.slice(0, n));
}
