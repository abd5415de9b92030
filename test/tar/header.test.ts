import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TarFormatError, TarLimitError, UsageError } from '../../src/errors.js';
import {
  decodeGnuSparseBlock,
  decodeHeaderBlock,
  encodeHeader,
  encodePaxRecords,
  entryKind,
  formatPaxTime,
  headerChecksums,
  isExtensionType,
  isHeaderOnlyType,
  isZeroBlock,
  paddingSize,
  parseNumericField,
  parsePaxRecords,
  parsePaxTime,
  resolveEntry,
  type TarHeaderInput,
} from '../../src/tar/index.js';
import { concatBytes, fixChecksum, rawHeader, setField, summarize, tokenize } from './helpers.js';

// Deterministic property runs: the same cases on every run and machine.
fc.configureGlobal({ seed: 20240601 });

const enc = new TextEncoder();
const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

describe('parseNumericField', () => {
  it('reads octal with the terminators and padding real tars use', () => {
    expect(parseNumericField(bytes('0000644\0'))).toBe(0o644);
    expect(parseNumericField(bytes('000644 \0'))).toBe(0o644);
    expect(parseNumericField(bytes('   644 \0'))).toBe(0o644);
    expect(parseNumericField(bytes('00000644'))).toBe(0o644); // unterminated, fills the field
    expect(parseNumericField(bytes('\0\0\0\0\0\0\0\0'))).toBe(0);
    expect(parseNumericField(bytes('        '))).toBe(0);
    expect(parseNumericField(bytes('\0   17\0'))).toBe(0o17); // leading NUL after an overflow
    expect(parseNumericField(bytes('644\0junk'))).toBe(0o644); // ignored after the terminator
    expect(parseNumericField(bytes('777777777777'))).toBe(8 ** 12 - 1);
  });

  it('rejects non-octal characters with TarFormatError', () => {
    for (const s of ['0000648\0', '12x4567\0', '-000001\0', '0x1f\0\0\0\0']) {
      const err = (() => {
        try {
          parseNumericField(bytes(s), { offset: 1024, path: 'p' }, 'mode');
        } catch (e) {
          return e;
        }
      })();
      expect(err, s).toBeInstanceOf(TarFormatError);
      expect((err as TarFormatError).code).toBe('ERR_TAR_FORMAT');
      expect((err as TarFormatError).location).toEqual({ offset: 1024, path: 'p' });
    }
    // ' 1 2': the space after 1 terminates, so this one is actually fine per GNU rules.
  });

  it('reads base-256, positive and negative', () => {
    expect(parseNumericField(Uint8Array.of(0x80, 0, 0, 0, 0, 0, 0, 1))).toBe(1);
    expect(parseNumericField(Uint8Array.of(0x80, 0, 0, 1, 0, 0, 0, 0))).toBe(2 ** 32);
    expect(parseNumericField(new Uint8Array(12).fill(0xff))).toBe(-1);
    const m2 = new Uint8Array(12).fill(0xff);
    m2[11] = 0xfe;
    expect(parseNumericField(m2)).toBe(-2);
    const neg1000 = new Uint8Array(12).fill(0xff);
    neg1000[10] = 0xfc;
    neg1000[11] = 0x18;
    expect(parseNumericField(neg1000)).toBe(-1000);
    // 0x80 marker with value bits in the first byte's low bits (GNU writes 0x80 then data).
    expect(parseNumericField(Uint8Array.of(0x81, 0))).toBe(256);
    // -(2^53 - 1) is the least; -2^53 is not a safe integer (an index could not hold it).
    const least = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xe0, 0, 0, 0, 0, 0, 1);
    expect(parseNumericField(least)).toBe(-Number.MAX_SAFE_INTEGER);
    const below = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xe0, 0, 0, 0, 0, 0, 0);
    expect(() => parseNumericField(below)).toThrow(TarLimitError);
  });

  it('base-256 round-trips any safe integer (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }), (n) => {
        const b = new Uint8Array(12);
        let v = BigInt(n);
        for (let i = 11; i >= 0; i--) {
          b[i] = Number(BigInt.asUintN(8, v));
          v >>= 8n;
        }
        b[0] = n < 0 ? 0xff : 0x80;
        expect(parseNumericField(b)).toBe(n);
      }),
    );
  });

  it('throws TarLimitError beyond Number.MAX_SAFE_INTEGER', () => {
    const big = Uint8Array.of(0x80, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0); // 2^53
    expect(() => parseNumericField(big)).toThrow(TarLimitError);
    expect(() => parseNumericField(new Uint8Array(12).fill(0x80))).toThrow(TarLimitError);
  });
});

describe('header blocks', () => {
  it('detects zero blocks', () => {
    expect(isZeroBlock(new Uint8Array(512))).toBe(true);
    const b = new Uint8Array(512);
    b[511] = 1;
    expect(isZeroBlock(b)).toBe(false);
  });

  it('accepts signed and unsigned checksums, rejects others', () => {
    const b = rawHeader({ name: 'caf\xe9-\xff\xfe' });
    const { unsigned, signed } = headerChecksums(b);
    expect(signed).toBeLessThan(unsigned);
    expect(decodeHeaderBlock(b).name).toBe('caf\ufffd-\ufffd\ufffd');
    setField(b, 148, 8, `${signed.toString(8).padStart(6, '0')}\0 `);
    expect(decodeHeaderBlock(b).size).toBe(0);
    setField(b, 148, 8, `${(signed + 1).toString(8).padStart(6, '0')}\0 `);
    expect(() => decodeHeaderBlock(b, 4096)).toThrow(/checksum.*at tar offset 4096/);
    expect(() => decodeHeaderBlock(b, 4096)).toThrow(TarFormatError);
  });

  it('detects the format and joins the ustar prefix', () => {
    const u = rawHeader({ name: 'name.txt' });
    setField(u, 345, 155, 'some/prefix');
    fixChecksum(u);
    expect(decodeHeaderBlock(u)).toMatchObject({ format: 'ustar', name: 'some/prefix/name.txt' });
    const g = rawHeader({ name: 'name.txt', magic: 'gnu' });
    expect(decodeHeaderBlock(g)).toMatchObject({ format: 'gnu', name: 'name.txt' });
    const v = rawHeader({ name: 'name.txt', magic: 'v7' });
    expect(decodeHeaderBlock(v)).toMatchObject({ format: 'v7', uname: '', devmajor: 0 });
    // Prefix bytes of a GNU header are atime/ctime, not a path prefix.
    setField(g, 345, 12, '14000000001\0');
    fixChecksum(g);
    expect(decodeHeaderBlock(g)).toMatchObject({ name: 'name.txt', atime: 0o14000000001 });
    // Unless they are not times: Go before 1.8 wrote a ustar prefix there under the GNU magic,
    // and Go, which unpacks such layers, reads it as a prefix.
    const go = rawHeader({ name: 'name.txt', magic: 'gnu' });
    setField(go, 345, 155, 'usr/share/some/dir');
    fixChecksum(go);
    const h = decodeHeaderBlock(go);
    expect(h).toMatchObject({ format: 'gnu', name: 'usr/share/some/dir/name.txt' });
    expect(h.atime).toBeUndefined();
    expect(h.ctime).toBeUndefined();
    // Bytes that are neither times nor ASCII are dropped.
    setField(go, 345, 155, [0xff, 0xfe, 0x41]);
    fixChecksum(go);
    expect(decodeHeaderBlock(go)).toMatchObject({ name: 'name.txt' });
  });

  it('keeps the typeflag raw and names a format error with path and offset', () => {
    expect(decodeHeaderBlock(rawHeader({ typeflag: '\0' })).typeflag).toBe('\0');
    expect(decodeHeaderBlock(rawHeader({ typeflag: 'V' })).typeflag).toBe('V');
    const bad = rawHeader({ name: 'x/y', mode: '06x4\0\0\0\0' });
    expect(() => decodeHeaderBlock(bad, 512)).toThrow(
      /invalid octal mode.*"x\/y" at tar offset 512/,
    );
  });

  it('rejects negative sizes', () => {
    const b = rawHeader({
      size: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0],
    });
    expect(() => decodeHeaderBlock(b)).toThrow(/negative size/);
  });
});

describe('typeflags', () => {
  it('follows Go for header-only types', () => {
    for (const t of '123456') expect(isHeaderOnlyType(t), t).toBe(true);
    for (const t of ['0', '\0', '7', 'S', 'D', 'V', 'M', 'N', 'A', 'Z', 'x', 'L']) {
      expect(isHeaderOnlyType(t), t).toBe(false);
    }
    for (const t of ['x', 'X', 'g', 'L', 'K']) expect(isExtensionType(t)).toBe(true);
    expect(isExtensionType('0')).toBe(false);
  });

  it('maps kinds, with old trailing-slash directories', () => {
    expect(entryKind('\0', 'dir/')).toBe('directory');
    expect(entryKind('\0', 'file')).toBe('file');
    expect(entryKind('0', 'dir/')).toBe('file');
    expect(entryKind('7', 'c')).toBe('contiguous');
    expect(entryKind('S', 's')).toBe('gnu-sparse');
    for (const t of ['D', 'V', 'M', 'N', 'A', 'z']) expect(entryKind(t, 'p')).toBe('other');
  });

  it('v7 trailing-slash directory: kind directory, no body (tokenizer)', async () => {
    const tar = concatBytes([
      rawHeader({ name: 'olddir/', typeflag: '\0', magic: 'v7' }),
      new Uint8Array(1024),
    ]);
    const { entries } = summarize(await tokenize(tar));
    expect(entries[0]!.entry).toMatchObject({ kind: 'directory', path: 'olddir/', bodySize: 0 });
  });
});

describe('pax records', () => {
  it('parses records, keeping repeats, newlines and "=" inside values', () => {
    const data = enc.encode('10 path=a\n13 k=v=w\nxyz\n23 GNU.sparse.offset=0\n');
    const recs = parsePaxRecords(data);
    expect(recs.map((r) => [r.key, new TextDecoder().decode(r.value)])).toEqual([
      ['path', 'a'],
      ['k', 'v=w\nxyz'],
      ['GNU.sparse.offset', '0'],
    ]);
    expect(parsePaxRecords(new Uint8Array(0))).toEqual([]);
    // NUL padding after the records ends them, as GNU tar and Python's tarfile read it.
    const padded = parsePaxRecords(enc.encode('10 path=a\n\0\0\0'));
    expect(padded.map((r) => r.key)).toEqual(['path']);
  });

  it('rejects malformed records with TarFormatError', () => {
    const bad = [
      'abc path=a\n', // length not decimal
      ' 10 path=a\n', // leading space
      '10path=abc\n', // no space
      '11 path=a\n', // length runs past the data
      '8 path=a\n', // length too short (does not end at newline)
      '10 path=ab', // no newline
      '7 =abc\n', // empty key
      '8 pathx\n', // no '='
      '10 path=a\n\0\0x', // NULs, then more
      '99999999999999999 a=b\n', // absurd length
      '3 \n', // too short
    ];
    for (const s of bad) {
      expect(() => parsePaxRecords(enc.encode(s), { offset: 7 }), JSON.stringify(s)).toThrow(
        TarFormatError,
      );
    }
  });

  it('encodes records whose length crosses digit boundaries (property: round trip)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.string({ minLength: 1, maxLength: 30 }).filter((k) => !k.includes('=')),
            fc.string({ maxLength: 1200 }),
          ),
          { maxLength: 5 },
        ),
        (records) => {
          const data = encodePaxRecords(records);
          const back = parsePaxRecords(data).map((r) => [r.key, new TextDecoder().decode(r.value)]);
          expect(back).toEqual(
            records.map(([k, v]) => [k, new TextDecoder().decode(enc.encode(v))]),
          );
        },
      ),
    );
    for (const n of [1, 2, 3, 4, 5, 6, 91, 92, 93, 94, 95, 96, 97, 990, 991, 992, 993, 994, 995]) {
      const data = encodePaxRecords([['k', 'v'.repeat(n)]]);
      expect(parsePaxRecords(data)[0]!.value.length).toBe(n);
    }
  });

  it('parses times to {sec, nsec} with nsec in [0, 1e9)', () => {
    expect(parsePaxTime('1600000000')).toEqual({ sec: 1600000000, nsec: 0 });
    expect(parsePaxTime('1600000000.5')).toEqual({ sec: 1600000000, nsec: 500000000 });
    expect(parsePaxTime('1.123456789987')).toEqual({ sec: 1, nsec: 123456789 });
    expect(parsePaxTime('-1.5')).toEqual({ sec: -2, nsec: 500000000 });
    expect(parsePaxTime('-0.25')).toEqual({ sec: -1, nsec: 750000000 });
    expect(parsePaxTime('-7')).toEqual({ sec: -7, nsec: 0 });
    expect(parsePaxTime('12.')).toEqual({ sec: 12, nsec: 0 });
    for (const s of ['', '1e5', '1.2.3', 'abc', '.5', '1,5']) {
      expect(() => parsePaxTime(s), s).toThrow(TarFormatError);
    }
    expect(parsePaxTime('-9007199254740991')).toEqual({ sec: -Number.MAX_SAFE_INTEGER, nsec: 0 });
    expect(() => parsePaxTime('-9007199254740991.5')).toThrow(TarLimitError);
    expect(() => parsePaxTime('99999999999999999999')).toThrow(TarLimitError);
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
        fc.integer({ min: 0, max: 999999999 }),
        (sec, nsec) => {
          expect(parsePaxTime(formatPaxTime({ sec, nsec }))).toEqual({ sec, nsec });
        },
      ),
    );
  });
});

describe('resolveEntry', () => {
  const recs = (...pairs: Array<[string, string | Uint8Array]>) =>
    parsePaxRecords(encodePaxRecords(pairs));

  it('applies precedence: GNU.sparse.name > pax path > GNU long name > header name', () => {
    const h = decodeHeaderBlock(rawHeader({ name: 'header-name' }));
    expect(resolveEntry(h).path).toBe('header-name');
    expect(resolveEntry(h, { longName: enc.encode('long') }).path).toBe('long');
    const local = recs(['path', 'pax-path']);
    expect(resolveEntry(h, { longName: enc.encode('long'), localPax: local }).path).toBe(
      'pax-path',
    );
    const sparse = recs(['path', 'p'], ['GNU.sparse.name', 'real']);
    expect(resolveEntry(h, { localPax: sparse }).path).toBe('real');
  });

  it('merges global and local records, an empty local value deleting', () => {
    const h = decodeHeaderBlock(rawHeader({ name: 'f', size: 5 }));
    const globalPax = new Map([
      ['comment', enc.encode('g')],
      ['uname', enc.encode('gu')],
    ]);
    const e = resolveEntry(h, { globalPax, localPax: recs(['comment', ''], ['size', '9']) });
    expect(e.pax).toEqual({ uname: 'gu', size: '9' });
    expect([e.uname, e.size, e.bodySize]).toEqual(['gu', 9, 9]);
  });

  it('reads an empty local xattr value as an empty xattr, as GNU tar and libarchive do', () => {
    const h = decodeHeaderBlock(rawHeader({ name: 'f' }));
    const globalPax = new Map([['SCHILY.xattr.user.g', enc.encode('abc')]]);
    const e = resolveEntry(h, {
      globalPax,
      localPax: recs(
        ['SCHILY.xattr.user.empty', ''],
        ['LIBARCHIVE.xattr.user.e2', ''],
        ['SCHILY.xattr.user.g', ''],
        ['comment', ''],
      ),
    });
    expect(e.xattrs).toEqual({
      'user.empty': new Uint8Array(0),
      'user.e2': new Uint8Array(0),
      'user.g': new Uint8Array(0),
    });
  });

  it('gives header-only types no body even with a pax size', () => {
    const h = decodeHeaderBlock(rawHeader({ name: 'd/', typeflag: '5', size: 100 }));
    const e = resolveEntry(h, { localPax: recs(['size', '1000']) });
    expect([e.kind, e.size, e.bodySize]).toEqual(['directory', 1000, 0]);
  });

  it('decodes SCHILY and LIBARCHIVE xattrs, safe against __proto__', () => {
    const h = decodeHeaderBlock(rawHeader({}));
    const e = resolveEntry(h, {
      localPax: recs(
        ['SCHILY.xattr.user.raw', Uint8Array.of(0, 255, 10)],
        ['LIBARCHIVE.xattr.user.with%20space', 'aGVsbG8'], // "hello", no padding
        ['LIBARCHIVE.xattr.user.url', '-_8'], // base64url alphabet
        ['SCHILY.xattr.__proto__', 'x'],
        ['__proto__', 'y'],
      ),
    });
    expect(e.xattrs['user.raw']).toEqual(Uint8Array.of(0, 255, 10));
    expect(new TextDecoder().decode(e.xattrs['user.with space'])).toBe('hello');
    expect(e.xattrs['user.url']).toEqual(Uint8Array.of(0xfb, 0xff));
    expect(Object.getPrototypeOf(e.xattrs)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(e.pax)).toBe(Object.prototype);
    expect(Object.keys(e.pax)).toContain('__proto__');
  });

  it('rejects malformed pax numbers and times', () => {
    const h = decodeHeaderBlock(rawHeader({}));
    for (const [k, v] of [
      ['size', '-1'],
      ['size', '12a'],
      ['uid', ''],
      ['mtime', 'yesterday'],
      ['GNU.sparse.map', '1,2,3'],
    ] as const) {
      if (v === '') continue; // empty means delete, not an error
      expect(() => resolveEntry(h, { localPax: recs([k, v]) }), `${k}=${v}`).toThrow(
        TarFormatError,
      );
    }
    expect(() => resolveEntry(h, { localPax: recs(['size', '9007199254740993']) })).toThrow(
      TarLimitError,
    );
  });

  it('reads pax sparse 0.0, 0.1 and 1.0 descriptions', () => {
    const h = decodeHeaderBlock(rawHeader({ size: 30 }));
    const v00 = resolveEntry(h, {
      localPax: recs(
        ['GNU.sparse.size', '1000'],
        ['GNU.sparse.numblocks', '2'],
        ['GNU.sparse.offset', '0'],
        ['GNU.sparse.numbytes', '10'],
        ['GNU.sparse.offset', '500'],
        ['GNU.sparse.numbytes', '20'],
      ),
    });
    expect(v00.sparse).toEqual({
      format: 'pax-0.0',
      realSize: 1000,
      map: [
        [0, 10],
        [500, 20],
      ],
    });
    const v01 = resolveEntry(h, {
      localPax: recs(['GNU.sparse.size', '1000'], ['GNU.sparse.map', '0,10,500,20']),
    });
    expect(v01.sparse?.format).toBe('pax-0.1');
    expect(v01.sparse?.map).toEqual(v00.sparse?.map);
    const v10 = resolveEntry(h, {
      localPax: recs(
        ['GNU.sparse.major', '1'],
        ['GNU.sparse.minor', '0'],
        ['GNU.sparse.realsize', '1000'],
      ),
    });
    expect(v10.sparse).toEqual({ format: 'pax-1.0', realSize: 1000 });
  });
});

describe('old GNU sparse', () => {
  function sparseHeader(entries: Array<[number, number]>, isExtended: boolean) {
    const b = rawHeader({ name: 'sp', typeflag: 'S', magic: 'gnu', size: 1536 });
    entries.forEach(([o, n], i) => {
      setField(b, 386 + i * 24, 12, `${o.toString(8).padStart(11, '0')}\0`);
      setField(b, 398 + i * 24, 12, `${n.toString(8).padStart(11, '0')}\0`);
    });
    b[482] = isExtended ? 1 : 0;
    setField(b, 483, 12, `${(100000).toString(8).padStart(11, '0')}\0`);
    return fixChecksum(b);
  }
  function extBlock(entries: Array<[number, number]>, isExtended: boolean) {
    const b = new Uint8Array(512);
    entries.forEach(([o, n], i) => {
      setField(b, i * 24, 12, `${o.toString(8).padStart(11, '0')}\0`);
      setField(b, 12 + i * 24, 12, `${n.toString(8).padStart(11, '0')}\0`);
    });
    b[504] = isExtended ? 1 : 0;
    return b;
  }
  const seg = (n: number, base: number) =>
    Array.from({ length: n }, (_, i): [number, number] => [base + i * 1000, 512]);

  it('decodes the header map, realsize and extension flag', () => {
    const h = decodeHeaderBlock(sparseHeader(seg(2, 0), false));
    expect(h.gnuSparse).toEqual({ map: seg(2, 0), isExtended: false, realSize: 100000 });
    expect(decodeHeaderBlock(sparseHeader(seg(4, 0), true)).gnuSparse?.isExtended).toBe(true);
    expect(decodeGnuSparseBlock(extBlock(seg(21, 4000), true))).toEqual({
      map: seg(21, 4000),
      isExtended: true,
    });
    expect(decodeGnuSparseBlock(extBlock(seg(3, 0), true))).toEqual({
      map: seg(3, 0),
      isExtended: true,
    });
  });

  it('tokenizes a header with two extension blocks', async () => {
    const tar = concatBytes([
      sparseHeader(seg(4, 0), true),
      extBlock(seg(21, 4000), true),
      extBlock(seg(2, 25000), false),
      new Uint8Array(1536).fill(7),
      new Uint8Array(1024),
    ]);
    for (const size of [tar.length, 1, 100, 512]) {
      const { entries, tail } = summarize(await tokenize(tar, size));
      expect(entries).toHaveLength(1);
      const e = entries[0]!;
      expect(e.raw.length).toBe(1536);
      expect(e.body.length).toBe(1536);
      expect(tail.length).toBe(1024);
      expect(e.entry.sparse).toEqual({
        format: 'gnu-old',
        realSize: 100000,
        map: [...seg(4, 0), ...seg(21, 4000), ...seg(2, 25000)],
      });
    }
  });
});

describe('encodeHeader', () => {
  const decodeAll = async (parts: Uint8Array[]) =>
    summarize(await tokenize(concatBytes([...parts, new Uint8Array(1024)]))).entries.map(
      (e) => e.entry,
    );

  it('writes a plain ustar header when everything fits', () => {
    const h = encodeHeader({ path: 'a/b.txt', size: 5, mtime: 1700000000, uname: 'root' });
    expect(h.length).toBe(512);
    expect(decodeHeaderBlock(h)).toMatchObject({
      name: 'a/b.txt',
      size: 5,
      mtime: 1700000000,
      format: 'ustar',
      typeflag: '0',
      uname: 'root',
      mode: 0o644,
    });
  });

  it('splits long ASCII paths into prefix and name before resorting to pax', () => {
    const path = `${'p'.repeat(150)}/${'n'.repeat(99)}`;
    const h = encodeHeader({ path });
    expect(h.length).toBe(512);
    expect(decodeHeaderBlock(h).name).toBe(path);
    expect(encodeHeader({ path: 'x'.repeat(101) }).length).toBeGreaterThan(512);
  });

  it('falls back to pax records and round-trips through the tokenizer', async () => {
    const inputs: TarHeaderInput[] = [
      { path: 'd'.repeat(300), size: 3 },
      { path: 'ünï/名前.txt', size: 1, uname: 'ü', gname: 'g'.repeat(40) },
      { path: 'big', uid: 2 ** 40, gid: 2 ** 22, size: 0 },
      { path: 'neg', mtime: { sec: -2, nsec: 500000000 } },
      { path: 'frac', mtime: 1700000000.25, atime: 5, ctime: { sec: 6, nsec: 7 } },
      { path: 'l', kind: 'symlink', linkname: `/${'t'.repeat(200)}` },
      { path: 'x', xattrs: { 'user.a': Uint8Array.of(0, 1, 10, 61) }, pax: { comment: 'hi' } },
      { path: 'dev', kind: 'char', devmajor: 1, devminor: 3 },
      { path: 'old/', typeflag: '\0' },
    ];
    const parts: Uint8Array[] = [];
    for (const input of inputs) {
      parts.push(encodeHeader(input));
      const size = input.size ?? 0;
      parts.push(new Uint8Array(size).fill(0x41), new Uint8Array(paddingSize(size)));
    }
    const out = await decodeAll(parts);
    expect(out.map((e) => e.path)).toEqual(inputs.map((i) => i.path));
    expect(out[1]).toMatchObject({ uname: 'ü', gname: 'g'.repeat(40) });
    expect(out[2]).toMatchObject({ uid: 2 ** 40, gid: 2 ** 22 });
    expect(out[3]!.mtime).toEqual({ sec: -2, nsec: 500000000 });
    expect(out[4]).toMatchObject({
      mtime: { sec: 1700000000, nsec: 250000000 },
      atime: { sec: 5, nsec: 0 },
      ctime: { sec: 6, nsec: 7 },
    });
    expect(out[5]).toMatchObject({ kind: 'symlink', linkname: `/${'t'.repeat(200)}` });
    expect(out[6]!.xattrs).toEqual({ 'user.a': Uint8Array.of(0, 1, 10, 61) });
    expect(out[6]!.pax.comment).toBe('hi');
    expect(out[7]).toMatchObject({ kind: 'char', devmajor: 1, devminor: 3 });
    expect(out[8]).toMatchObject({ kind: 'directory', typeflag: '\0' });
  });

  it('round-trips random entries (property)', async () => {
    const arbEntry = fc.record({
      path: fc.string({ minLength: 1, maxLength: 300 }).filter((s) => !s.includes('\0')),
      mode: fc.integer({ min: 0, max: 0o7777 }),
      uid: fc.oneof(fc.integer({ min: 0, max: 2 ** 21 }), fc.integer({ min: 0, max: 2 ** 50 })),
      mtime: fc.record({
        sec: fc.integer({ min: -(2 ** 35), max: 2 ** 35 }),
        nsec: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999999999 })),
      }),
      size: fc.integer({ min: 0, max: 1500 }),
      linkname: fc.string({ maxLength: 150 }).filter((s) => !s.includes('\0')),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(arbEntry, { minLength: 1, maxLength: 4 }), async (inputs) => {
        const parts = inputs.flatMap((i) => [
          encodeHeader(i),
          new Uint8Array(i.size).fill(1),
          new Uint8Array(paddingSize(i.size)),
        ]);
        const out = await decodeAll(parts);
        expect(
          out.map((e) => ({
            path: e.path,
            mode: e.mode,
            uid: e.uid,
            mtime: e.mtime,
            size: e.size,
            linkname: e.linkname,
          })),
        ).toEqual(inputs);
      }),
      { numRuns: 100 },
    );
  });

  it('throws UsageError for values no header can carry', () => {
    expect(() => encodeHeader({ path: 'a', mode: 0o10000000 })).toThrow(UsageError);
    expect(() => encodeHeader({ path: 'a', devmajor: 2 ** 30 })).toThrow(UsageError);
    expect(() => encodeHeader({ path: 'a', uid: -1 })).toThrow(UsageError);
    expect(() => encodeHeader({ path: 'a', kind: 'other' })).toThrow(UsageError);
    expect(() => encodeHeader({ path: 'a', xattrs: { 'a=b': new Uint8Array(1) } })).toThrow(
      UsageError,
    );
  });
});
