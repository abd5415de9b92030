/**
 * A compact in-memory map from chunk digests to small integers, for stores that must know
 * which chunks they hold without a file per chunk. Keys are the first 128 bits of a SHA-256
 * digest: two chunks' digests never share them (that takes a second preimage of 128 bits),
 * but a digest an index or diff merely names can be forged to share a stored chunk's first
 * half, so a store keeps the other half beside the value and compares it (PackStore does).
 *
 * Open addressing with linear probing in one `Uint32Array`: 20 bytes a slot (four key words
 * and the value), at most three quarters full, so about 27 to 53 bytes per digest. A key's
 * home slot is a hash of all four words under keys drawn at random per table: the
 * digests in a store's index files are outside input, and digests chosen to share a home
 * (say, the same first word) would otherwise make every insert walk one probe chain, so that
 * loading a hostile index of 80,000 entries took 14 s, and one of the largest allowed, hours.
 *
 * @module
 */

const WORDS = 5;
const EMPTY = 0xffffffff;
const MAX_SLOTS = 2 ** 30;

/** Reads the four big-endian words of a digest's first 16 bytes. */
function keyOf(digest: Uint8Array): ArrayLike<number> {
  const w = (i: number) =>
    ((digest[i]! << 24) | (digest[i + 1]! << 16) | (digest[i + 2]! << 8) | digest[i + 3]!) >>> 0;
  return [w(0), w(4), w(8), w(12)];
}

/** A 32-bit hash of the four key words at `k[o]` to `k[o + 3]`. */
export type KeyHash = (k: ArrayLike<number>, o: number) => number;

/** MurmurHash3's finalizer: every input bit reaches every output bit. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A hash of the four words under five secret keys: each word is mixed with its own key, so a
 * word's high bits reach its low ones before the words are combined (a plain sum of products
 * would let keys whose low bits are all zero share a few homes, whatever the keys).
 */
function keyedHash(key: Uint32Array): KeyHash {
  const [k0, k1, k2, k3, k4] = key as unknown as [number, number, number, number, number];
  return (k, o) => {
    const a = fmix32(k[o]! ^ k0);
    const b = fmix32(k[o + 1]! ^ k1);
    const c = fmix32(k[o + 2]! ^ k2);
    const d = fmix32(k[o + 3]! ^ k3);
    return fmix32(
      a ^ ((b << 8) | (b >>> 24)) ^ ((c << 16) | (c >>> 16)) ^ ((d << 24) | (d >>> 8)) ^ k4,
    );
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
   * @param hash - the hash of a key's four words (at `k[o]` to `k[o + 3]`) that homes it; a
   * keyed mix under random keys by default. Tests pass a weak one to make keys collide.
   */
  constructor(capacity = 1024, hash?: KeyHash) {
    let n = 16;
    while (n * 0.75 < capacity) n *= 2;
    this.slots = new Uint32Array(n * WORDS).fill(EMPTY);
    this.hash = hash ?? keyedHash(crypto.getRandomValues(new Uint32Array(5)));
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
      if (s[i * WORDS + 4] === EMPTY) continue;
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
    return at < 0 ? -1 : this.slots[at + 4]!;
  }

  /** Stores (or replaces) the value of a digest. @param value - 0 to 2^31 - 1. */
  set(digest: Uint8Array, value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
      throw new RangeError(`DigestTable value out of range: ${value}`);
    }
    const key = keyOf(digest);
    const at = this.find(key, this.slots);
    if (at >= 0) {
      this.slots[at + 4] = value;
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
      if (s[at + 4] === EMPTY) break;
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
      if (s[at + 4] === EMPTY) return -1;
      if (
        s[at] === key[0] &&
        s[at + 1] === key[1] &&
        s[at + 2] === key[2] &&
        s[at + 3] === key[3]
      ) {
        return at;
      }
    }
  }

  private insert(key: ArrayLike<number>, value: number, s: Uint32Array): void {
    const mask = s.length / WORDS - 1;
    let i = this.home(key, 0, mask);
    while (s[i * WORDS + 4] !== EMPTY) i = (i + 1) & mask;
    s.set(key, i * WORDS);
    s[i * WORDS + 4] = value;
  }

  private grow(): void {
    const old = this.slots;
    const n = (old.length / WORDS) * 2;
    if (n > MAX_SLOTS) throw new RangeError('DigestTable is full');
    const next = new Uint32Array(n * WORDS).fill(EMPTY);
    for (let at = 0; at < old.length; at += WORDS) {
      if (old[at + 4] !== EMPTY) this.insert(old.subarray(at, at + 4), old[at + 4]!, next);
    }
    this.slots = next;
  }
}
