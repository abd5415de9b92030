/**
 * A compact in-memory map from chunk digests to small integers, for stores that must know
 * which chunks they hold without a file per chunk. Keys are the first 128 bits of a SHA-256
 * digest: collisions are out of reach even for an attacker choosing chunks (a second
 * preimage of 128 bits), and readers verify every chunk against its full digest anyway.
 *
 * Open addressing with linear probing in one `Uint32Array`: 20 bytes a slot (four key words
 * and the value), at most three quarters full, so about 27 to 53 bytes per digest. A key's
 * home slot is a hash of all four words under multipliers drawn at random per table: the
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

/** A map from SHA-256 digests (32 raw bytes) to unsigned 31-bit integers. */
export class DigestTable {
  private slots: Uint32Array;
  private used = 0;
  /** Odd multipliers of the home hash, one per key word. */
  private readonly m: Uint32Array;

  /**
   * @param capacity - digests expected (the table grows past it as needed).
   * @param multipliers - the home hash's four multipliers; random odd ones by default. Tests
   * pass fixed ones to make keys collide on purpose.
   */
  constructor(capacity = 1024, multipliers?: ArrayLike<number>) {
    let n = 16;
    while (n * 0.75 < capacity) n *= 2;
    this.slots = new Uint32Array(n * WORDS).fill(EMPTY);
    if (multipliers) {
      this.m = Uint32Array.from(multipliers);
    } else {
      this.m = crypto.getRandomValues(new Uint32Array(4));
      for (let i = 0; i < 4; i++) this.m[i] = this.m[i]! | 1;
    }
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

  /**
   * The home slot of the key in `k[o]` to `k[o + 3]`, in a table of `mask + 1` slots (a power
   * of two): multiply-shift over the four words, the top bits of the sum.
   */
  private home(k: ArrayLike<number>, o: number, mask: number): number {
    const m = this.m;
    const sum =
      (Math.imul(k[o]!, m[0]!) +
        Math.imul(k[o + 1]!, m[1]!) +
        Math.imul(k[o + 2]!, m[2]!) +
        Math.imul(k[o + 3]!, m[3]!)) >>>
      0;
    return sum >>> Math.clz32(mask);
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
