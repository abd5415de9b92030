/**
 * The chunk records a pack store knows of, in memory, without their digests or places: for
 * each record, a 32-bit fingerprint of its digest and its entry in its pack's index, 8 bytes,
 * behind an open-addressing index of 4-byte slots at most three quarters full (a record's home
 * slot is the top bits of its fingerprint). Its pack is kept once per run of records added
 * one after another to one pack, as a store adds them (a pack's index as it loads it, then
 * each new chunk to the pack it is writing). About 13 to 19 bytes a record, where a table of
 * whole digests beside the places took 57 to 63.
 *
 * A fingerprint only names candidates: the store confirms one against the digest its pack's
 * index lists for it, and takes the record's place in the pack from that entry too (in memory
 * while the pack is being written, else in a block of the index file, kept for the next
 * records). Digests asked for come from indexes and diffs, outside input, and one forged to
 * share a stored chunk's fingerprint must still be another chunk: hence the confirmation, and
 * hence fingerprints drawn from keyed hashes under keys chosen at random per table, so that
 * distinct digests chosen to share a home slot or a fingerprint (the same first word, say) are
 * no more likely to than any others. (One digest listed again and again always shares its
 * fingerprint: see the limit of `add`.) Without keyed homes, loading a hostile pack index of
 * 80,000 entries took 14 s. By chance, a lookup of an absent chunk finds a candidate when a
 * record of the same home shares the rest of the fingerprint: in a table of a million records
 * (2^21 slots, 11 bits left), about one lookup in 4,000 (by arithmetic), which costs that
 * lookup a confirmation.
 *
 * Two records of one chunk (two writers each stored it) are two entries; a lookup returns
 * both, newest first. Records are numbered densely from 0 in the order they are added;
 * a removed record's number is not reused, but a page of records all removed is let go (a
 * pack store removes each pack's records once the pack is published, so a conversion of
 * 400,000 small files would otherwise keep 3.2 MB of records it had removed).
 *
 * @module
 */
import { digestWords, KEY_WORDS, type KeyHash, randomKeyedHash } from '../hash/keyed-hash.js';

/** Words of a record: fingerprint, entry in its pack's index. */
const WORDS = 2;
const ENTRY = 1;
/** The entry of a removed record. */
const REMOVED = 0xffffffff;
/** An empty slot. */
const EMPTY = 0xffffffff;
const MAX_SLOTS = 2 ** 30;
/** Records a page holds (a power of two). */
const PAGE_BITS = 12;
const PAGE = 1 << PAGE_BITS;

/** Checks an index entry: a u32, but not all ones, which marks a removed record. */
function checkEntry(entry: number): void {
  if (!(entry >= 0 && entry < REMOVED && Number.isInteger(entry))) {
    throw new RangeError(`a chunk record's entry must be an integer from 0 to 2^32 - 2: ${entry}`);
  }
}

/** Chunk records by a fingerprint of their digests: see the module comment. */
export class ChunkTable {
  /** Record numbers, or EMPTY. */
  private slots: Uint32Array;
  /**
   * Record r's words at `words[r >> PAGE_BITS]`, from `(r % PAGE) * WORDS`; a page whose
   * records were all removed is let go (undefined), but the last one.
   */
  private readonly words: (Uint32Array | undefined)[] = [];
  /** Records held on each page. */
  private readonly held: number[] = [];
  private count = 0;
  private live = 0;
  /**
   * Runs of records of one pack: run `i` starts at record `runStart[i]`, and its records (up
   * to the next run's start) are in pack `runPack[i]`.
   */
  private runStart = new Uint32Array(16);
  private runPack = new Uint32Array(16);
  private runs = 0;
  /** The digest being looked up, as words. */
  private readonly key = new Uint32Array(KEY_WORDS);
  private readonly hash: KeyHash;

  /**
   * @param capacity - records expected (the table grows past it as needed).
   * @param hash - the hash of a digest's words that is its fingerprint; a keyed mix under
   *   random keys by default. Tests pass a weak one to make digests collide.
   */
  constructor(capacity = 1024, hash?: KeyHash) {
    let n = 16;
    while (n * 0.75 < capacity) n *= 2;
    this.slots = new Uint32Array(n).fill(EMPTY);
    this.hash = hash ?? randomKeyedHash();
  }

  /** Records held (added and not removed). */
  get size(): number {
    return this.live;
  }

  /**
   * Adds a record, unless `duplicate` says a record held that shares its fingerprint is the
   * same record. When `limit` records already share the fingerprint, the oldest of them gives
   * way: lookups try newer records first, and a chunk stored again (a repair) must not be the
   * one left out.
   * @param limit - records of one fingerprint (one chunk, save for rare collisions) to keep at
   *   most: a store loading indexes from disk passes a small one, since the records of a
   *   fingerprint sit in one run of slots and every lookup of it walks them all (an index that
   *   lists one digest again and again made loading quadratic).
   * @param duplicate - asked of each record held that shares the fingerprint.
   * @returns its number, or -1 when it was a duplicate.
   */
  add(
    digest: Uint8Array,
    pack: number,
    entry: number,
    limit = Number.POSITIVE_INFINITY,
    duplicate?: (record: number) => boolean,
  ): number {
    checkEntry(entry);
    if (!(pack >= 0 && pack <= 0xffffffff && Number.isInteger(pack))) {
      throw new RangeError(`a chunk record's pack must be a u32: ${pack}`);
    }
    if ((this.live + 1) * 4 > this.slots.length * 3) this.grow();
    const fp = this.fingerprint(digest);
    const s = this.slots;
    const mask = s.length - 1;
    let i: number;
    for (;;) {
      // Records of the same fingerprint share its home, so they all lie on the way to a free
      // slot.
      let same = 0;
      let oldest = -1;
      for (i = fp >>> Math.clz32(mask); s[i] !== EMPTY; i = (i + 1) & mask) {
        const q = s[i]!;
        if (this.page(q)[(q & (PAGE - 1)) * WORDS] !== fp) continue;
        if (duplicate?.(q)) return -1;
        same++;
        if (oldest < 0 || q < oldest) oldest = q;
      }
      if (same < limit) break;
      this.remove(oldest);
    }
    const r = this.count++;
    if (r >>> PAGE_BITS === this.words.length) {
      this.words.push(new Uint32Array(PAGE * WORDS));
      this.held.push(0);
      // The page before may have emptied while it was the last.
      this.release(this.words.length - 2);
    }
    this.held[r >>> PAGE_BITS]!++;
    if (this.runs === 0 || this.runPack[this.runs - 1] !== pack) this.startRun(r, pack);
    const words = this.page(r);
    const at = (r & (PAGE - 1)) * WORDS;
    words[at] = fp;
    words[at + ENTRY] = entry;
    s[i] = r;
    this.live++;
    return r;
  }

  /**
   * The records whose fingerprint is that of `digest`, newest first: those of the chunk, and
   * (rarely, or when the digest was forged) of others.
   */
  candidates(digest: Uint8Array): number[] {
    const fp = this.fingerprint(digest);
    const out: number[] = [];
    const s = this.slots;
    const mask = s.length - 1;
    for (let i = fp >>> Math.clz32(mask); ; i = (i + 1) & mask) {
      const r = s[i]!;
      if (r === EMPTY) break;
      if (this.page(r)[(r & (PAGE - 1)) * WORDS] === fp) out.push(r);
    }
    return out.length > 1 ? out.sort((a, b) => b - a) : out;
  }

  /** Tells whether record `r` is held (added and not removed). */
  has(r: number): boolean {
    return (
      r >= 0 &&
      r < this.count &&
      this.words[r >>> PAGE_BITS] !== undefined &&
      this.entry(r) !== REMOVED
    );
  }

  /** Removes record `r` (a no-op when it is not held). */
  remove(r: number): void {
    if (!this.has(r)) return;
    const s = this.slots;
    const mask = s.length - 1;
    let hole = this.homeOf(r, mask);
    while (s[hole] !== r) hole = (hole + 1) & mask;
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    for (let i = (hole + 1) & mask; s[i] !== EMPTY; i = (i + 1) & mask) {
      const home = this.homeOf(s[i]!, mask);
      // Move the record at i into the hole unless its home lies cyclically in (hole, i].
      const inRange = hole <= i ? home > hole && home <= i : home > hole || home <= i;
      if (inRange) continue;
      s[hole] = s[i]!;
      hole = i;
    }
    s[hole] = EMPTY;
    this.page(r)[(r & (PAGE - 1)) * WORDS + ENTRY] = REMOVED;
    this.live--;
    this.held[r >>> PAGE_BITS]!--;
    this.release(r >>> PAGE_BITS);
  }

  /** Lets page `p` go if it holds no record and is not the last (records are added there). */
  private release(p: number): void {
    if (p >= 0 && p < this.words.length - 1 && this.held[p] === 0) this.words[p] = undefined;
  }

  /** The pack number of record `r` (one added: held or removed). */
  pack(r: number): number {
    // The last run that starts at or before r.
    let lo = 0;
    let hi = this.runs - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.runStart[mid]! <= r) lo = mid;
      else hi = mid - 1;
    }
    return this.runPack[lo]!;
  }

  /**
   * Where record `r` is listed in its pack's index (its slot while the index is being built);
   * 2^32 - 1 once it is removed.
   */
  entry(r: number): number {
    const page = this.words[r >>> PAGE_BITS];
    return page ? page[(r & (PAGE - 1)) * WORDS + ENTRY]! : REMOVED;
  }

  /** Moves record `r` to another entry of its pack's index (a no-op when it is not held). */
  setEntry(r: number, entry: number): void {
    checkEntry(entry);
    if (!this.has(r)) return;
    this.page(r)[(r & (PAGE - 1)) * WORDS + ENTRY] = entry;
  }

  /** The longest distance of a record from its home slot (for tests). */
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

  /** The fingerprint of a digest: its hash, from its eight big-endian words. */
  private fingerprint(digest: Uint8Array): number {
    digestWords(digest, this.key);
    return this.hash(this.key);
  }

  /** Starts a run of records of `pack` at record `r`. */
  private startRun(r: number, pack: number): void {
    if (this.runs === this.runStart.length) {
      const start = new Uint32Array(this.runs * 2);
      const packs = new Uint32Array(this.runs * 2);
      start.set(this.runStart);
      packs.set(this.runPack);
      this.runStart = start;
      this.runPack = packs;
    }
    this.runStart[this.runs] = r;
    this.runPack[this.runs] = pack;
    this.runs++;
  }

  /** The page of words that holds record `r` (one held, or the last page's). */
  private page(r: number): Uint32Array {
    return this.words[r >>> PAGE_BITS]!;
  }

  /** The home slot of record `r` in slots of `mask + 1` (a power of two). */
  private homeOf(r: number, mask: number): number {
    return this.page(r)[(r & (PAGE - 1)) * WORDS]! >>> Math.clz32(mask);
  }

  /** Puts record `r` in its slot (the first free one from its home). */
  private place(r: number, s: Uint32Array): void {
    const mask = s.length - 1;
    let i = this.homeOf(r, mask);
    while (s[i] !== EMPTY) i = (i + 1) & mask;
    s[i] = r;
  }

  private grow(): void {
    const n = this.slots.length * 2;
    if (n > MAX_SLOTS) throw new RangeError('ChunkTable is full');
    const next = new Uint32Array(n).fill(EMPTY);
    for (let r = 0; r < this.count; r++) if (this.has(r)) this.place(r, next);
    this.slots = next;
  }
}
