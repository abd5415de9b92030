/**
 * Hashes of digests under secret keys, for tables keyed by digests that come from outside
 * (indexes, diffs): keys drawn at random per table, so that distinct digests chosen to share a
 * home slot (the same first word, say) are no more likely to than any others.
 *
 * @module
 */

/** Words of a SHA-256 digest. */
export const KEY_WORDS = 8;

/** A 32-bit hash of the eight words of a digest at `k[0]` to `k[7]`. */
export type KeyHash = (k: Uint32Array) => number;

/** MurmurHash3's finalizer: every input bit reaches every output bit. */
export function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A hash of the eight words under nine secret keys: each word is mixed with its own key, so a
 * word's high bits reach its low ones before the words are combined (a plain sum of products
 * would let keys whose low bits are all zero share a few homes, whatever the keys).
 */
function keyedHash(key: Uint32Array): KeyHash {
  return (k) => {
    let h = key[KEY_WORDS]!;
    for (let w = 0; w < KEY_WORDS; w++) {
      const m = fmix32(k[w]! ^ key[w]!);
      const r = (w * 4) & 31;
      h ^= r === 0 ? m : ((m << r) | (m >>> (32 - r))) >>> 0;
    }
    return fmix32(h);
  };
}

/** A keyed hash under keys drawn at random now. */
export const randomKeyedHash = (): KeyHash =>
  keyedHash(crypto.getRandomValues(new Uint32Array(KEY_WORDS + 1)));

/**
 * Reads the 32-byte digest at `digest[from]` into `words[at]` to `words[at + 7]`, as big-endian
 * words.
 */
export function digestWords(digest: Uint8Array, words: Uint32Array, at = 0, from = 0): void {
  for (let w = 0; w < KEY_WORDS; w++) {
    const i = from + w * 4;
    words[at + w] =
      (digest[i]! << 24) | (digest[i + 1]! << 16) | (digest[i + 2]! << 8) | digest[i + 3]!;
  }
}
