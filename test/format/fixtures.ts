/** The fixed records of the golden vectors, and a tiny complete index with the tar it describes. */
import type { IndexRecord } from '../../src/format/records.js';
import { encodeHeader } from '../../src/tar/header.js';
import { concat } from '../helpers/bytes.js';
import { fakeDigest, LAYER, minimalMeta, sha256 } from './helpers.js';

/** The metadata of the version 2 vectors' file, and its header as a tar writer makes it. */
const HELLO_META = { ...minimalMeta('hello.txt', 5), mtime: { sec: 1700000000, nsec: 0 } };
const USTAR_HELLO = encodeHeader({ path: 'hello.txt', size: 5, mtime: 1700000000 });
/** The header GNU tar's default format writes for a whiteout: magic `ustar  \0`, no devices. */
const GNU_WHITEOUT = (() => {
  const b = encodeHeader({ path: '.wh.old', mode: 0o644, mtime: 0 });
  b.set(new TextEncoder().encode('ustar  \0'), 257);
  b.fill(0, 329, 345);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
  return b;
})();

/** One record of every kind, each optional field present somewhere. */
export const GOLDEN_RECORDS: Record<string, IndexRecord> = {
  layer: {
    type: 'layer',
    version: 1,
    chunker: { algorithm: 'fastcdc-gear32-v1', min: 16384, avg: 65536, max: 262144 },
    digest: 'sha256',
    compression: 'gzip',
  },
  entryFull: {
    type: 'entry',
    entry: {
      path: 'usr/lib/libé.so',
      typeflag: 'S',
      mode: 0o4755,
      uid: 1000,
      gid: 100,
      uname: 'user',
      gname: 'staff',
      mtime: { sec: 1700000000, nsec: 123456789 },
      atime: { sec: 1700000001, nsec: 0 },
      ctime: { sec: -1, nsec: 500 },
      size: 1000,
      linkname: 'libx.so.1',
      devmajor: 8,
      devminor: 1,
      pax: { 'GNU.sparse.major': '1', comment: 'é' },
      xattrs: { 'user.k': Uint8Array.of(1, 2, 3), 'security.selinux': Uint8Array.of() },
      sparse: {
        format: 'gnu-old',
        realSize: 4096,
        map: [
          [0, 512],
          [3584, 488],
        ],
      },
    },
    raw: Uint8Array.of(0xde, 0xad, 0xbe, 0xef),
  },
  entrySparseNoMap: {
    type: 'entry',
    entry: { ...minimalMeta('sparse', 0), sparse: { format: 'pax-1.0', realSize: 70000 } },
    raw: Uint8Array.of(0),
  },
  entryMinimal: {
    type: 'entry',
    entry: { ...minimalMeta('etc/'), typeflag: '5', mode: 0o755 },
    raw: Uint8Array.of(1, 2),
  },
  entryPatched: {
    type: 'entry',
    entry: HELLO_META,
    // An extension block before the header, and a header whose user name the metadata lacks.
    raw: concat([
      new Uint8Array(512).fill(0x78),
      encodeHeader({ path: 'hello.txt', size: 5, mtime: 1700000000, uname: 'root' }),
    ]),
  },
  entryExtension: {
    type: 'entry',
    entry: {
      ...HELLO_META,
      mtime: { sec: 1700000000, nsec: 500000000 },
      pax: { mtime: '1700000000.5' },
    },
    // The pax header the library's tar encoder writes, and its header block.
    raw: encodeHeader({ path: 'hello.txt', size: 5, mtime: { sec: 1700000000, nsec: 500000000 } }),
  },
  deleteOpaque: {
    type: 'delete',
    path: 'var/cache',
    opaque: true,
    entry: minimalMeta('var/cache/.wh..wh..opq'),
    raw: Uint8Array.of(3),
  },
  delete: {
    type: 'delete',
    path: 'etc/passwd-',
    opaque: false,
    entry: minimalMeta('etc/.wh.passwd-'),
    raw: Uint8Array.of(4),
  },
  chunks: {
    type: 'chunks',
    refs: [
      { digest: fakeDigest(0xaa), length: 65536 },
      { digest: fakeDigest(0xbb), length: 1 },
    ],
  },
  padding: { type: 'padding', bytes: Uint8Array.of(1, 0, 2) },
  tail: { type: 'tail' },
  endWithBlob: {
    type: 'end',
    diffId: fakeDigest(0x11),
    size: 10240,
    entries: 3,
    deletions: 2,
    chunks: 4,
    dataBytes: 70000,
    blob: { compression: 'zstd', digest: fakeDigest(0x22), size: 1234 },
  },
  end: {
    type: 'end',
    diffId: fakeDigest(0x33),
    size: 0,
    entries: 0,
    deletions: 0,
    chunks: 0,
    dataBytes: 0,
  },
};

/** A 512-byte stand-in for a tar header block: `text`, then zeros. */
function block(text: string): Uint8Array {
  const b = new Uint8Array(512);
  b.set(new TextEncoder().encode(text));
  return b;
}

const HELLO = new TextEncoder().encode('hello');
const TAIL = new Uint8Array(1024);
const RAW_HELLO = block('hello.txt');
const RAW_WHITEOUT = block('.wh.old');

/** A tiny tar: one file ("hello", under the header `hello`), one whiteout, end blocks. */
const tinyTar = (hello: Uint8Array, whiteout: Uint8Array): Uint8Array =>
  concat([hello, HELLO, new Uint8Array(512 - HELLO.length), whiteout, TAIL]);

/** The tar the tiny index describes: one file, one whiteout, end-of-archive blocks. */
export const TINY_TAR: Uint8Array = tinyTar(RAW_HELLO, RAW_WHITEOUT);

/** The chunks the tiny index refers to, by `sha256:<hex>`. */
export const TINY_CHUNKS: Map<string, Uint8Array> = new Map(
  [HELLO, TAIL].map((c) => [`sha256:${Buffer.from(sha256(c)).toString('hex')}`, c]),
);

/**
 * The records of a tiny complete index of `version` for `tar`: one file ("hello.txt", 5 bytes),
 * one whiteout (".wh.old"), end-of-archive blocks; `hello` and `whiteout` are their headers.
 */
function tinyRecords(
  version: number,
  tar: Uint8Array,
  hello: Uint8Array,
  whiteout: Uint8Array,
): IndexRecord[] {
  return [
    { ...LAYER, version } as IndexRecord,
    { type: 'entry', entry: HELLO_META, raw: hello },
    { type: 'chunks', refs: [{ digest: sha256(HELLO), length: 5 }] },
    { type: 'delete', path: 'old', opaque: false, entry: minimalMeta('.wh.old'), raw: whiteout },
    { type: 'tail' },
    { type: 'chunks', refs: [{ digest: sha256(TAIL), length: 1024 }] },
    {
      type: 'end',
      diffId: sha256(tar),
      size: tar.length,
      entries: 1,
      deletions: 1,
      chunks: 2,
      dataBytes: 1029,
    },
  ];
}

/** The records of a tiny complete index, of format version 1 (header bytes kept whole). */
export const TINY_RECORDS: IndexRecord[] = tinyRecords(1, TINY_TAR, RAW_HELLO, RAW_WHITEOUT);

/**
 * A tiny tar as tar writers make it (ustar headers), described by an index of format version
 * 2: the file's header is its template, so its patch is empty; the whiteout's differs in its
 * magic, device fields and checksum.
 */
export const TINY_V2_TAR: Uint8Array = tinyTar(USTAR_HELLO, GNU_WHITEOUT);

/** The records of {@link TINY_V2_TAR}'s index. */
export const TINY_V2_RECORDS: IndexRecord[] = tinyRecords(
  2,
  TINY_V2_TAR,
  USTAR_HELLO,
  GNU_WHITEOUT,
);
