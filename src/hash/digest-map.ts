/**
 * A map from SHA-256 digests to numbers (a chunk's length, say) in typed arrays: for each
 * entry, its digest and value (40 bytes) in pages, behind an open-addressing index of 4-byte
 * slots at most three quarters full. 45 to 51 bytes an entry, where a `Map` keyed by digest
 * strings took about 130 on the heap. Digests come from outside (indexes, diffs), so a
 * digest's home slot comes from a keyed hash under keys chosen at random per map: see
 * `keyed-hash.ts`.
 *
 * @module
 */
import { digestWords, KEY_WORDS, type KeyHash, randomKeyedHash } from './keyed-hash.js';

/** An empty slot. */
const EMPTY = 0xffffffff;
const MAX_SLOTS = 2 ** 30;
/** Entries a page holds (a power of two). */
const PAGE_BITS = 12;
const PAGE = 1 << PAGE_BITS;

/** Digests to numbers: see the module comment. Entries are never removed. */
export class DigestMap {
  /** Entry numbers, or EMPTY. */
  private slots = new Uint32Array(16).fill(EMPTY);
  /** Entry e's words at `pages[e >> PAGE_BITS]`, from `(e % PAGE) * KEY_WORDS`. */
  private readonly pages: Uint32Array[] = [];
  /** Entry e's value at `values[e >> PAGE_BITS][e % PAGE]`. */
  private readonly values: Float64Array[] = [];
  private count = 0;
  /** The digest being looked up, as words. */
  private readonly key = new Uint32Array(KEY_WORDS);
  private readonly hash: KeyHash;

  /** @param hash - a keyed mix under random keys by default; tests pass a weak one. */
  constructor(hash: KeyHash = randomKeyedHash()) {
    this.hash = hash;
  }

  /** Entries held. */
  get size(): number {
    return this.count;
  }

  /** The value of `digest` (32 bytes), or undefined when it is not held. */
  get(digest: Uint8Array): number | undefined {
    const i = this.find(digest);
    const e = this.slots[i]!;
    return e === EMPTY ? undefined : this.values[e >>> PAGE_BITS]![e & (PAGE - 1)];
  }

  /** Tells whether `digest` is held. */
  has(digest: Uint8Array): boolean {
    return this.slots[this.find(digest)] !== EMPTY;
  }

  /**
   * Adds `digest` with `value`, unless it is held already: the first value stays.
   * @returns whether it was added.
   */
  add(digest: Uint8Array, value: number): boolean {
    if ((this.count + 1) * 4 > this.slots.length * 3) this.grow();
    const i = this.find(digest);
    if (this.slots[i] !== EMPTY) return false;
    const e = this.count++;
    if (e >>> PAGE_BITS === this.pages.length) {
      this.pages.push(new Uint32Array(PAGE * KEY_WORDS));
      this.values.push(new Float64Array(PAGE));
    }
    this.page(e).set(this.key, (e & (PAGE - 1)) * KEY_WORDS);
    this.values[e >>> PAGE_BITS]![e & (PAGE - 1)] = value;
    this.slots[i] = e;
    return true;
  }

  /** The slot that holds `digest`, or the empty slot where it would go; leaves it in `key`. */
  private find(digest: Uint8Array): number {
    if (digest.length !== KEY_WORDS * 4) {
      throw new RangeError(`a DigestMap key must be ${KEY_WORDS * 4} bytes: ${digest.length}`);
    }
    digestWords(digest, this.key);
    const s = this.slots;
    const mask = s.length - 1;
    let i = this.hash(this.key) >>> Math.clz32(mask);
    for (; s[i] !== EMPTY; i = (i + 1) & mask) {
      const e = s[i]!;
      const words = this.page(e);
      const at = (e & (PAGE - 1)) * KEY_WORDS;
      let w = 0;
      while (w < KEY_WORDS && words[at + w] === this.key[w]) w++;
      if (w === KEY_WORDS) return i;
    }
    return i;
  }

  /** The page of words that holds entry `e`. */
  private page(e: number): Uint32Array {
    return this.pages[e >>> PAGE_BITS]!;
  }

  private grow(): void {
    const n = this.slots.length * 2;
    if (n > MAX_SLOTS) throw new RangeError('DigestMap is full');
    const next = new Uint32Array(n).fill(EMPTY);
    const mask = n - 1;
    for (let e = 0; e < this.count; e++) {
      const words = this.page(e);
      const at = (e & (PAGE - 1)) * KEY_WORDS;
      let i = this.hash(words.subarray(at, at + KEY_WORDS)) >>> Math.clz32(mask);
      while (next[i] !== EMPTY) i = (i + 1) & mask;
      next[i] = e;
    }
    this.slots = next;
  }
}
