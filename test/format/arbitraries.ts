/** fast-check arbitraries of valid records and of valid complete indexes. */
import fc from 'fast-check';
import { paddingLength } from '../../src/format/grammar.js';
import { extensionTemplate, headerTemplate } from '../../src/format/header-template.js';
import type {
  ChunkRef,
  Compression,
  EntryMeta,
  IndexRecord,
  LayerRecord,
  Timestamp,
} from '../../src/format/records.js';
import { concat } from '../helpers/bytes.js';

/** Any Unicode text (no lone surrogates: text in an index is always valid UTF-8). */
const text = (maxLength = 12) => fc.string({ unit: 'binary', maxLength });
const uint = fc.oneof(fc.nat(70000), fc.maxSafeNat());
const compression = fc.constantFrom<Compression>('none', 'gzip', 'zstd');
const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });

const timestamp: fc.Arbitrary<Timestamp> = fc.record({
  sec: fc.oneof(fc.integer(), fc.maxSafeInteger()),
  nsec: fc.oneof(fc.constant(0), fc.nat(999_999_999)),
});

/** ASCII paths of 90 to 300 characters, of segments up to 60 long: ustar splits them, or not. */
const longPath = fc
  .array(fc.stringMatching(/^[a-z.]{1,60}$/), { minLength: 2, maxLength: 12 })
  .map((segments) => segments.join('/'))
  .filter((p) => p.length >= 90 && p.length <= 300);

/** Entry metadata with each optional field present or not. */
export const entryMeta = (size: fc.Arbitrary<number> = uint): fc.Arbitrary<EntryMeta> =>
  fc
    .record({
      path: fc.oneof(text(40), longPath),
      typeflag: fc.nat(255).map((c) => String.fromCharCode(c)),
      mode: uint,
      uid: uint,
      gid: uint,
      uname: text(),
      gname: text(),
      mtime: timestamp,
      atime: fc.option(timestamp, { nil: undefined }),
      ctime: fc.option(timestamp, { nil: undefined }),
      size,
      linkname: text(),
      devmajor: fc.oneof(fc.constant(0), uint),
      devminor: fc.oneof(fc.constant(0), uint),
      pax: fc.dictionary(text(), text(), { maxKeys: 4, noNullPrototype: true }),
      xattrs: fc.dictionary(text(), fc.uint8Array({ maxLength: 16 }), {
        maxKeys: 3,
        noNullPrototype: true,
      }),
      sparse: fc.option(
        fc.record({
          format: text(4),
          realSize: uint,
          map: fc.option(fc.array(fc.tuple(uint, uint), { maxLength: 4 }), { nil: undefined }),
        }),
        { nil: undefined },
      ),
    })
    .map((m) => {
      // Optional fields are absent, not present-and-undefined, in decoded records.
      const out = { ...m } as EntryMeta & Record<string, unknown>;
      for (const k of ['atime', 'ctime', 'sparse'] as const)
        if (out[k] === undefined) delete out[k];
      if (out.sparse && out.sparse.map === undefined) delete out.sparse.map;
      return out;
    });

const chunkRef: fc.Arbitrary<ChunkRef> = fc.record({
  digest,
  length: fc.oneof(fc.integer({ min: 1, max: 300_000 }), fc.integer({ min: 1 })),
});

/**
 * Header bytes for an entry: a few random bytes; or random blocks ending in the entry's own
 * template with a few bytes changed (written as a patch from version 2); or random blocks
 * (too different from the template: written whole).
 */
export const headerBytes = (meta: EntryMeta): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    templateEdits.map((edits) => editedTemplate(meta, edits)),
    fc.uint8Array({ minLength: 512, maxLength: 512 }),
  );

const edits = fc.array(fc.tuple(fc.nat(1 << 20), fc.nat(255)), { maxLength: 40 });

/**
 * What goes before a header block (random blocks, or the entry's extension template with
 * changes made when it has one), and changes to make to the header template.
 */
const templateEdits = fc.tuple(
  fc.oneof(
    // Whole blocks, or bytes of any length (the header bytes need not be whole blocks).
    fc.array(
      fc.oneof(
        fc.uint8Array({ minLength: 512, maxLength: 512 }),
        fc.uint8Array({ minLength: 1, maxLength: 700 }),
      ),
      { maxLength: 2 },
    ),
    edits,
  ),
  edits,
);

/** Bytes with changes made at positions taken modulo their length. */
function edited(bytes: Uint8Array, changes: Array<[number, number]>): Uint8Array {
  for (const [at, value] of changes) if (bytes.length > 0) bytes[at % bytes.length] = value;
  return bytes;
}

/** The bytes before (blocks, or the extension template edited), then the header edited. */
function editedTemplate(
  meta: EntryMeta,
  [before, changes]: [Uint8Array[] | Array<[number, number]>, Array<[number, number]>],
): Uint8Array {
  const blocks = before.every((b) => b instanceof Uint8Array)
    ? (before as Uint8Array[])
    : [edited(extensionTemplate(meta), before as Array<[number, number]>)];
  return concat([...blocks, edited(headerTemplate(meta), changes)]);
}

/** Any single record that `decodeRecord` accepts (order rules aside). */
export const anyRecord: fc.Arbitrary<IndexRecord> = fc.oneof(
  fc.record({
    type: fc.constant('layer' as const),
    version: fc.constantFrom(1, 2),
    chunker: fc.record({ algorithm: text(), min: uint, avg: uint, max: uint }),
    digest: fc.constant('sha256' as const),
    compression,
  }),
  entryMeta().chain((entry) =>
    headerBytes(entry).map((raw) => ({ type: 'entry' as const, entry, raw })),
  ),
  fc
    .record({ path: text(), opaque: fc.boolean(), entry: entryMeta() })
    .chain((d) => headerBytes(d.entry).map((raw) => ({ type: 'delete' as const, ...d, raw }))),
  fc.record({
    type: fc.constant('chunks' as const),
    refs: fc.array(chunkRef, { minLength: 1, maxLength: 5 }),
  }),
  fc.record({
    type: fc.constant('padding' as const),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 511 }),
  }),
  fc.constant({ type: 'tail' as const }),
  fc
    .record({
      type: fc.constant('end' as const),
      diffId: digest,
      size: uint,
      entries: uint,
      deletions: uint,
      chunks: uint,
      dataBytes: uint,
      blob: fc.option(fc.record({ compression, digest, size: uint }), { nil: undefined }),
    })
    .map((r) => {
      const out: IndexRecord = { ...r };
      if (r.blob === undefined) delete out.blob;
      return out;
    }),
);

/** Splits `refs` into chunks records of 1..`max` references each. */
function batches(refs: ChunkRef[], cuts: number[]): IndexRecord[] {
  const out: IndexRecord[] = [];
  let at = 0;
  for (let i = 0; at < refs.length; i++) {
    const n = Math.max(1, cuts.length ? cuts[i % cuts.length]! : refs.length);
    out.push({ type: 'chunks', refs: refs.slice(at, at + n) });
    at += n;
  }
  return out;
}

const smallRef = fc.record({ digest, length: fc.integer({ min: 1, max: 1500 }) });

const item = fc.record({
  kind: fc.constantFrom('entry', 'delete'),
  refs: fc.array(smallRef, { maxLength: 4 }),
  meta: entryMeta(fc.constant(0)),
  raw: fc.uint8Array({ maxLength: 32 }),
  /** When set, the header bytes are the entry's template so changed, not `raw`. */
  edits: fc.option(templateEdits, { nil: undefined }),
  padding: fc.option(fc.uint8Array({ minLength: 511, maxLength: 511 })),
  opaque: fc.boolean(),
  cuts: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 }),
});

/** A complete, valid index as a list of records (layer … end), totals consistent. */
export const validIndex: fc.Arbitrary<IndexRecord[]> = fc
  .record({
    layer: anyRecord.filter((r) => r.type === 'layer') as fc.Arbitrary<LayerRecord>,
    items: fc.array(item, { maxLength: 5 }),
    tail: fc.option(fc.array(smallRef, { maxLength: 3 })),
    diffId: digest,
    blob: fc.record({ digest, size: uint }),
  })
  .map(({ layer, items, tail, diffId, blob }) => {
    const records: IndexRecord[] = [layer];
    let entries = 0;
    let deletions = 0;
    let chunks = 0;
    let dataBytes = 0;
    let size = 0;
    for (const it of items) {
      const body = it.refs.reduce((n, r) => n + r.length, 0);
      const entry = { ...it.meta, size: body };
      const raw = it.edits ? editedTemplate(entry, it.edits) : it.raw;
      if (it.kind === 'entry') {
        entries++;
        records.push({ type: 'entry', entry, raw });
      } else {
        deletions++;
        records.push({ type: 'delete', path: entry.path, opaque: it.opaque, entry, raw });
      }
      records.push(...batches(it.refs, it.cuts));
      const pad = paddingLength(body);
      if (pad > 0 && it.padding) {
        const bytes = it.padding.slice(0, pad);
        bytes[0] = bytes[0]! | 1; // never all zeros
        records.push({ type: 'padding', bytes });
      }
      chunks += it.refs.length;
      dataBytes += body;
      size += raw.length + body + pad;
    }
    if (tail) {
      records.push({ type: 'tail' }, ...batches(tail, []));
      const bytes = tail.reduce((n, r) => n + r.length, 0);
      chunks += tail.length;
      dataBytes += bytes;
      size += bytes;
    }
    const end: IndexRecord = {
      type: 'end',
      diffId,
      size,
      entries,
      deletions,
      chunks,
      dataBytes,
    };
    // The end record describes the blob exactly when the layer was compressed.
    if (layer.compression !== 'none') end.blob = { compression: layer.compression, ...blob };
    records.push(end);
    return records;
  });
