/**
 * A compact in-memory map from chunk digests to small integers, for stores that must know
 * which chunks they hold without a file per chunk. Keys are whole SHA-256 digests: a digest an
 * index or diff names is outside input, and one forged to share a stored chunk's first bits
 * must be another key.
 *
 * Entries (eight key words and the value, 36 bytes) are kept densely, in pages of 4,096 that
 * are added as the table fills, so it never copies them to grow; an open-addressing index of
 * 4-byte slots, at most three quarters full, points at them (linear probing). About 41 to 47
 * bytes per digest, where one array of 36-byte slots took 48 to 96 and, while it doubled,
 * half as much again: for 200,000 digests, 19 MB, and 28 MB while it grew, against 9 MB now
 * (computed from these sizes; the measured effect is in the README). A key's home slot is a hash of all eight words under keys drawn at random per
 * table: the
 * digests in a store's index files are outside input, and digests chosen to share a home
 * (say, the same first word) would otherwise make every insert walk one probe chain, so that
 * loading a hostile index of 80,000 entries took 14 s, and one of the largest allowed, hours.
 *
 * @module
 */

/** Words of a key, and of an entry (the key, then the value). */
const KEY_WORDS = 8;
const WORDS = 9;
const VALUE = 8;
/** An empty slot (entries are numbered from 0). */
const EMPTY = 0xffffffff;
const MAX_SLOTS = 2 ** 30;
/** Entries a page holds (a power of two). */
const PAGE_BITS = 12;
const PAGE = 1 << PAGE_BITS;

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
  /** Entry numbers, or EMPTY. */
  private slots: Uint32Array;
  /** The entries, `PAGE` to a page: entry e at `pages[e >> PAGE_BITS]`, word `(e % PAGE) * WORDS`. */
  private readonly pages: Uint32Array[] = [];
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
    this.slots = new Uint32Array(n).fill(EMPTY);
    this.hash = hash ?? keyedHash(crypto.getRandomValues(new Uint32Array(KEY_WORDS + 1)));
  }

  /** The page that holds entry `e` (its words start at `(e % PAGE) * WORDS`). */
  private page(e: number): Uint32Array {
    return this.pages[e >>> PAGE_BITS]!;
  }

  /** The home slot of the key at `k[o]`, in `mask + 1` slots (a power of two). */
  private home(k: ArrayLike<number>, o: number, mask: number): number {
    return this.hash(k, o) >>> Math.clz32(mask);
  }

  /** The home of entry `e` in slots of `mask + 1`. */
  private homeOf(e: number, mask: number): number {
    return this.home(this.page(e), (e & (PAGE - 1)) * WORDS, mask);
  }

  /** The longest distance of an entry from its home slot (for tests). */
  longestProbe(): number {
    const s = this.slots;
    const mask = s.length - 1;
    let longest = 0;
    for (let i = 0; i <= mask; i++) {
      if (s[i] === EMPTY) continue;
      longest = Math.max(longest, (i - this.homeOf(s[i]!, mask)) & mask);
    }
    return longest;
  }

  /** Digests held. */
  get size(): number {
    return this.used;
  }

  /** The value of `digest`, or -1 when it is absent. */
  get(digest: Uint8Array): number {
    const i = this.find(keyOf(digest));
    if (i < 0) return -1;
    const e = this.slots[i]!;
    return this.page(e)[(e & (PAGE - 1)) * WORDS + VALUE]!;
  }

  /** Sets the value of `digest`. @throws RangeError for a value that is not 0 to 2^31 - 1. */
  set(digest: Uint8Array, value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
      throw new RangeError(`DigestTable value out of range: ${value}`);
    }
    const key = keyOf(digest);
    const i = this.find(key);
    if (i >= 0) {
      const e = this.slots[i]!;
      this.page(e)[(e & (PAGE - 1)) * WORDS + VALUE] = value;
      return;
    }
    if ((this.used + 1) * 4 > this.slots.length * 3) this.grow();
    const e = this.used;
    if (e >>> PAGE_BITS === this.pages.length) this.pages.push(new Uint32Array(PAGE * WORDS));
    const page = this.page(e);
    const at = (e & (PAGE - 1)) * WORDS;
    page.set(key, at);
    page[at + VALUE] = value;
    this.place(e, this.slots);
    this.used++;
  }

  /** Removes `digest`; tells whether it was there. */
  delete(digest: Uint8Array): boolean {
    const s = this.slots;
    let hole = this.find(keyOf(digest));
    if (hole < 0) return false;
    const gone = s[hole]!;
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    const mask = s.length - 1;
    for (let i = (hole + 1) & mask; s[i] !== EMPTY; i = (i + 1) & mask) {
      const home = this.homeOf(s[i]!, mask);
      // Move the entry at i into the hole unless its home lies cyclically in (hole, i].
      const inRange = hole <= i ? home > hole && home <= i : home > hole || home <= i;
      if (inRange) continue;
      s[hole] = s[i]!;
      hole = i;
    }
    s[hole] = EMPTY;
    // The last entry moves into the one removed, so that entries stay dense.
    const last = --this.used;
    if (gone !== last) {
      const from = this.page(last);
      const at = (last & (PAGE - 1)) * WORDS;
      this.page(gone).set(from.subarray(at, at + WORDS), (gone & (PAGE - 1)) * WORDS);
      let i = this.homeOf(gone, mask);
      while (s[i] !== last) i = (i + 1) & mask;
      s[i] = gone;
    }
    if (this.pages.length > (this.used >>> PAGE_BITS) + 1) this.pages.pop();
    return true;
  }

  /** The slot of `key`, or -1. */
  private find(key: ArrayLike<number>): number {
    const s = this.slots;
    const mask = s.length - 1;
    for (let i = this.home(key, 0, mask); ; i = (i + 1) & mask) {
      const e = s[i]!;
      if (e === EMPTY) return -1;
      const page = this.page(e);
      const at = (e & (PAGE - 1)) * WORDS;
      let same = true;
      for (let w = 0; w < KEY_WORDS && same; w++) same = page[at + w] === key[w];
      if (same) return i;
    }
  }

  /** Puts entry `e` in its slot (the first free one from its home). */
  private place(e: number, s: Uint32Array): void {
    const mask = s.length - 1;
    let i = this.homeOf(e, mask);
    while (s[i] !== EMPTY) i = (i + 1) & mask;
    s[i] = e;
  }

  private grow(): void {
    const n = this.slots.length * 2;
    if (n > MAX_SLOTS) throw new RangeError('DigestTable is full');
    const next = new Uint32Array(n).fill(EMPTY);
    for (let e = 0; e < this.used; e++) this.place(e, next);
    this.slots = next;
  }
}
