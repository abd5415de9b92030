/**
 * A compact in-memory map from chunk digests to small integers, for stores that must know
 * which chunks they hold without a file per chunk. Keys are whole SHA-256 digests: a digest an
 * index or diff names is outside input, and one forged to share a stored chunk's first bits
 * must be another key.
 *
 * Open addressing with linear probing in one `Uint32Array`: 36 bytes a slot (eight key words
 * and the value), at most three quarters full, so about 48 to 96 bytes per digest. A key's
 * home slot is a hash of all eight words under keys drawn at random per table: the
 * digests in a store's index files are outside input, and digests chosen to share a home
 * (say, the same first word) would otherwise make every insert walk one probe chain, so that
 * loading a hostile index of 80,000 entries took 14 s, and one of the largest allowed, hours.
 *
 * @module
 */

/** Words of a key, and of a slot (the key, then the value). */
const KEY_WORDS = 8;
const WORDS = 9;
const VALUE = 8;
const EMPTY = 0xffffffff;
const MAX_SLOTS = 2 ** 30;

/** Reads the eight big-endian words of a digest. */
function keyOf(digest: Uint8Array): ArrayLike<number> {
  const key = new Uint32Array(KEY_WORDS);
  for (let w = 0; w < KEY_WORDS; w++) {
    const i = w * 4;
    key[w] =
      ((digest[i]! << 24) | (digest[i + 1]! << 16) | (digest[i + 2]! << 8) | digest[i + 3]!) >>> 0;
  }
  return key;
}

/** A 32-bit hash of the eight key words at `k[o]` to `k[o + 7]`. */
export type KeyHash = (k: ArrayLike<number>, o: number) => number;

/** MurmurHash3's finalizer: every input bit reaches every output bit. */
function fmix32(h: number): number {
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
  return (k, o) => {
    let h = key[KEY_WORDS]!;
    for (let w = 0; w < KEY_WORDS; w++) {
      const m = fmix32(k[o + w]! ^ key[w]!);
      const r = (w * 4) & 31;
      h ^= r === 0 ? m : ((m << r) | (m >>> (32 - r))) >>> 0;
    }
    return fmix32(h);
  };
}

/** A map from SHA-256 digests (32 raw bytes) to unsigned 31-bit integers. */
export class DigestTable {
  private slots: Uint32Array;
  private used = 0;
  /** The 32-bit hash a key's home slot is taken from (its top bits). */
  private readonly hash: KeyHash;

  /**
   * @param capacity - digests expected (the table grows past it as needed).
   * @param hash - the hash of a key's eight words (at `k[o]` to `k[o + 7]`) that homes it; a
   * keyed mix under random keys by default. Tests pass a weak one to make keys collide.
   */
  constructor(capacity = 1024, hash?: KeyHash) {
    let n = 16;
    while (n * 0.75 < capacity) n *= 2;
    this.slots = new Uint32Array(n * WORDS).fill(EMPTY);
    this.hash = hash ?? keyedHash(crypto.getRandomValues(new Uint32Array(KEY_WORDS + 1)));
  }

  /** The home slot of the key at `k[o]`, in a table of `mask + 1` slots (a power of two). */
  private home(k: ArrayLike<number>, o: number, mask: number): number {
    return this.hash(k, o) >>> Math.clz32(mask);
  }

  /** Diagnostics: the farthest any key sits from its home slot (0 when none probes). */
  longestProbe(): number {
    const s = this.slots;
    const mask = s.length / WORDS - 1;
    let longest = 0;
    for (let i = 0; i <= mask; i++) {
      if (s[i * WORDS + VALUE] === EMPTY) continue;
      longest = Math.max(longest, (i - this.home(s, i * WORDS, mask)) & mask);
    }
    return longest;
  }

  /** How many digests the table holds. */
  get size(): number {
    return this.used;
  }

  /** The value stored for a digest, or -1. */
  get(digest: Uint8Array): number {
    const at = this.find(keyOf(digest), this.slots);
    return at < 0 ? -1 : this.slots[at + VALUE]!;
  }

  /** Stores (or replaces) the value of a digest. @param value - 0 to 2^31 - 1. */
  set(digest: Uint8Array, value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
      throw new RangeError(`DigestTable value out of range: ${value}`);
    }
    const key = keyOf(digest);
    const at = this.find(key, this.slots);
    if (at >= 0) {
      this.slots[at + VALUE] = value;
      return;
    }
    if ((this.used + 1) * 4 > (this.slots.length / WORDS) * 3) this.grow();
    this.insert(key, value, this.slots);
    this.used++;
  }

  /** Removes a digest; returns whether it was there. */
  delete(digest: Uint8Array): boolean {
    const s = this.slots;
    let at = this.find(keyOf(digest), s);
    if (at < 0) return false;
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    const mask = s.length / WORDS - 1;
    let hole = at / WORDS;
    let i = hole;
    for (;;) {
      i = (i + 1) & mask;
      at = i * WORDS;
      if (s[at + VALUE] === EMPTY) break;
      const home = this.home(s, at, mask);
      // Move the entry at i into the hole unless its home lies cyclically in (hole, i].
      const inRange = hole <= i ? home > hole && home <= i : home > hole || home <= i;
      if (inRange) continue;
      s.copyWithin(hole * WORDS, at, at + WORDS);
      hole = i;
    }
    s.fill(EMPTY, hole * WORDS, hole * WORDS + WORDS);
    this.used--;
    return true;
  }

  private find(key: ArrayLike<number>, s: Uint32Array): number {
    const mask = s.length / WORDS - 1;
    for (let i = this.home(key, 0, mask); ; i = (i + 1) & mask) {
      const at = i * WORDS;
      if (s[at + VALUE] === EMPTY) return -1;
      let same = true;
      for (let w = 0; w < KEY_WORDS && same; w++) same = s[at + w] === key[w];
      if (same) return at;
    }
  }

  private insert(key: ArrayLike<number>, value: number, s: Uint32Array): void {
    const mask = s.length / WORDS - 1;
    let i = this.home(key, 0, mask);
    while (s[i * WORDS + VALUE] !== EMPTY) i = (i + 1) & mask;
    s.set(key, i * WORDS);
    s[i * WORDS + VALUE] = value;
  }

  private grow(): void {
    const old = this.slots;
    const n = (old.length / WORDS) * 2;
    if (n > MAX_SLOTS) throw new RangeError('DigestTable is full');
    const next = new Uint32Array(n * WORDS).fill(EMPTY);
    for (let at = 0; at < old.length; at += WORDS) {
      if (old[at + VALUE] !== EMPTY)
        this.insert(old.subarray(at, at + KEY_WORDS), old[at + VALUE]!, next);
    }
    this.slots = next;
  }
}
