/**
 * Hostile input: every malformed index must fail with a RecordFormatError (ERR_RECORD_FORMAT)
 * at a sensible offset, never hang, crash or corrupt anything.
 */
import { decode as cborDecode, encode as cborEncode } from 'cborg';
import { describe, expect, test } from 'vitest';
import { RecordFormatError, UsageError } from '../../src/errors.js';
import { decodeRecord, encodeRecord } from '../../src/format/codec.js';
import { createIndexDecoder } from '../../src/format/decoder.js';
import { encodeFrame, INDEX_MAGIC } from '../../src/format/encoder.js';
import type { IndexRecord } from '../../src/format/records.js';
import { concat } from '../helpers/bytes.js';
import { GOLDEN_RECORDS, TINY_RECORDS } from './fixtures.js';
import {
  decodeIndex,
  expectIndexError,
  fakeDigest,
  indexBytes,
  LAYER,
  minimalMeta,
  rawFrame,
  unhex,
} from './helpers.js';

/** Expects `decodeRecord(cbor, 77)` to throw a RecordFormatError at offset 77 matching `message`. */
function expectRecordError(cbor: Uint8Array, message: RegExp): void {
  let err: unknown;
  try {
    decodeRecord(cbor, 77);
  } catch (e) {
    err = e;
  }
  expect(err, `accepted ${Buffer.from(cbor).toString('hex')}`).toBeInstanceOf(RecordFormatError);
  expect((err as RecordFormatError).code).toBe('ERR_RECORD_FORMAT');
  expect((err as RecordFormatError).offset).toBe(77);
  expect((err as Error).message).toMatch(message);
}

const wire = (w: unknown) => cborEncode(w);
const END0 = {
  type: 'end',
  diffId: fakeDigest(1),
  size: 0,
  entries: 0,
  deletions: 0,
  chunks: 0,
  dataBytes: 0,
} as const;

describe('framing', () => {
  test('bad magic', async () => {
    const bytes = concat([new TextEncoder().encode('GIF89a\r\n'), encodeFrame(LAYER)]);
    await expectIndexError(bytes, /bad magic/, 0);
    await expectIndexError(bytes, /bad magic/, 0, 1);
  });

  test('input shorter than the magic', async () => {
    await expectIndexError(new Uint8Array(0), /before its magic/, 0);
    await expectIndexError(INDEX_MAGIC.subarray(0, 7), /before its magic/, 0);
  });

  test('truncation at every byte position fails at the frame being read', async () => {
    const bytes = indexBytes(TINY_RECORDS);
    const starts = [8];
    for (const r of TINY_RECORDS) starts.push(starts.at(-1)! + encodeFrame(r, 0, 1).length);
    expect(starts.at(-1)).toBe(bytes.length);
    for (let n = 0; n < bytes.length; n++) {
      const frameStart = n < 8 ? 0 : starts.filter((s) => s <= n).at(-1)!;
      const err = await expectIndexError(bytes.subarray(0, n), /ends/, frameStart);
      if (n >= 8) {
        expect(err.message).toMatch(n === frameStart ? /before its end record/ : /inside a record/);
      }
    }
  });

  test('frame length 0', async () => {
    await expectIndexError(
      indexBytes([LAYER, unhex('00000000')]),
      /empty record frame/,
      8 + encodeFrame(LAYER).length,
    );
  });

  test('frame length over the limit fails on the 4 length bytes alone', async () => {
    const decoder = createIndexDecoder();
    const writer = decoder.writable.getWriter();
    const reading = decoder.readable.getReader().read();
    reading.catch(() => {});
    await writer.write(INDEX_MAGIC);
    const err = await writer.write(unhex('01000001')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordFormatError);
    expect((err as RecordFormatError).message).toMatch(/16777217 bytes exceeds the 16777216-byte/);
    expect((err as RecordFormatError).offset).toBe(8);
    await expectIndexError(indexBytes([unhex('ffffffff')]), /exceeds/, 8);
  });

  test('maxRecordBytes is honoured exactly', async () => {
    const layer = encodeFrame(LAYER); // 60 bytes of CBOR
    const ok = await decodeIndex(concat([INDEX_MAGIC, layer]), undefined, { maxRecordBytes: 60 });
    expect(ok.error).toBeInstanceOf(RecordFormatError); // no end record, but the layer passed
    expect(ok.records).toEqual([LAYER]);
    await expectIndexError(concat([INDEX_MAGIC, layer]), /exceeds the 59-byte limit/, 8, 1, {
      maxRecordBytes: 59,
    });
  });

  test('bytes after the end record', async () => {
    const base = indexBytes([LAYER, END0]);
    await expectIndexError(concat([base, unhex('00')]), /after the end record/, base.length);
    await expectIndexError(concat([base, encodeFrame({ type: 'tail' })]), /after the end record/);
    await expectIndexError(concat([base, unhex('0000')]), /after the end record/, base.length, 1);
  });

  // Linear takes 1-2 s here; quadratic (copying what is buffered at each piece) would copy
  // 5 * 10^11 bytes, many minutes: the bound is far from both, so load cannot fail it.
  test('a 1 MiB record fed in 1-byte pieces decodes in linear time', async () => {
    const raw = new Uint8Array(1024 * 1024).fill(7);
    const entry: IndexRecord = { type: 'entry', entry: minimalMeta('big'), raw };
    const end = { ...END0, size: raw.length, entries: 1 };
    const bytes = indexBytes([LAYER, entry, end]);
    const decoder = createIndexDecoder();
    const writer = decoder.writable.getWriter();
    const records: IndexRecord[] = [];
    const reading = decoder.readable.pipeTo(
      new WritableStream({ write: (r) => void records.push(r) }),
    );
    const t0 = performance.now();
    for (let i = 0; i < bytes.length; i++) await writer.write(bytes.subarray(i, i + 1));
    await writer.close();
    await reading;
    const ms = performance.now() - t0;
    expect(records).toHaveLength(3);
    expect(Buffer.from((records[1] as typeof entry).raw).equals(raw)).toBe(true);
    expect(ms).toBeLessThan(30_000);
  });
});

describe('CBOR profile violations', () => {
  test.each([
    ['a break byte', 'ff', /not valid CBOR/],
    ['a reserved minor', '1c', /not valid CBOR/],
    ['a truncated item', 'a2617405', /not valid CBOR/],
    ['trailing bytes after the item', 'a161740500', /not valid CBOR/],
    ['two items', 'a1617405a1617405', /not valid CBOR/],
    ['an indefinite-length map', 'bf617405ff', /not valid CBOR/],
    [
      'an indefinite-length array',
      'a26174036163' + '9f' + '5820' + 'aa'.repeat(32) + '01ff',
      /not valid CBOR/,
    ],
    ['an indefinite-length text key', 'a17f6174ff05', /not valid CBOR/],
    ['an indefinite-length byte string', 'a26174046162' + '5f4101ff', /not valid CBOR/],
    ['a non-shortest integer', 'a161741805', /not valid CBOR/],
    ['a non-shortest length', 'a1786174' + '05', /not valid CBOR/],
    ['a half float for an integer', 'a16174f94500', /not valid CBOR.*floating/],
    ['a double for an integer', 'a16174fb4014000000000000', /not valid CBOR.*floating/],
    ['NaN', 'a16174f97e00', /not valid CBOR/],
    ['undefined', 'a16174f7', /not valid CBOR/],
    ['a simple value', 'a16174f810', /not valid CBOR/],
    ['a tag', 'a16174c105', /not valid CBOR/],
    ['an integer beyond 2^53', 'a161741b0020000000000000', /not valid CBOR/],
    ['a negative integer beyond -2^53', 'a161743b0020000000000000', /not valid CBOR/],
    ['a duplicate key', 'a2617405617405', /not valid CBOR.*repeat/],
    ['an integer key', 'a10005', /not valid CBOR/],
    ['invalid UTF-8 in a key', 'a161ff05', /not valid CBOR.*UTF-8/],
    ['an overlong UTF-8 encoding', 'a162c1b405', /not valid CBOR.*UTF-8/],
    ['a UTF-8 surrogate', 'a163eda08005', /not valid CBOR.*UTF-8/],
    ['a declared length beyond the frame', 'a161745affffffff', /not valid CBOR/],
    ['an array count beyond the frame', 'a261740361639affffffff', /not valid CBOR/],
  ])('%s', (_name, h, message) => {
    expectRecordError(unhex(h), message);
  });

  test('deep nesting fails cleanly, at the depth limit', () => {
    const nested = (depth: number, head = 0x81) =>
      concat([new Uint8Array(depth).fill(head), unhex('00')]);
    const tooDeep = /not valid CBOR \(arrays and maps nested more than 32 deep\)/;
    expectRecordError(nested(200_000), tooDeep);
    expectRecordError(nested(33), tooDeep);
    // Maps count too, and siblings after a deep branch are at the outer depth again.
    const mapDeep = concat([unhex('a1617481'), new Uint8Array(31).fill(0x81), unhex('00')]);
    expectRecordError(mapDeep, tooDeep);
    // At 32 deep the depth is no objection: the record is refused for its fields instead.
    const at32 = concat([unhex('a2617481'), new Uint8Array(30).fill(0x81), unhex('00616305')]);
    expect(() => decodeRecord(at32, 0)).toThrow(RecordFormatError);
    expect(() => decodeRecord(at32, 0)).not.toThrow(/nested/);
  });

  test('floats in each integer field are rejected', () => {
    // chunk length 1.0, end size 0.0, entry mode 420.0
    const chunks = wire({ t: 3, c: [fakeDigest(1), 1] });
    expectRecordError(
      concat([chunks.subarray(0, -4), unhex('f93c00'), chunks.subarray(-3)]),
      /floating/,
    );
    expectRecordError(unhex('a16174f90000'), /floating/);
  });
});

describe('record fields', () => {
  /** Wire form (decoded CBOR) of each golden record. */
  const wires = Object.entries(GOLDEN_RECORDS).map(
    ([name, r]) => [name, cborDecode(encodeRecord(r)) as Record<string, unknown>] as const,
  );

  /** A value of a different CBOR type than `v`, never valid where `v` is. */
  const wrongType = (v: unknown): unknown =>
    typeof v === 'number' || typeof v === 'boolean'
      ? 'x'
      : typeof v === 'string'
        ? 0
        : v instanceof Uint8Array
          ? 'x'
          : Array.isArray(v)
            ? {}
            : [];

  /** Every copy of `w` with one value (at any depth) replaced by `f(value)`. */
  function* mutations(
    w: unknown,
    f: (v: unknown) => unknown,
    path = '',
  ): Generator<[string, unknown]> {
    if (Array.isArray(w)) {
      for (let i = 0; i < w.length; i++) {
        yield [`${path}[${i}]`, w.map((x, j) => (j === i ? f(x) : x))];
        for (const [p, m] of mutations(w[i], f, `${path}[${i}]`))
          yield [p, w.map((x, j) => (j === i ? m : x))];
      }
    } else if (w && typeof w === 'object' && !(w instanceof Uint8Array)) {
      for (const k of Object.keys(w)) {
        const v = (w as Record<string, unknown>)[k];
        yield [`${path}.${k}`, { ...w, [k]: f(v) }];
        for (const [p, m] of mutations(v, f, `${path}.${k}`)) yield [p, { ...w, [k]: m }];
      }
    }
  }

  test('the golden wire forms decode (sanity)', () => {
    for (const [, w] of wires) expect(() => decodeRecord(wire(w), 0)).not.toThrow();
  });

  test('a wrong type anywhere is rejected', () => {
    let n = 0;
    for (const [name, w] of wires) {
      for (const [path, m] of mutations(w, wrongType)) {
        n++;
        let err: unknown;
        try {
          decodeRecord(wire(m), 5);
        } catch (e) {
          err = e;
        }
        expect(err, `${name}${path}`).toBeInstanceOf(RecordFormatError);
      }
    }
    expect(n).toBeGreaterThan(100);
  });

  test('a missing required key is rejected', () => {
    const optional = new Set([
      'un',
      'gn',
      'at',
      'ct',
      's',
      'l',
      'dv',
      'px',
      'xa',
      'sp',
      'o',
      'bl',
      'x',
      'xh',
    ]);
    for (const [name, w] of wires) {
      const check = (obj: Record<string, unknown>, rebuild: (o: unknown) => unknown) => {
        for (const k of Object.keys(obj)) {
          if (optional.has(k)) continue;
          const { [k]: _, ...rest } = obj;
          expect(() => decodeRecord(wire(rebuild(rest)), 0), `${name} without ${k}`).toThrow(
            RecordFormatError,
          );
        }
      };
      check(w, (o) => o);
      if (w.e) check(w.e as Record<string, unknown>, (e) => ({ ...w, e }));
    }
  });

  test.each([
    ['unknown record type 7', { t: 7 }, /unknown record type 7/],
    ['negative record type', { t: -1 }, /unknown record type/],
    ['record type as text', { t: 'tail' }, /unknown record type/],
    // Quoted within bounds: a megabyte of type does not make a megabyte of message.
    [
      'a record type of a megabyte',
      { t: 'x'.repeat(1 << 20) },
      /^[\s\S]{0,200}unknown record type "x{79}… \(1048578 characters\)[\s\S]{0,40}$/,
    ],
    [
      'an unknown key of a megabyte',
      { t: 5, ['k'.repeat(1 << 20)]: 1 },
      /^[\s\S]{0,200}unknown key "k{79}… \(1048578 characters\)[\s\S]{0,40}$/,
    ],
    ['no record type', {}, /unknown record type/],
    ['a record that is not a map', [5], /must be a map/],
    ['an unknown top-level key', { t: 5, x: 1 }, /unknown key "x"/],
    [
      'an unknown entry key',
      { t: 1, e: { p: '', f: '0', m: 0, u: 0, g: 0, mt: 0, zz: 1 }, r: new Uint8Array(0) },
      /unknown key "zz"/,
    ],
    ['a __proto__ key at top level', { t: 5, ['__proto__']: { t: 5 } }, /unknown key "__proto__"/],
    [
      'opaque false',
      {
        t: 2,
        p: 'a',
        o: false,
        e: cborDecode(encodeRecord(GOLDEN_RECORDS.delete!)).e,
        r: new Uint8Array(0),
      },
      /opaque must be true/,
    ],
    [
      'unsupported digest algorithm',
      { ...cborDecode(encodeRecord(LAYER)), dg: 'sha512' },
      /not supported/,
    ],
    ['unknown compression', { ...cborDecode(encodeRecord(LAYER)), cz: 'xz' }, /not known/],
    [
      'chunker with 3 items',
      { ...cborDecode(encodeRecord(LAYER)), ch: ['a', 1, 2] },
      /chunker must be/,
    ],
    ['chunk digest of 31 bytes', { t: 3, c: [new Uint8Array(31), 1] }, /32 bytes/],
    ['chunk digest of 33 bytes', { t: 3, c: [new Uint8Array(33), 1] }, /32 bytes/],
    ['chunk length 0', { t: 3, c: [fakeDigest(1), 0] }, /must not be 0/],
    ['negative chunk length', { t: 3, c: [fakeDigest(1), -1] }, /unsigned integer/],
    ['no chunk refs', { t: 3, c: [] }, /pairs/],
    ['an odd refs array', { t: 3, c: [fakeDigest(1), 1, fakeDigest(2)] }, /pairs/],
    ['empty padding', { t: 4, b: new Uint8Array(0) }, /1 to 511/],
    ['512 bytes of padding', { t: 4, b: new Uint8Array(512).fill(1) }, /1 to 511/],
    [
      'diffId of 31 bytes',
      { t: 6, id: new Uint8Array(31), s: 0, n: 0, nd: 0, nc: 0, db: 0 },
      /32 bytes/,
    ],
    [
      'blob digest of 0 bytes',
      {
        t: 6,
        id: fakeDigest(1),
        s: 0,
        n: 0,
        nd: 0,
        nc: 0,
        db: 0,
        bl: ['gzip', new Uint8Array(0), 1],
      },
      /32 bytes/,
    ],
    [
      'blob with 2 items',
      { t: 6, id: fakeDigest(1), s: 0, n: 0, nd: 0, nc: 0, db: 0, bl: ['gzip', fakeDigest(1)] },
      /blob must be/,
    ],
  ])('%s', (_name, w, message) => {
    expectRecordError(wire(w), message);
  });

  const meta = (extra: Record<string, unknown>) =>
    wire({ t: 1, e: { p: 'a', f: '0', m: 0, u: 0, g: 0, mt: 0, ...extra }, r: new Uint8Array(0) });

  test.each([
    ['typeflag of 0 characters', { f: '' }, /one character/],
    ['typeflag of 2 characters', { f: '00' }, /one character/],
    ['typeflag beyond U+00FF', { f: '\u0100' }, /U\+0000 to U\+00FF/],
    ['nsec of 1e9', { mt: [0, 1e9] }, /out of range/],
    ['negative nsec', { mt: [0, -1] }, /unsigned/],
    ['a timestamp of 3 items', { mt: [0, 1, 2] }, /\[sec, nsec\]/],
    ['negative mode', { m: -1 }, /unsigned/],
    ['negative size', { s: -5 }, /unsigned/],
    ['dev of 1 item', { dv: [1] }, /\[major, minor\]/],
    ['sparse of 1 item', { sp: ['1.0'] }, /2 or 3 items/],
    ['sparse of 4 items', { sp: ['1.0', 1, [], 0] }, /2 or 3 items/],
    ['an odd sparse map', { sp: ['1.0', 1, [0]] }, /pairs/],
    ['a pax value that is bytes', { px: { a: new Uint8Array(1) } }, /text string/],
    ['an xattr value that is text', { xa: { a: 'x' } }, /byte string/],
  ])('entry with %s', (_name, extra, message) => {
    expectRecordError(meta(extra), message);
  });

  test('__proto__ keys in pax and xattrs become own properties', () => {
    const pax: Record<string, unknown> = {};
    Object.defineProperty(pax, '__proto__', { value: 'p', enumerable: true });
    const xa: Record<string, unknown> = {};
    Object.defineProperty(xa, '__proto__', { value: Uint8Array.of(1), enumerable: true });
    const r = decodeRecord(meta({ px: pax, xa }), 0) as IndexRecord & { type: 'entry' };
    expect(Object.getPrototypeOf(r.entry.pax)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(r.entry.xattrs)).toBe(Object.prototype);
    expect(Object.hasOwn(r.entry.pax, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(r.entry.pax, '__proto__')?.value).toBe('p');
    expect(Object.getOwnPropertyDescriptor(r.entry.xattrs, '__proto__')?.value).toEqual(
      Uint8Array.of(1),
    );
    expect(({} as Record<string, unknown>).p).toBeUndefined();
    // and they encode back to the same bytes
    expect(encodeRecord(r)).toEqual(meta({ px: pax, xa }));
  });

  test('a record of more than 2^20 data items is refused before they are all built', () => {
    // {t: 5, x: [N empty maps]}: one byte an item, an object each once decoded.
    const n = 2 ** 20 + 1;
    const head = Uint8Array.of(0xa2, 0x61, 0x74, 0x05, 0x61, 0x78, 0x9a, 0, 0, 0, 0);
    new DataView(head.buffer).setUint32(7, n);
    const bytes = concat([head, new Uint8Array(n).fill(0xa0)]);
    expect(() => decodeRecord(bytes, 0)).toThrow(/more than 1048576 data items in one record/);
    // A big sparse map the default limits let through (pax 0.1 in 1 MiB) still decodes.
    const e = GOLDEN_RECORDS.entryFull! as IndexRecord & { type: 'entry' };
    const map = Array.from({ length: 150_000 }, (_, i): [number, number] => [i * 1024, 512]);
    const big = {
      ...e,
      entry: { ...e.entry, sparse: { format: 'pax-0.1', realSize: 2 ** 40, map } },
    };
    expect((decodeRecord(encodeRecord(big), 0) as typeof e).entry.sparse?.map).toHaveLength(
      150_000,
    );
  });

  test('a record with a number a reader would refuse is not encoded', () => {
    const e = GOLDEN_RECORDS.entryFull! as IndexRecord & { type: 'entry' };
    for (const sec of [-(2 ** 53), 2 ** 53, 1.5]) {
      const bad = { ...e, entry: { ...e.entry, mtime: { sec, nsec: 0 } } };
      expect(() => encodeRecord(bad)).toThrow(UsageError);
    }
  });

  test('byte strings decode as plain Uint8Arrays from a Buffer input', () => {
    const r = decodeRecord(Buffer.from(encodeRecord(GOLDEN_RECORDS.entryFull!)), 0);
    expect(r).toEqual(GOLDEN_RECORDS.entryFull);
    expect((r as IndexRecord & { type: 'entry' }).raw.constructor).toBe(Uint8Array);
  });
});

describe('order grammar', () => {
  const entry = (size: number, path = 'f'): IndexRecord => ({
    type: 'entry',
    entry: minimalMeta(path, size),
    raw: new Uint8Array(512),
  });
  const del = (path = 'x'): IndexRecord => ({
    type: 'delete',
    path,
    opaque: false,
    entry: minimalMeta(`.wh.${path}`),
    raw: new Uint8Array(512),
  });
  const chunks = (...lengths: number[]): IndexRecord => ({
    type: 'chunks',
    refs: lengths.map((length, i) => ({ digest: fakeDigest(i), length })),
  });
  const end = (totals: Partial<IndexRecord & { type: 'end' }>): IndexRecord => ({
    ...END0,
    ...totals,
  });
  /** Offset of record `i` in `indexBytes(records)`. */
  const at = (records: IndexRecord[], i: number) =>
    8 + records.slice(0, i).reduce((n, r) => n + encodeFrame(r).length, 0);
  const bad = async (records: IndexRecord[], message: RegExp) =>
    expectIndexError(indexBytes(records), message, at(records, records.length - 1));

  test('a valid index with every record kind passes', async () => {
    const records = [
      LAYER,
      entry(700),
      chunks(600, 100),
      { type: 'padding', bytes: new Uint8Array(324).fill(1) } as IndexRecord,
      del(),
      { type: 'tail' } as IndexRecord,
      chunks(1024),
      end({ size: 512 + 1024 + 512 + 1024, entries: 1, deletions: 1, chunks: 3, dataBytes: 1724 }),
    ];
    const { records: got, error } = await decodeIndex(indexBytes(records), 7);
    expect(error).toBeUndefined();
    expect(got).toEqual(records);
  });

  test.each<[string, IndexRecord[], RegExp]>([
    ['first record not a layer', [{ type: 'tail' }], /must start with a layer record, not tail/],
    ['a second layer record', [LAYER, LAYER], /second layer record/],
    ['version 3', [{ ...LAYER, version: 3 } as IndexRecord], /version 3 is not supported/],
    ['version 0', [{ ...LAYER, version: 0 } as IndexRecord], /version 0 is not supported/],
    ['chunks right after the layer', [LAYER, chunks(5)], /chunks record outside a body/],
    [
      'chunks after padding',
      [
        LAYER,
        entry(1),
        chunks(1),
        { type: 'padding', bytes: new Uint8Array(511).fill(1) },
        chunks(1),
      ],
      /outside a body/,
    ],
    ['chunks beyond the entry size', [LAYER, entry(10), chunks(5, 6)], /more than the entry size/],
    ['chunks for an empty body', [LAYER, entry(0), chunks(1)], /more than the entry size/],
    ['a body short of its size', [LAYER, entry(10), chunks(5), del()], /5 bytes short/],
    [
      'a body short of its size before end',
      [LAYER, entry(10), end({ entries: 1, size: 1024 })],
      /10 bytes short/,
    ],
    [
      'padding before the body is complete',
      [LAYER, entry(10), chunks(5), { type: 'padding', bytes: new Uint8Array(502).fill(1) }],
      /padding record out of place/,
    ],
    [
      'padding of the wrong length',
      [LAYER, entry(10), chunks(10), { type: 'padding', bytes: new Uint8Array(501).fill(1) }],
      /wrong length/,
    ],
    [
      'padding after a 512-byte body',
      [LAYER, entry(512), chunks(512), { type: 'padding', bytes: Uint8Array.of(1) }],
      /wrong length/,
    ],
    [
      'all-zero padding',
      [LAYER, entry(10), chunks(10), { type: 'padding', bytes: new Uint8Array(502) }],
      /all zeros/,
    ],
    ['padding at top level', [LAYER, { type: 'padding', bytes: Uint8Array.of(1) }], /out of place/],
    [
      'padding in the tail',
      [LAYER, { type: 'tail' }, { type: 'padding', bytes: Uint8Array.of(1) }],
      /out of place/,
    ],
    ['an entry after the tail', [LAYER, { type: 'tail' }, entry(0)], /entry record after the tail/],
    ['a second tail', [LAYER, { type: 'tail' }, { type: 'tail' }], /tail record after the tail/],
    [
      'end counting too many entries',
      [LAYER, end({ entries: 1 })],
      /counts 1 entries, index has 0/,
    ],
    [
      'end counting too few deletions',
      [LAYER, del(), end({ size: 512 })],
      /counts 0 deletions, index has 1/,
    ],
    [
      'end counting wrong chunks',
      [LAYER, entry(3), chunks(1, 2), end({ entries: 1, size: 1024, chunks: 1, dataBytes: 3 })],
      /counts 1 chunks, index has 2/,
    ],
    [
      'end counting wrong data bytes',
      [LAYER, { type: 'tail' }, chunks(4), end({ size: 4, chunks: 1, dataBytes: 5 })],
      /counts 5 data bytes, index has 4/,
    ],
    [
      'end with a blob for an uncompressed layer',
      [LAYER, end({ blob: { compression: 'gzip', digest: fakeDigest(2), size: 1 } })],
      /describes a gzip blob, layer record says none/,
    ],
    [
      'end with a "none" blob',
      [LAYER, end({ blob: { compression: 'none', digest: fakeDigest(2), size: 1 } })],
      /describes a none blob/,
    ],
    [
      'end without the blob of a compressed layer',
      [{ ...LAYER, compression: 'zstd' } as IndexRecord, end({})],
      /describes no blob, layer record says zstd/,
    ],
    [
      'end with a blob of another compression',
      [
        { ...LAYER, compression: 'zstd' } as IndexRecord,
        end({ blob: { compression: 'gzip', digest: fakeDigest(2), size: 1 } }),
      ],
      /describes a gzip blob, layer record says zstd/,
    ],
    [
      'end with the wrong tar size',
      [LAYER, entry(3), chunks(3), end({ size: 515, entries: 1, chunks: 1, dataBytes: 3 })],
      /tar size of 515 bytes, index describes 1024/,
    ],
  ])('%s', async (_name, records, message) => {
    await bad(records, message);
  });

  test('a later version is reported as such, whatever keys its layer record has', () => {
    const v3 = cborEncode({ ...cborDecode(encodeRecord(LAYER)), v: 3, zz: [1, 2], ch: 'x' });
    expectRecordError(v3, /version 3 is not supported \(this reader knows 1 to 2\)/);
  });

  test('records after the end record', async () => {
    const records = [LAYER, END0, { type: 'tail' } as IndexRecord];
    await expectIndexError(indexBytes(records), /after the end record/, at(records, 2));
  });

  test('a missing end record', async () => {
    const records = [LAYER, entry(0)];
    await expectIndexError(indexBytes(records), /before its end record/, at(records, 2));
    await expectIndexError(indexBytes(records), /before its end record/, at(records, 2), 1);
  });

  test('an index with no records', async () => {
    await expectIndexError(INDEX_MAGIC, /before its end record/, 8);
  });

  test('records are emitted before a later error', async () => {
    const { records, error } = await decodeIndex(
      indexBytes([LAYER, entry(0), rawFrame(unhex('ff'))]),
    );
    expect(records).toEqual([LAYER, entry(0)]);
    expect(error).toBeInstanceOf(RecordFormatError);
  });
});
