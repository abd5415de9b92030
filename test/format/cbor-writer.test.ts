/** The record writer's CBOR against cborg's: the same bytes for whatever it takes. */
import { encode } from 'cborg';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { DECLINED, NO_ROOM, writeCbor } from '../../src/format/cbor-writer.js';
import { encodeRecord, encodeRecordInto } from '../../src/format/codec.js';
import { FORMAT_VERSION } from '../../src/format/records.js';
import { anyRecord } from './arbitraries.js';
import { minimalMeta } from './helpers.js';

const out = new Uint8Array(1 << 20);
const written = (value: unknown) => {
  const n = writeCbor(value, out);
  return n >= 0 ? out.slice(0, n) : n;
};

const edges = [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
const integer = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(...edges, ...edges.map((n) => -n - 1), -0),
);
const key = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom(
    'a',
    'b',
    'aa',
    'B',
    '__proto__',
    'constructor',
    '1',
    '10',
    '2',
    'é',
    '\u{1F600}',
  ),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    integer,
    fc.boolean(),
    fc.string({ maxLength: 300 }),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.uint8Array({ maxLength: 300 }),
    fc.constantFrom(null, undefined, 1.5, Number.NaN, 2 ** 53),
    fc.array(tie('value'), { maxLength: 30 }),
    fc.dictionary(key, tie('value'), { maxKeys: 30 }),
  ),
}));

describe('writeCbor', () => {
  test('writes what cborg writes for every value it takes, and takes ASCII-keyed data', () => {
    let taken = 0;
    fc.assert(
      fc.property(value, (v) => {
        const mine = written(v);
        if (mine === DECLINED) return;
        taken++;
        expect(mine).toEqual(Uint8Array.from(encode(v)));
      }),
      { numRuns: 3000, seed: 0x5c0 },
    );
    expect(taken).toBeGreaterThan(1000);
  });

  test('declines what is not a safe integer, boolean, ASCII text, bytes, array or plain map', () => {
    for (const v of [
      null,
      undefined,
      1.5,
      2 ** 53,
      Number.NaN,
      10n,
      'é',
      { é: 1 },
      { a: undefined },
      [1, undefined],
      new Map(),
      new Uint16Array(2),
      new Date(0),
      Object.create(null),
    ]) {
      expect(writeCbor(v, out)).toBe(DECLINED);
    }
    let deep: unknown = 1;
    for (let i = 0; i < 20; i++) deep = [deep];
    expect(writeCbor(deep, out)).toBe(DECLINED);
  });

  test('writes a Buffer as a byte string, as cborg does', () => {
    const v = { d: Buffer.from([1, 2, 3]), e: [Buffer.alloc(40, 7)] };
    expect(written(v)).toEqual(Uint8Array.from(encode(v)));
  });

  test('says when the value does not fit, at every size short of it', () => {
    const v = { path: 'a/b', refs: [new Uint8Array(40), 70000, -3], o: true };
    const whole = encode(v);
    for (let n = 0; n < whole.length; n++) {
      expect(writeCbor(v, new Uint8Array(n))).toBe(NO_ROOM);
    }
    const exact = new Uint8Array(whole.length);
    expect(writeCbor(v, exact)).toBe(whole.length);
    expect(exact).toEqual(Uint8Array.from(whole));
  });

  test('records encoded into a buffer are the bytes encodeRecord gives', () => {
    fc.assert(
      fc.property(anyRecord, fc.constantFrom(1, FORMAT_VERSION), (r, version) => {
        const n = encodeRecordInto(r, version, out);
        expect(n).toBeDefined();
        expect(out.slice(0, n)).toEqual(Uint8Array.from(encodeRecord(r, version)));
      }),
      { numRuns: 1000, seed: 0x5c1 },
    );
    // An ASCII record goes through the writer; one with other text through cborg. Same bytes.
    const ascii = { type: 'entry' as const, entry: minimalMeta('a/b'), raw: new Uint8Array(512) };
    const unicode = { ...ascii, entry: { ...ascii.entry, pax: { é: 'ü' } } };
    for (const r of [ascii, unicode]) {
      const n = encodeRecordInto(r, FORMAT_VERSION, out);
      expect(out.slice(0, n)).toEqual(Uint8Array.from(encodeRecord(r)));
    }
  });
});
