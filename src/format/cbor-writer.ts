/**
 * A writer of deterministic CBOR for the values index records are made of, into a caller's
 * buffer: the bytes cborg's `encode` gives for the same value with the options records use
 * (integers as the shortest head, map keys sorted length first, then bytewise), checked
 * against cborg by the tests. It takes only what records hold in the common case (safe
 * integers, booleans, ASCII text, byte strings, arrays, plain objects with ASCII keys) and
 * declines anything else, which cborg then encodes.
 *
 * Why: converting a layer encodes a record per entry, and cborg sorts every map through
 * `Array.prototype.sort` over a token per key; for layers of small files that was an eighth of
 * the main thread's time and a quarter of what it allocated.
 *
 * @module
 */

/** {@link writeCbor} ran out of room in its buffer. */
export const NO_ROOM = -1;
/** {@link writeCbor} declined the value: cborg must encode it. */
export const DECLINED = -2;

/** Nesting beyond this is declined (records nest three deep). */
const MAX_DEPTH = 16;
/** Maps with more keys are sorted by `Array.prototype.sort`, fewer by insertion. */
const INSERTION_SORT_KEYS = 24;

const MAJOR_UINT = 0x00;
const MAJOR_NEGINT = 0x20;
const MAJOR_BYTES = 0x40;
const MAJOR_TEXT = 0x60;
const MAJOR_ARRAY = 0x80;
const MAJOR_MAP = 0xa0;
const FALSE = 0xf4;
const TRUE = 0xf5;

/** Thrown inside the writer, caught by {@link writeCbor}: unwinds the recursion. */
class Stop {
  constructor(readonly code: number) {}
}
const noRoom = new Stop(NO_ROOM);
const declined = new Stop(DECLINED);

/**
 * Orders ASCII map keys as cborg does: the shorter first, then by code unit (for ASCII, the
 * order of their UTF-8 bytes).
 */
function keyOrder(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

class Writer {
  at = 0;
  constructor(readonly out: Uint8Array) {}

  room(n: number): void {
    if (this.at + n > this.out.length) throw noRoom;
  }

  /** A head: major type and argument, in the fewest bytes. */
  head(major: number, n: number): void {
    const out = this.out;
    if (n < 24) {
      this.room(1);
      out[this.at++] = major | n;
    } else if (n < 0x100) {
      this.room(2);
      out[this.at++] = major | 24;
      out[this.at++] = n;
    } else if (n < 0x10000) {
      this.room(3);
      out[this.at++] = major | 25;
      out[this.at++] = n >>> 8;
      out[this.at++] = n & 0xff;
    } else if (n < 0x100000000) {
      this.room(5);
      out[this.at++] = major | 26;
      out[this.at++] = n >>> 24;
      out[this.at++] = (n >>> 16) & 0xff;
      out[this.at++] = (n >>> 8) & 0xff;
      out[this.at++] = n & 0xff;
    } else {
      this.room(9);
      const hi = Math.floor(n / 0x100000000);
      const lo = n >>> 0;
      out[this.at++] = major | 27;
      for (let s = 24; s >= 0; s -= 8) out[this.at++] = (hi >>> s) & 0xff;
      for (let s = 24; s >= 0; s -= 8) out[this.at++] = (lo >>> s) & 0xff;
    }
  }

  text(s: string): void {
    if (!isAscii(s)) throw declined;
    this.head(MAJOR_TEXT, s.length);
    this.room(s.length);
    for (let i = 0; i < s.length; i++) this.out[this.at++] = s.charCodeAt(i);
  }

  value(v: unknown, depth: number): void {
    if (depth > MAX_DEPTH) throw declined;
    switch (typeof v) {
      case 'number':
        if (!Number.isSafeInteger(v)) throw declined;
        if (v >= 0) this.head(MAJOR_UINT, v);
        else this.head(MAJOR_NEGINT, -v - 1);
        return;
      case 'string':
        this.text(v);
        return;
      case 'boolean':
        this.room(1);
        this.out[this.at++] = v ? TRUE : FALSE;
        return;
      case 'object':
        if (v === null) throw declined;
        if (Array.isArray(v)) {
          this.head(MAJOR_ARRAY, v.length);
          for (let i = 0; i < v.length; i++) this.value(v[i], depth + 1);
          return;
        }
        // Node's Buffer too, as cborg takes it.
        if (v instanceof Uint8Array) {
          this.head(MAJOR_BYTES, v.length);
          this.room(v.length);
          this.out.set(v, this.at);
          this.at += v.length;
          return;
        }
        if (Object.getPrototypeOf(v) === Object.prototype) {
          this.map(v as Record<string, unknown>, depth);
          return;
        }
        throw declined;
      default:
        throw declined;
    }
  }

  map(m: Record<string, unknown>, depth: number): void {
    const keys = Object.keys(m);
    const n = keys.length;
    for (let i = 0; i < n; i++) if (!isAscii(keys[i]!)) throw declined;
    if (n > INSERTION_SORT_KEYS) keys.sort(keyOrder);
    else {
      for (let i = 1; i < n; i++) {
        const k = keys[i]!;
        let j = i - 1;
        for (; j >= 0 && keyOrder(keys[j]!, k) > 0; j--) keys[j + 1] = keys[j]!;
        keys[j + 1] = k;
      }
    }
    this.head(MAJOR_MAP, n);
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      // Equal keys cannot occur in an object.
      this.text(k);
      this.value(m[k], depth + 1);
    }
  }
}

/**
 * Writes `value` as deterministic CBOR at the start of `out`.
 * @returns the bytes written; {@link NO_ROOM} when they do not fit in `out`;
 *   {@link DECLINED} when the value holds anything but safe integers, booleans, ASCII text,
 *   byte strings (any `Uint8Array`), arrays and plain objects with ASCII keys, or nests
 *   deeper than 16.
 */
export function writeCbor(value: unknown, out: Uint8Array): number {
  const w = new Writer(out);
  try {
    w.value(value, 0);
  } catch (err) {
    if (err instanceof Stop) return err.code;
    throw err;
  }
  return w.at;
}
