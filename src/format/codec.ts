/**
 * Encodes and decodes single index records as deterministic CBOR (RFC 8949 core deterministic
 * encoding, via cborg). Pure functions; the framing and the streams live beside them.
 * Every decoded record is checked field by field: an index is outside input.
 *
 * @module
 */
import { type DecodeOptions, decode, encode, encodeInto, Token, Tokenizer, Type } from 'cborg';
import { RecordFormatError, UsageError } from '../errors.js';
import { quoted } from '../quoted.js';
import { NO_ROOM, writeCbor } from './cbor-writer.js';
import { diffHeader, patchHeader } from './header-patch.js';
import { extensionTemplate, HEADER_BLOCK, headerTemplate } from './header-template.js';
import {
  type ChunkRef,
  type Compression,
  type EntryMeta,
  FORMAT_VERSION,
  type IndexRecord,
  isKnownVersion,
  type Timestamp,
  unknownVersion,
} from './records.js';

/** Wire codes of the record types (the `t` key). */
const TYPE_CODE = {
  layer: 0,
  entry: 1,
  delete: 2,
  chunks: 3,
  padding: 4,
  tail: 5,
  end: 6,
} as const satisfies Record<IndexRecord['type'], number>;

const COMPRESSIONS: readonly Compression[] = ['none', 'gzip', 'zstd'];

/** A decoded CBOR map, before its fields are checked. */
export type Wire = Record<string, unknown>;

function time(t: Timestamp): number | [number, number] {
  return t.nsec === 0 ? t.sec : [t.sec, t.nsec];
}

function metaToWire(m: EntryMeta): Wire {
  const w: Wire = { p: m.path, f: m.typeflag, m: m.mode, u: m.uid, g: m.gid, mt: time(m.mtime) };
  if (m.uname) w.un = m.uname;
  if (m.gname) w.gn = m.gname;
  if (m.atime) w.at = time(m.atime);
  if (m.ctime) w.ct = time(m.ctime);
  if (m.size) w.s = m.size;
  if (m.linkname) w.l = m.linkname;
  if (m.devmajor || m.devminor) w.dv = [m.devmajor, m.devminor];
  if (Object.keys(m.pax).length) w.px = m.pax;
  if (m.globalPax) w.gx = m.globalPax;
  if (Object.keys(m.xattrs).length) w.xa = m.xattrs;
  if (m.sparse) {
    w.sp = m.sparse.map
      ? [m.sparse.format, m.sparse.realSize, m.sparse.map.flat()]
      : [m.sparse.format, m.sparse.realSize];
  }
  return w;
}

function refsToWire(refs: ChunkRef[]): unknown[] {
  const out: unknown[] = new Array(refs.length * 2);
  for (let i = 0; i < refs.length; i++) {
    out[2 * i] = refs[i]!.digest;
    out[2 * i + 1] = refs[i]!.length;
  }
  return out;
}

/** Most items this writer puts in an extension patch (`xh`): 512 skip/run pairs. */
const MAX_EXTENSION_PATCH_ITEMS = 1024;

/**
 * Most CBOR items the header patches of one record hold (`h` stays under 512 by its rule):
 * what an entry's record needs beyond its metadata.
 */
export const HEADER_PATCH_ITEMS = 512 + MAX_EXTENSION_PATCH_ITEMS;

/**
 * Runs that turn `template` into `bytes`, when they are shorter than `bytes` (each run costs
 * its bytes and about two more: its skip and its byte string's head) and number at most
 * `maxItems`.
 */
function patchFor(
  bytes: Uint8Array,
  template: Uint8Array,
  maxItems: number,
): unknown[] | undefined {
  if (template.length !== bytes.length) return undefined;
  const { runs, bytes: held } = diffHeader(bytes, template);
  return held + runs.length < bytes.length && runs.length <= maxItems ? runs : undefined;
}

/** Where the header template of each record encoded is made, compared, then let go. */
const templateBlock = new Uint8Array(HEADER_BLOCK);
/** Likewise for extension templates of up to 16 KiB. */
const extensionBlocks = new Uint8Array(32 * HEADER_BLOCK);

/**
 * Puts an entry's header bytes on the wire: from version 2, as the runs where its last block
 * differs from the header template (`h`), and the bytes before it as the runs where they
 * differ from the extension template (`xh`) or whole (`x`); when the last block's runs are not
 * shorter than the block, and always in version 1, whole (`r`).
 */
function headerToWire(w: Wire, meta: EntryMeta, raw: Uint8Array, version: number): Wire {
  if (version >= 2 && raw.length >= HEADER_BLOCK) {
    const last = raw.length - HEADER_BLOCK;
    const h = patchFor(raw.subarray(last), headerTemplate(meta, templateBlock), HEADER_BLOCK);
    if (h) {
      w.h = h;
      if (last > 0) {
        const before = raw.subarray(0, last);
        const template = extensionTemplate(meta, extensionBlocks);
        const xh = patchFor(before, template, MAX_EXTENSION_PATCH_ITEMS);
        if (xh) w.xh = xh;
        else w.x = before;
      }
      return w;
    }
  }
  w.r = raw;
  return w;
}

function toWire(r: IndexRecord, version: number): Wire {
  const t = TYPE_CODE[r.type];
  switch (r.type) {
    case 'layer':
      return {
        t,
        v: r.version,
        ch: [r.chunker.algorithm, r.chunker.min, r.chunker.avg, r.chunker.max],
        dg: r.digest,
        cz: r.compression,
      };
    case 'entry':
      return headerToWire({ t, e: metaToWire(r.entry) }, r.entry, r.raw, version);
    case 'delete':
      return headerToWire(
        r.opaque
          ? { t, p: r.path, o: true, e: metaToWire(r.entry) }
          : { t, p: r.path, e: metaToWire(r.entry) },
        r.entry,
        r.raw,
        version,
      );
    case 'chunks':
      return { t, c: refsToWire(r.refs) };
    case 'padding':
      return { t, b: r.bytes };
    case 'tail':
      return { t };
    case 'end': {
      const w: Wire = {
        t,
        id: r.diffId,
        s: r.size,
        n: r.entries,
        nd: r.deletions,
        nc: r.chunks,
        db: r.dataBytes,
      };
      if (r.blob) w.bl = [r.blob.compression, r.blob.digest, r.blob.size];
      return w;
    }
  }
}

/**
 * Encodes one record as deterministic CBOR.
 * @param record - the record to encode.
 * @param version - the format version of the index it goes into (its layer record's). Entry
 *   and delete records of version 1 keep their header bytes whole.
 * @default version FORMAT_VERSION
 * @returns its CBOR bytes (without framing).
 */
export function encodeRecord(record: IndexRecord, version: number = FORMAT_VERSION): Uint8Array {
  return encodeCbor(toWire(record, version));
}

/**
 * Encodes one record as {@link encodeRecord} does (the same bytes), into `dest`: by
 * {@link writeCbor} where it takes the record, else by cborg.
 * @returns the bytes written, or `undefined` when the record failed to encode into `dest`,
 *   for want of room or for any other reason: {@link encodeRecord} then encodes it, or throws
 *   what was wrong.
 */
export function encodeRecordInto(
  record: IndexRecord,
  version: number,
  dest: Uint8Array,
): number | undefined {
  const wire = toWire(record, version);
  const written = writeCbor(wire, dest);
  if (written >= 0) return written;
  if (written === NO_ROOM) return undefined;
  try {
    return encodeInto(wire, dest, ENCODE_OPTIONS).written;
  } catch {
    return undefined;
  }
}

/**
 * Encodes a value as deterministic CBOR, refusing numbers a reader would refuse.
 * @throws {@link UsageError} for a number that is not an integer within ±(2^53-1).
 */
export function encodeCbor(value: unknown): Uint8Array {
  return encode(value, ENCODE_OPTIONS);
}

/**
 * The map keys records use, as tokens made once: cborg makes a token of every map key to sort
 * the keys by their encoded bytes, and encodes it again to compare it; a shared token keeps
 * its encoded bytes. (A string token encodes as the string does, so any string equal to a key
 * may use it.)
 */
const KEY_TOKENS = new Map(
  [
    ...['t', 'v', 'ch', 'dg', 'cz', 'e', 'r', 'p', 'o', 'c', 'b', 'id', 's', 'n', 'nd', 'nc'],
    ...['db', 'bl', 'f', 'm', 'u', 'g', 'mt', 'un', 'gn', 'at', 'ct', 'l', 'dv', 'px', 'gx'],
    ...['xa', 'sp', 'h', 'x', 'xh'],
  ].map((k) => [k, new Token(Type.string, k)]),
);

/** Numbers are integers a reader accepts: CBOR would write any other as a float (§2). */
const ENCODE_OPTIONS = {
  typeEncoders: {
    number(n: unknown) {
      if (!Number.isSafeInteger(n)) {
        throw new UsageError(`a record holds ${String(n)}, not an integer within ±(2^53-1)`);
      }
      return null;
    },
    string(s: unknown) {
      return KEY_TOKENS.get(s as string) ?? null;
    },
  },
};

/** Field readers that throw {@link RecordFormatError} naming the field and offset. */
/** Checks the fields of decoded CBOR, failing with {@link RecordFormatError} at `offset`. */
export class Reader {
  constructor(
    readonly offset: number,
    readonly what: string,
  ) {}

  fail(msg: string): never {
    throw new RecordFormatError(`${this.what}: ${msg}`, this.offset);
  }
  map(v: unknown, name: string): Wire {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
      this.fail(`${name} must be a map`);
    }
    return v as Wire;
  }
  uint(v: unknown, name: string): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      this.fail(`${name} must be an unsigned integer`);
    }
    return v;
  }
  int(v: unknown, name: string): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.fail(`${name} must be an integer`);
    return v;
  }
  str(v: unknown, name: string): string {
    if (typeof v !== 'string') this.fail(`${name} must be a text string`);
    return v;
  }
  bytes(v: unknown, name: string, length?: number): Uint8Array {
    if (!(v instanceof Uint8Array)) this.fail(`${name} must be a byte string`);
    if (length !== undefined && v.length !== length) this.fail(`${name} must be ${length} bytes`);
    return v;
  }
  array(v: unknown, name: string): unknown[] {
    if (!Array.isArray(v)) this.fail(`${name} must be an array`);
    return v;
  }
  time(v: unknown, name: string): Timestamp {
    if (typeof v === 'number') return { sec: this.int(v, name), nsec: 0 };
    const a = this.array(v, name);
    if (a.length !== 2) this.fail(`${name} must be [sec, nsec]`);
    const nsec = this.uint(a[1], `${name}.nsec`);
    if (nsec >= 1e9) this.fail(`${name}.nsec out of range`);
    return { sec: this.int(a[0], `${name}.sec`), nsec };
  }
  keys(w: Wire, allowed: readonly string[]): void {
    for (const k of Object.keys(w)) if (!allowed.includes(k)) this.fail(`unknown key ${quoted(k)}`);
  }
}

const META_KEYS = [
  'p',
  'f',
  'm',
  'u',
  'g',
  'un',
  'gn',
  'mt',
  'at',
  'ct',
  's',
  'l',
  'dv',
  'px',
  'gx',
  'xa',
  'sp',
];

/** A map of text to text, as an object whose keys are all own properties (`__proto__` too). */
function textMap(rd: Reader, v: unknown, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(rd.map(v, name))) {
    Object.defineProperty(out, k, {
      value: rd.str(val, `${name}[${quoted(k)}]`),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function metaFromWire(rd: Reader, v: unknown): EntryMeta {
  const w = rd.map(v, 'entry');
  rd.keys(w, META_KEYS);
  const typeflag = rd.str(w.f, 'entry.typeflag');
  if (typeflag.length !== 1 || typeflag.charCodeAt(0) > 0xff) {
    rd.fail('entry.typeflag must be one character, U+0000 to U+00FF');
  }
  const meta: EntryMeta = {
    path: rd.str(w.p, 'entry.path'),
    typeflag,
    mode: rd.uint(w.m, 'entry.mode'),
    uid: rd.uint(w.u, 'entry.uid'),
    gid: rd.uint(w.g, 'entry.gid'),
    uname: w.un === undefined ? '' : rd.str(w.un, 'entry.uname'),
    gname: w.gn === undefined ? '' : rd.str(w.gn, 'entry.gname'),
    mtime: rd.time(w.mt, 'entry.mtime'),
    size: w.s === undefined ? 0 : rd.uint(w.s, 'entry.size'),
    linkname: w.l === undefined ? '' : rd.str(w.l, 'entry.linkname'),
    devmajor: 0,
    devminor: 0,
    pax: {},
    xattrs: {},
  };
  if (w.at !== undefined) meta.atime = rd.time(w.at, 'entry.atime');
  if (w.ct !== undefined) meta.ctime = rd.time(w.ct, 'entry.ctime');
  if (w.dv !== undefined) {
    const dv = rd.array(w.dv, 'entry.dev');
    if (dv.length !== 2) rd.fail('entry.dev must be [major, minor]');
    meta.devmajor = rd.uint(dv[0], 'entry.devmajor');
    meta.devminor = rd.uint(dv[1], 'entry.devminor');
  }
  if (w.px !== undefined) meta.pax = textMap(rd, w.px, 'entry.pax');
  if (w.gx !== undefined) meta.globalPax = textMap(rd, w.gx, 'entry.globalPax');
  if (w.xa !== undefined) {
    const xa = rd.map(w.xa, 'entry.xattrs');
    const xattrs: Record<string, Uint8Array> = {};
    for (const [k, val] of Object.entries(xa)) {
      Object.defineProperty(xattrs, k, {
        value: rd.bytes(val, `entry.xattrs[${quoted(k)}]`),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    meta.xattrs = xattrs;
  }
  if (w.sp !== undefined) {
    const sp = rd.array(w.sp, 'entry.sparse');
    if (sp.length !== 2 && sp.length !== 3) rd.fail('entry.sparse must have 2 or 3 items');
    meta.sparse = {
      format: rd.str(sp[0], 'entry.sparse.format'),
      realSize: rd.uint(sp[1], 'entry.sparse.realSize'),
    };
    if (sp.length === 3) {
      const flat = rd.array(sp[2], 'entry.sparse.map');
      if (flat.length % 2) rd.fail('entry.sparse.map must hold offset/length pairs');
      const map: Array<[number, number]> = [];
      for (let i = 0; i < flat.length; i += 2) {
        map.push([
          rd.uint(flat[i], 'entry.sparse.offset'),
          rd.uint(flat[i + 1], 'entry.sparse.length'),
        ]);
      }
      meta.sparse.map = map;
    }
  }
  return meta;
}

function compression(rd: Reader, v: unknown, name: string): Compression {
  const s = rd.str(v, name);
  if (!(COMPRESSIONS as readonly string[]).includes(s))
    rd.fail(`${name} ${quoted(s)} is not known`);
  return s as Compression;
}

const DECODE_OPTIONS: DecodeOptions = {
  strict: true,
  rejectDuplicateMapKeys: true,
  allowUndefined: false,
  allowIndefinite: false,
  allowBigInt: false,
};

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * cborg's tokenizer with the two checks cborg's options lack: floating-point values are
 * rejected (cborg would hand back `1.0` as the integer `1`), and text strings must be valid
 * UTF-8 and are decoded exactly (cborg replaces invalid sequences with U+FFFD and drops a
 * leading U+FEFF).
 */
/**
 * Most CBOR data items (each number, string, map, array, key) one record may hold: a record
 * of the largest pax header the default limits let through holds at most about 520,000 (by
 * count, not measured: 1 MiB of `GNU.sparse.map` is at most 262,144 four-byte `0,0,` pairs).
 */
export const MAX_CBOR_ITEMS = 1 << 20;

/**
 * Arrays and maps one item may nest, one inside another (records, roots and diffs nest a few
 * deep). cborg decodes nested items by recursion, so deeper input would otherwise end only at
 * the stack's limit.
 */
export const MAX_CBOR_DEPTH = 32;

class StrictTokenizer extends Tokenizer {
  private items = 0;
  /** Items still to come in each array or map open around the next item, innermost last. */
  private readonly open: number[] = [];

  override next(): Token {
    // Decoding builds every item before any is checked: bounded here, so that a record
    // within the size limit cannot cost a gigabyte of objects (16 Mi empty maps, say).
    if (++this.items > MAX_CBOR_ITEMS) {
      throw new Error(`more than ${MAX_CBOR_ITEMS} data items in one record`);
    }
    const start = this.pos();
    const token = super.next();
    this.nest(token);
    if (Type.equals(token.type, Type.float))
      throw new Error('floating-point values are not allowed');
    if (Type.equals(token.type, Type.string)) {
      const end = start + token.encodedLength!;
      const minor = this.data[start]! & 31;
      const payload = this.data.subarray(start + (minor < 24 ? 1 : 1 + 2 ** (minor - 24)), end);
      for (let i = 0; i < payload.length; i++) {
        if (payload[i]! >= 0x80) {
          let text: string;
          try {
            text = UTF8.decode(payload);
          } catch {
            throw new Error('text string is not valid UTF-8');
          }
          return new Token(Type.string, text, token.encodedLength);
        }
      }
    }
    return token;
  }

  /** Counts `token` into the array or map around it, and opens it if it is one. */
  private nest(token: Token): void {
    const open = this.open;
    if (open.length > 0) open[open.length - 1]!--;
    const children = Type.equals(token.type, Type.array)
      ? (token.value as number)
      : Type.equals(token.type, Type.map)
        ? (token.value as number) * 2
        : 0;
    if (children > 0) {
      if (open.length >= MAX_CBOR_DEPTH) {
        throw new Error(`arrays and maps nested more than ${MAX_CBOR_DEPTH} deep`);
      }
      open.push(children);
    }
    while (open.length > 0 && open[open.length - 1] === 0) open.pop();
  }
}

/**
 * Decodes one CBOR data item under the profile of `docs/FORMAT.md` §2 (definite lengths,
 * shortest heads, no floats or tags, safe integers, valid UTF-8, unique text keys).
 * @param bytes - exactly one CBOR item.
 * @param offset - where it is, for error messages.
 * @param what - what it is, for error messages.
 * @returns the decoded value, unchecked beyond the profile.
 * @throws {@link RecordFormatError} when the bytes break the profile.
 */
export function decodeCbor(bytes: Uint8Array, offset: number, what: string): unknown {
  // A plain Uint8Array view, so that byte strings decode as plain Uint8Arrays even when the
  // input is a subclass such as Node's Buffer (cborg converts only when it makes the tokenizer).
  const data = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  try {
    return decode(data, {
      ...DECODE_OPTIONS,
      tokenizer: new StrictTokenizer(data, DECODE_OPTIONS),
    });
  } catch (err) {
    throw new RecordFormatError(`${what} is not valid CBOR (${(err as Error).message})`, offset);
  }
}

/** Keys of an entry record in each format version (a delete record has `p` and `o` too). */
const HEADER_KEYS: Record<number, readonly string[]> = {
  1: ['t', 'e', 'r'],
  2: ['t', 'e', 'r', 'h', 'x', 'xh'],
};

/** An entry's or a deletion's header bytes, from `r`, or from `h` and `x` or `xh` (§3.9). */
function headerFromWire(rd: Reader, w: Wire, meta: EntryMeta): Uint8Array {
  if (w.h === undefined) {
    if (w.x !== undefined || w.xh !== undefined) rd.fail('x and xh must come with h');
    return rd.bytes(w.r, 'raw');
  }
  if (w.r !== undefined) rd.fail('r and h must not both be present');
  const fail = (msg: string) => rd.fail(msg);
  const block = patchHeader(headerTemplate(meta), rd.array(w.h, 'header patch'), fail);
  let before: Uint8Array;
  if (w.xh !== undefined) {
    if (w.x !== undefined) rd.fail('x and xh must not both be present');
    const template = extensionTemplate(meta);
    if (template.length === 0) rd.fail('xh needs pax records or extended attributes');
    before = patchHeader(template, rd.array(w.xh, 'extension patch'), fail);
  } else if (w.x !== undefined) {
    before = rd.bytes(w.x, 'header blocks before the last');
  } else {
    return block;
  }
  const raw = new Uint8Array(before.length + HEADER_BLOCK);
  raw.set(before);
  raw.set(block, before.length);
  return raw;
}

/**
 * Decodes one record from its CBOR bytes, checking every field.
 * @param bytes - the CBOR of one record (without framing).
 * @param offset - byte offset of the record in the index, for error messages.
 * @param version - the format version of the index it comes from (its layer record's):
 *   version 1 entry and delete records must keep their header bytes whole.
 * @default version FORMAT_VERSION
 * @returns the record.
 * @throws {@link RecordFormatError} when the bytes are not a well-formed record.
 */
export function decodeRecord(
  bytes: Uint8Array,
  offset: number,
  version: number = FORMAT_VERSION,
): IndexRecord {
  const value = decodeCbor(bytes, offset, 'record');
  const rd = new Reader(offset, 'record');
  const w = rd.map(value, 'record');
  switch (w.t) {
    case TYPE_CODE.layer: {
      const lr = new Reader(offset, 'layer record');
      // The version comes first: a later version may have other keys.
      const version = lr.uint(w.v, 'version');
      if (!isKnownVersion(version)) lr.fail(unknownVersion('index format', version));
      lr.keys(w, ['t', 'v', 'ch', 'dg', 'cz']);
      const ch = lr.array(w.ch, 'chunker');
      if (ch.length !== 4) lr.fail('chunker must be [algorithm, min, avg, max]');
      const dg = lr.str(w.dg, 'digest');
      if (dg !== 'sha256') lr.fail(`digest algorithm ${quoted(dg)} is not supported`);
      const digest = 'sha256' as const;
      return {
        type: 'layer',
        version,
        chunker: {
          algorithm: lr.str(ch[0], 'chunker.algorithm'),
          min: lr.uint(ch[1], 'chunker.min'),
          avg: lr.uint(ch[2], 'chunker.avg'),
          max: lr.uint(ch[3], 'chunker.max'),
        },
        digest,
        compression: compression(lr, w.cz, 'compression'),
      };
    }
    case TYPE_CODE.entry: {
      const er = new Reader(offset, 'entry record');
      er.keys(w, HEADER_KEYS[version] ?? er.fail(unknownVersion('index format', version)));
      const entry = metaFromWire(er, w.e);
      return { type: 'entry', entry, raw: headerFromWire(er, w, entry) };
    }
    case TYPE_CODE.delete: {
      const dr = new Reader(offset, 'delete record');
      const keys = HEADER_KEYS[version] ?? dr.fail(unknownVersion('index format', version));
      dr.keys(w, [...keys, 'p', 'o']);
      if (w.o !== undefined && w.o !== true) dr.fail('opaque must be true when present');
      const entry = metaFromWire(dr, w.e);
      return {
        type: 'delete',
        path: dr.str(w.p, 'path'),
        opaque: w.o === true,
        entry,
        raw: headerFromWire(dr, w, entry),
      };
    }
    case TYPE_CODE.chunks: {
      const cr = new Reader(offset, 'chunks record');
      cr.keys(w, ['t', 'c']);
      const flat = cr.array(w.c, 'refs');
      if (flat.length === 0 || flat.length % 2) cr.fail('refs must hold digest/length pairs');
      const refs: ChunkRef[] = new Array(flat.length / 2);
      for (let i = 0; i < flat.length; i += 2) {
        const length = cr.uint(flat[i + 1], 'chunk length');
        if (length === 0) cr.fail('chunk length must not be 0');
        refs[i / 2] = { digest: cr.bytes(flat[i], 'chunk digest', 32), length };
      }
      return { type: 'chunks', refs };
    }
    case TYPE_CODE.padding: {
      const pr = new Reader(offset, 'padding record');
      pr.keys(w, ['t', 'b']);
      const b = pr.bytes(w.b, 'bytes');
      if (b.length === 0 || b.length >= 512) pr.fail('padding must be 1 to 511 bytes');
      return { type: 'padding', bytes: b };
    }
    case TYPE_CODE.tail:
      new Reader(offset, 'tail record').keys(w, ['t']);
      return { type: 'tail' };
    case TYPE_CODE.end: {
      const zr = new Reader(offset, 'end record');
      zr.keys(w, ['t', 'id', 's', 'n', 'nd', 'nc', 'db', 'bl']);
      const end: IndexRecord = {
        type: 'end',
        diffId: zr.bytes(w.id, 'diffId', 32),
        size: zr.uint(w.s, 'size'),
        entries: zr.uint(w.n, 'entries'),
        deletions: zr.uint(w.nd, 'deletions'),
        chunks: zr.uint(w.nc, 'chunks'),
        dataBytes: zr.uint(w.db, 'dataBytes'),
      };
      if (w.bl !== undefined) {
        const bl = zr.array(w.bl, 'blob');
        if (bl.length !== 3) zr.fail('blob must be [compression, digest, size]');
        end.blob = {
          compression: compression(zr, bl[0], 'blob.compression'),
          digest: zr.bytes(bl[1], 'blob.digest', 32),
          size: zr.uint(bl[2], 'blob.size'),
        };
      }
      return end;
    }
    default:
      return rd.fail(`unknown record type ${quoted(w.t)}`);
  }
}
