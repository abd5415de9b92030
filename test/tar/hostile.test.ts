import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LayerdiffError,
  TarFormatError,
  TarLimitError,
  TarTruncatedError,
} from '../../src/errors.js';
import { createTarTokenizer, encodeHeader, encodePaxRecords } from '../../src/tar/index.js';
import {
  concatBytes,
  END,
  fixChecksum,
  rawEntry,
  rawHeader,
  setField,
  summarize,
  tokenize,
} from './helpers.js';

// Deterministic property runs: the same cases on every run and machine.
fc.configureGlobal({ seed: 20240601 });

async function failure(
  bytes: Uint8Array,
  sizes: number[] | number = bytes.length || 1,
  options?: { maxHeaderBytes?: number },
): Promise<LayerdiffError> {
  try {
    await tokenize(bytes, sizes, options);
  } catch (e) {
    if (e instanceof LayerdiffError) return e;
    throw e;
  }
  throw new Error('expected the tokenizer to fail');
}

const file = (name: string, data: string) => rawEntry({ name }, data);
const pax = (records: Array<[string, string]>, typeflag = 'x') =>
  rawEntry({ name: 'PaxHeaders/x', typeflag }, encodePaxRecords(records));

describe('format errors', () => {
  it('bad checksum, with the offset of the bad block', async () => {
    const second = file('b', 'bbb');
    second[0]! ^= 1; // corrupt the name, leave the checksum
    const tar = concatBytes([file('a', 'x'.repeat(600)), second, END]);
    const err = await failure(tar);
    expect(err).toBeInstanceOf(TarFormatError);
    expect(err.code).toBe('ERR_TAR_FORMAT');
    expect((err as TarFormatError).location.offset).toBe(1536);
    expect(err.message).toMatch(/checksum/);
  });

  it('bad octal in a numeric field, naming the entry', async () => {
    const h = rawHeader({ name: 'weird', size: 0 });
    setField(h, 108, 8, '00009\0\0\0');
    const err = await failure(concatBytes([fixChecksum(h), END]));
    expect(err).toBeInstanceOf(TarFormatError);
    expect((err as TarFormatError).location).toEqual({ offset: 0, path: 'weird' });
  });

  it('negative size', async () => {
    const h = rawHeader({ name: 'neg', size: new Array(12).fill(0xff) });
    const err = await failure(concatBytes([h, END]));
    expect(err).toBeInstanceOf(TarFormatError);
    expect(err.message).toMatch(/negative size/);
  });

  it('malformed pax records and values', async () => {
    const badRecord = rawEntry({ name: 'p', typeflag: 'x' }, '99 path=a\n');
    for (const prefix of [
      badRecord,
      pax([['size', '12x']]),
      pax([['mtime', 'soon']]),
      pax([['size', '-4']]),
      rawEntry({ name: 'p', typeflag: 'g' }, 'garbage'),
    ]) {
      const err = await failure(concatBytes([prefix, file('f', 'x'), END]));
      expect(err).toBeInstanceOf(TarFormatError);
    }
  });

  it('extension headers followed by the end-of-archive marker', async () => {
    const err = await failure(concatBytes([pax([['path', 'p']]), END]));
    expect(err).toBeInstanceOf(TarFormatError);
    const long = rawEntry({ name: '././@LongLink', typeflag: 'L', magic: 'gnu' }, 'n\0');
    expect(await failure(concatBytes([long, END]))).toBeInstanceOf(TarFormatError);
  });
});

describe('limit errors', () => {
  it('a pax header claiming 4 GiB errors from its size field alone', async () => {
    const h = rawHeader({ name: 'huge', typeflag: 'x', size: 4 * 1024 ** 3 });
    const ts = createTarTokenizer();
    const writer = ts.writable.getWriter();
    const reader = ts.readable.getReader();
    void writer.write(h).catch(() => {});
    // No data and no close: the error must come from the header block alone.
    const err = await reader.read().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TarLimitError);
    expect((err as TarLimitError).code).toBe('ERR_TAR_LIMIT');
    expect((err as TarLimitError).location.offset).toBe(0);
  });

  it('GNU long names and many small pax headers over maxHeaderBytes', async () => {
    const long = rawEntry({ name: '././@LongLink', typeflag: 'L', magic: 'gnu' }, 'n'.repeat(5000));
    expect(
      await failure(concatBytes([long, file('f', ''), END]), 512, { maxHeaderBytes: 4096 }),
    ).toBeInstanceOf(TarLimitError);
    // Within the limit it works.
    const ok = summarize(
      await tokenize(concatBytes([long, file('f', ''), END]), 512, { maxHeaderBytes: 6144 }),
    );
    expect(ok.entries[0]!.entry.path).toBe('n'.repeat(5000));
    const many = Array.from({ length: 20 }, () => pax([['comment', 'c']]));
    const err = await failure(concatBytes([...many, file('f', ''), END]), 1000, {
      maxHeaderBytes: 8192,
    });
    expect(err).toBeInstanceOf(TarLimitError);
    expect((err as TarLimitError).location.offset).toBe(8 * 1024);
  });

  it('an endless chain of GNU sparse extension blocks', async () => {
    const h = rawHeader({ name: 'sp', typeflag: 'S', magic: 'gnu', size: 0 });
    setField(h, 386, 24, '00000000000\u000000000000001\0');
    h[482] = 1;
    fixChecksum(h);
    const ext = new Uint8Array(512);
    ext[504] = 1;
    const blocks = [h, ...Array.from({ length: 100 }, () => ext)];
    const err = await failure(concatBytes(blocks), 512, { maxHeaderBytes: 16 * 1024 });
    expect(err).toBeInstanceOf(TarLimitError);
    expect((err as TarLimitError).location.path).toBe('sp');
  });

  it('pax global records accumulating past the limit', async () => {
    const globals = Array.from({ length: 10 }, (_, i) => pax([[`key${i}`, 'v'.repeat(900)]], 'g'));
    const parts = globals.flatMap((g) => [g, file('f', '')]);
    const err = await failure(concatBytes([...parts, END]), 4096, { maxHeaderBytes: 4096 });
    expect(err).toBeInstanceOf(TarLimitError);
  });

  it('numbers beyond 2^53-1', async () => {
    const big = [0x80, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 1];
    const err = await failure(concatBytes([rawHeader({ name: 'big', size: big }), END]));
    expect(err).toBeInstanceOf(TarLimitError);
    const err2 = await failure(
      concatBytes([pax([['uid', '9007199254740993']]), file('f', ''), END]),
    );
    expect(err2).toBeInstanceOf(TarLimitError);
  });
});

describe('truncation', () => {
  // A small archive: pax header + file, GNU long name + file, directory, empty file, end.
  const parts = [
    encodeHeader({ path: 'x'.repeat(120), size: 700 }),
    new Uint8Array(700).fill(1),
    new Uint8Array(324),
    rawEntry({ name: '././@LongLink', typeflag: 'L', magic: 'gnu' }, `${'l'.repeat(130)}\0`),
    rawEntry({ name: 'l'.repeat(100), magic: 'gnu' }, 'body'),
    rawEntry({ name: 'dir/', typeflag: '5' }),
    rawEntry({ name: 'empty' }),
    END,
  ];
  const tar = concatBytes(parts);

  it('errors with TarTruncatedError at every cut except entry boundaries and in the tail', async () => {
    const { entries, tail } = summarize(await tokenize(tar));
    const tailStart = tar.length - tail.length;
    const boundaries = new Set([0, ...entries.map((e) => e.offset), tailStart]);
    for (let cut = 0; cut <= tar.length; cut += 512) {
      for (const k of [cut, cut - 1, cut + 1, cut + 100].filter((n) => n >= 0 && n <= tar.length)) {
        const prefix = tar.subarray(0, k);
        // A cut inside the zero end blocks is a (short) tail, not a truncation.
        if (boundaries.has(k) || k >= tailStart) {
          const t = await tokenize(prefix, 97);
          expect(summarize(t).entries.length, `cut ${k}`).toBe(
            entries.filter((e) => e.offset < k).length,
          );
        } else {
          const err = await failure(prefix, 97);
          expect(err, `cut ${k}`).toBeInstanceOf(TarTruncatedError);
          expect(err.code).toBe('ERR_TAR_TRUNCATED');
        }
      }
    }
  });

  it('names the entry when the body is cut', async () => {
    const err = (await failure(tar.subarray(0, 1024 + 512 + 100))) as TarTruncatedError;
    expect(err.location).toEqual({ offset: 0, path: 'x'.repeat(120) });
    expect(err.message).toMatch(/100 of 700 bytes into the body/);
  });

  it('errors (never hangs) on random cuts and random corruption (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: tar.length }),
        fc.array(fc.tuple(fc.nat(tar.length - 1), fc.integer({ min: 0, max: 255 })), {
          maxLength: 4,
        }),
        fc.integer({ min: 1, max: 700 }),
        async (cut, edits, piece) => {
          const bytes = tar.slice(0, cut);
          for (const [at, v] of edits) if (at < bytes.length) bytes[at] = v;
          try {
            const tokens = await tokenize(bytes, piece);
            expect(concatBytes(tokens.map(tokenBytes))).toEqual(bytes);
          } catch (e) {
            expect(e).toBeInstanceOf(LayerdiffError);
          }
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });
});

function tokenBytes(t: Awaited<ReturnType<typeof tokenize>>[number]): Uint8Array {
  return t.type === 'header' ? t.raw : t.type === 'end' ? t.padding : t.bytes;
}

describe('tails and global headers', () => {
  it('a pax global header at the very end goes to the tail, with or without end blocks', async () => {
    const body = concatBytes([file('a', 'aaa')]);
    const g = pax([['comment', 'bye']], 'g');
    for (const rest of [[], [END], [END, new Uint8Array(5000).fill(9)]]) {
      const tar = concatBytes([body, g, ...rest]);
      const { entries, tail } = summarize(await tokenize(tar, 100));
      expect(entries.map((e) => e.entry.path)).toEqual(['a']);
      expect(tail).toEqual(tar.subarray(body.length));
    }
  });

  it('a pax global header applies to every later entry', async () => {
    const tar = concatBytes([
      pax([['comment', 'one']], 'g'),
      file('a', ''),
      file('b', ''),
      pax([['comment', '']], 'g'),
      file('c', ''),
      END,
    ]);
    const { entries } = summarize(await tokenize(tar));
    expect(entries.map((e) => e.entry.pax.comment)).toEqual(['one', 'one', undefined]);
    expect(entries.map((e) => e.raw.length)).toEqual([1536, 512, 1536]);
  });

  it('at most 1024 pax global keywords in effect: every later entry carries each one', async () => {
    const keys = (n: number, from = 0) =>
      Array.from({ length: n }, (_, i): [string, string] => [`k${from + i}`, 'v']);
    const ok = concatBytes([pax(keys(1000), 'g'), pax(keys(24, 1000), 'g'), file('a', ''), END]);
    const { entries } = summarize(await tokenize(ok));
    expect(Object.keys(entries[0]!.entry.pax)).toHaveLength(1024);
    // A keyword removed makes room for another.
    const swapped = concatBytes([
      ok.subarray(0, -1024),
      pax([['k0', '']], 'g'),
      pax(keys(1, 2000), 'g'),
      END,
    ]);
    await expect(tokenize(swapped)).resolves.toBeDefined();
    const over = concatBytes([pax(keys(1000), 'g'), pax(keys(25, 1000), 'g'), file('a', ''), END]);
    const err = await failure(over);
    expect(err).toBeInstanceOf(TarLimitError);
    expect(err.message).toMatch(/1025 pax global keywords in effect, over 1024/);
  });

  it('a name, link target or pax value that begins with U+FEFF keeps it', async () => {
    // Header fields take byte strings: the UTF-8 bytes of each name.
    const bytes = (name: string) => String.fromCharCode(...new TextEncoder().encode(name));
    const tar = concatBytes([
      file(bytes('\uFEFFbin/sh'), 'x'),
      file(bytes('\uFEFF.wh.important'), ''),
      pax([
        ['path', '\uFEFFp'],
        ['linkpath', '\uFEFFt'],
        ['comment', '\uFEFFc'],
      ]),
      rawEntry({ name: 'x', typeflag: '2' }, ''),
      END,
    ]);
    const { entries } = summarize(await tokenize(tar));
    expect(entries.map((e) => e.entry.path)).toEqual([
      '\uFEFFbin/sh',
      '\uFEFF.wh.important',
      '\uFEFFp',
    ]);
    expect(entries[2]!.entry.linkname).toBe('\uFEFFt');
    expect(entries[2]!.entry.pax.comment).toBe('\uFEFFc');
  });

  it('no end blocks at all, and an empty stream', async () => {
    const tar = concatBytes([file('a', 'a'), file('b', '')]);
    const { entries, tail } = summarize(await tokenize(tar));
    expect(entries).toHaveLength(2);
    expect(tail.length).toBe(0);
    expect(await tokenize(new Uint8Array(0), 1)).toEqual([]);
  });

  it('non-zero padding and garbage tails are preserved', async () => {
    const a = file('a', 'abc');
    a.fill(0xee, 515);
    const tar = concatBytes([a, new Uint8Array(512), new Uint8Array(700).fill(0x42)]);
    const { entries, tail } = summarize(await tokenize(tar, 3));
    expect(entries[0]!.padding).toEqual(new Uint8Array(509).fill(0xee));
    expect(tail).toEqual(tar.subarray(1024));
  });
});
