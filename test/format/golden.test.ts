/**
 * Golden vectors of index format versions 1 and 2 (docs/FORMAT.md): the exact bytes of one
 * record of every kind and of two tiny complete indexes, one of each version. A change to any
 * of these bytes is a format change.
 */
import { describe, expect, test } from 'vitest';
import { RecordFormatError } from '../../src/errors.js';
import { decodeRecord, encodeRecord } from '../../src/format/codec.js';
import { encodeFrame, INDEX_MAGIC } from '../../src/format/encoder.js';
import { paddingLength } from '../../src/format/grammar.js';
import type { IndexRecord } from '../../src/format/records.js';
import { reassemble } from '../../src/pipeline/reassemble.js';
import { concat } from '../helpers/bytes.js';
import { streamOf } from '../helpers/streams.js';
import {
  GOLDEN_RECORDS,
  TINY_CHUNKS,
  TINY_RECORDS,
  TINY_TAR,
  TINY_V2_RECORDS,
  TINY_V2_TAR,
} from './fixtures.js';
import { decodeIndex, hex, indexBytes, unhex } from './helpers.js';

const GOLDEN_HEX: Record<string, string> = {
  layer:
    'a56174006176016263688471666173746364632d6765617233322d76311940001a000100001a000400006263' +
    '7a64677a697062646766736861323536',
  entryFull:
    'a36165b06166615361671864616c696c6962782e736f2e31616d1909ed6170707573722f6c69622f6c6962c3' +
    'a92e736f61731903e861751903e86261741a6553f10162637482201901f462647682080162676e6573746166' +
    '66626d74821a6553f1001a075bcd15627078a267636f6d6d656e7462c3a970474e552e7370617273652e6d61' +
    '6a6f7261316273708367676e752d6f6c641910008400190200190e001901e862756e6475736572627861a266' +
    '757365722e6b430102037073656375726974792e73656c696e757840617244deadbeef617401',
  entrySparseNoMap:
    'a36165a761666130616700616d1901a4617066737061727365617500626d740062737082677061782d312e30' +
    '1a0001117061724100617401',
  entryMinimal: 'a36165a661666135616700616d1901ed6170646574632f617500626d74006172420102617401',
  // h: [150, "2012", 111, "root"] (the checksum's digits and the user name), x: 512 bytes of
  // "x".
  entryPatched:
    'a46165a761666130616700616d1901a461706968656c6c6f2e747874617305617500626d741a6553f1006168' +
    '8418964432303132186f44726f6f74617401617859020' +
    '0'.padEnd(1025, '78'),
  // h: [], xh: [104, "644", 29, "145247704", 6, "14"]: the library's tar encoder writes its
  // pax header with the entry's mode and mtime where Go writes zeros (and so another checksum).
  entryExtension:
    'a46165a861666130616700616d1901a461706968656c6c6f2e747874617305617500626d74821a6553f1001a' +
    '1dcd6500627078a1656d74696d656c313730303030303030302e356168806174016278688618684336343418' +
    '1d4931343532343737303406423134',
  deleteOpaque:
    'a56165a661666130616700616d1901a46170767661722f63616368652f2e77682e2e77682e2e6f7071617500' +
    '626d7400616ff56170697661722f636163686561724103617402',
  delete:
    'a46165a661666130616700616d1901a461706f6574632f2e77682e7061737377642d617500626d740061706b' +
    '6574632f7061737377642d61724104617402',
  chunks:
    'a26163845820aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1a0001000058' +
    '20bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb01617403',
  padding: 'a2616243010002617404',
  tail: 'a1617405',
  endWithBlob:
    'a8616e03617319280061740662626c83647a7374645820222222222222222222222222222222222222222222' +
    '22222222222222222222221904d26264621a0001117062696458201111111111111111111111111111111111' +
    '111111111111111111111111111111626e6304626e6402',
  end:
    'a7616e006173006174066264620062696458203333333333333333333333333333333333333333333333333333' +
    '333333333333626e6300626e6400',
};

const TINY_HEX =
  '894c44490d0a1a0a' +
  // layer
  '0000003ca56174006176016263688471666173746364632d6765617233322d76311940001a000100001a0004' +
  '000062637a646e6f6e6562646766736861323536' +
  // entry "hello.txt", size 5, raw = 512-byte block
  '00000232a36165a761666130616700616d1901a461706968656c6c6f2e747874617305617500626d741a6553' +
  'f100617259020068656c6c6f2e747874' +
  '00'.repeat(503) +
  '617401' +
  // chunks: sha256("hello"), 5
  '0000002aa261638258202cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b98240561' +
  '7403' +
  // delete "old" (whiteout ".wh.old"), raw = 512-byte block
  '0000022fa46165a661666130616700616d1901a46170672e77682e6f6c64617500626d74006170636f6c6461' +
  '725902002e77682e6f6c64' +
  '00'.repeat(505) +
  '617402' +
  // tail
  '00000004a1617405' +
  // chunks: sha256(1024 zero bytes), 1024
  '0000002ca261638258205f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef1904' +
  '00617403' +
  // end: size 2560, 1 entry, 1 deletion, 2 chunks, 1029 data bytes
  '0000003fa7616e016173190a00617406626462190405626964582030952075b08720cf9d9ac9ae786b802d86' +
  'f9173e5016c7fb817319befb4a945a626e6302626e6401';

// The same tar as TINY_HEX's, written as tar writers do, in format version 2: the file's
// header is its template (h: []), the whiteout's has three runs, h: [149, "070", 110,
// "  \0", 64, 15 zero bytes].
const TINY_V2_HEX =
  '894c44490d0a1a0a' +
  // layer, v: 2
  '0000003ca56174006176026263688471666173746364632d6765617233322d76311940001a000100001a0004' +
  '000062637a646e6f6e6562646766736861323536' +
  // entry "hello.txt", size 5, h: []
  '00000030a36165a761666130616700616d1901a461706968656c6c6f2e747874617305617500626d741a6553' +
  'f100616880617401' +
  // chunks: sha256("hello"), 5
  '0000002aa261638258202cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b98240561' +
  '7403' +
  // delete "old" (whiteout ".wh.old", a GNU tar header)
  '0000004ba46165a661666130616700616d1901a46170672e77682e6f6c64617500626d740061688618954330' +
  '3730186e4320200018404f' +
  '00'.repeat(15) +
  '6170636f6c64617402' +
  // tail
  '00000004a1617405' +
  // chunks: sha256(1024 zero bytes), 1024
  '0000002ca261638258205f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef1904' +
  '00617403' +
  // end: size 2560, 1 entry, 1 deletion, 2 chunks, 1029 data bytes
  '0000003fa7616e016173190a0061740662646219040562696458203ce90dd9b72edb3ad89fdac3c3c073d3a9' +
  '40feab5ce04651bca852e080799f98626e6302626e6401';

describe('golden record vectors', () => {
  test('every fixture has a pinned vector', () => {
    expect(Object.keys(GOLDEN_HEX).sort()).toEqual(Object.keys(GOLDEN_RECORDS).sort());
  });

  for (const [name, record] of Object.entries(GOLDEN_RECORDS)) {
    test(`${name} encodes to its pinned bytes and decodes back`, () => {
      const pinned = GOLDEN_HEX[name]!;
      expect(hex(encodeRecord(record))).toBe(pinned);
      expect(decodeRecord(unhex(pinned), 0)).toEqual(record);
    });
  }

  test('a frame is the big-endian u32 length of the CBOR, then the CBOR', () => {
    expect(hex(encodeFrame({ type: 'tail' }))).toBe('00000004a1617405');
    const frame = encodeFrame(GOLDEN_RECORDS.entryFull!);
    expect(new DataView(frame.buffer).getUint32(0)).toBe(frame.length - 4);
  });

  test('the magic is \\x89LDI\\r\\n\\x1a\\n', () => {
    expect(hex(INDEX_MAGIC)).toBe('894c44490d0a1a0a');
  });
});

describe('CBOR profile', () => {
  const chunksHex = (length: number) =>
    hex(encodeRecord({ type: 'chunks', refs: [{ digest: new Uint8Array(32), length }] }));
  const refHead = `a26163825820${'00'.repeat(32)}`;

  test.each([
    [23, '17'],
    [24, '1818'],
    [255, '18ff'],
    [256, '190100'],
    [65535, '19ffff'],
    [65536, '1a00010000'],
    [2 ** 32 - 1, '1affffffff'],
    [2 ** 32, '1b0000000100000000'],
    [Number.MAX_SAFE_INTEGER, '1b001fffffffffffff'],
  ])('unsigned %d uses the shortest head', (n, head) => {
    expect(chunksHex(n)).toBe(`${refHead}${head}617403`);
  });

  test.each([
    [-1, '20'],
    [-24, '37'],
    [-25, '3818'],
    [-256, '38ff'],
    [-257, '390100'],
  ])('negative seconds %d use major type 1, shortest head', (sec, head) => {
    const meta = { ...(GOLDEN_RECORDS.entryMinimal as IndexRecord & { type: 'entry' }).entry };
    meta.mtime = { sec, nsec: 0 };
    const bytes = hex(encodeRecord({ type: 'entry', entry: meta, raw: new Uint8Array(0) }));
    expect(bytes).toContain(`626d74${head}`);
  });

  test('map keys sort by encoded length first, then bytewise (UTF-8)', () => {
    const meta = { ...(GOLDEN_RECORDS.entryMinimal as IndexRecord & { type: 'entry' }).entry };
    meta.pax = { b: '', é: '', aa: '', a: '', B: '', zzz: '' };
    const bytes = hex(encodeRecord({ type: 'entry', entry: meta, raw: new Uint8Array(0) }));
    // "B" < "a" < "b" (1 byte), then "aa" < "é" (c3 a9) (2 bytes), then "zzz".
    expect(bytes).toContain(
      '627078a6' + '614260' + '616160' + '616260' + '62616160' + '62c3a960' + '637a7a7a60',
    );
  });
});

/** Rebuilds a tar from decoded records exactly as docs/FORMAT.md § "Rebuilding the tar" says. */
function rebuild(records: IndexRecord[], chunks: Map<string, Uint8Array>): Uint8Array {
  const out: Uint8Array[] = [];
  let owed = 0;
  for (const r of records) {
    if (owed > 0 && r.type !== 'chunks') {
      out.push(r.type === 'padding' ? r.bytes : new Uint8Array(owed));
      owed = 0;
    }
    if (r.type === 'entry' || r.type === 'delete') {
      out.push(r.raw);
      owed = paddingLength(r.entry.size);
    } else if (r.type === 'chunks') {
      for (const ref of r.refs) out.push(chunks.get(`sha256:${hex(ref.digest)}`)!);
    }
  }
  return concat(out);
}

describe.each([
  ['version 1', TINY_RECORDS, TINY_HEX, TINY_TAR],
  ['version 2', TINY_V2_RECORDS, TINY_V2_HEX, TINY_V2_TAR],
])('tiny complete index, %s', (_, tinyRecords, tinyHex, tinyTar) => {
  const bytes = indexBytes(tinyRecords);

  test('has its pinned bytes', () => {
    expect(hex(bytes)).toBe(tinyHex);
  });

  test('decodes to its records', async () => {
    const { records, error } = await decodeIndex(unhex(tinyHex));
    expect(error).toBeUndefined();
    expect(records).toEqual(tinyRecords);
  });

  test('rebuilds the tar by the rules of the specification', async () => {
    const { records } = await decodeIndex(bytes);
    expect(rebuild(records, TINY_CHUNKS)).toEqual(tinyTar);
  });

  test('reassemble agrees with the specification', async () => {
    const store = {
      get: async (digest: string) => TINY_CHUNKS.get(digest)!,
    };
    const tar = reassemble(streamOf(bytes), store);
    const out = new Uint8Array(await new Response(tar).arrayBuffer());
    expect(out).toEqual(tinyTar);
  });
});

test('a version 1 index may not carry header patches', async () => {
  const [layer, ...rest] = TINY_V2_RECORDS;
  // Framed as version 2 writes them, under a version 1 layer record.
  const frames = [
    encodeFrame({ ...(layer as IndexRecord & { type: 'layer' }), version: 1 }),
    ...rest.map((r) => encodeFrame(r, 0, 2)),
  ];
  const { error } = await decodeIndex(concat([INDEX_MAGIC, ...frames]));
  expect(error).toBeInstanceOf(RecordFormatError);
  expect((error as Error).message).toMatch(/entry record: unknown key "h"/);
});
