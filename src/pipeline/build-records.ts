/**
 * Turns stored-chunk tokens into index records, batching chunk references and counting.
 *
 * @module
 */
import { TarLimitError } from '../errors.js';
import { HEADER_PATCH_ITEMS, MAX_CBOR_ITEMS } from '../format/codec.js';
import type { BlobInfo, EntryMeta, IndexRecord, LayerRecord } from '../format/records.js';
import { isZeroBlock } from '../tar/header.js';
import type { TarEntry } from '../tar/types.js';
import type { StoredToken } from './tokens.js';
import { parseWhiteout } from './whiteout.js';

/** Most chunk references in one chunks record. */
export const REFS_PER_RECORD = 1024;

/** What the end record needs that only earlier stages know. */
export interface Trailer {
  diffId: Uint8Array;
  size: number;
  blob?: BlobInfo;
}

/** Totals of one conversion. */
export interface BuildStats {
  entries: number;
  deletions: number;
  chunks: number;
  dataBytes: number;
  newChunks: number;
  newBytes: number;
}

/** Options of {@link createRecordBuilder}. */
export interface RecordBuilderOptions {
  /** The layer record; awaited before the first record is emitted. */
  layer: () => Promise<LayerRecord>;
  /** The trailer facts; awaited when the input ends. */
  trailer: () => Promise<Trailer>;
  /** Called with the totals once the end record has been emitted. */
  onEnd?: (stats: BuildStats, end: IndexRecord & { type: 'end' }) => void;
  /** Called after each entry and each chunk with the running totals (a live object). */
  onProgress?: (stats: Readonly<BuildStats>) => void;
}

/**
 * Converts the tokenizer's entry into the index's entry metadata. `globals` is the running set
 * of pax global attributes, updated here from the entry's `globalPax`; the metadata's `pax`
 * keeps only what differs from it, so a global header is recorded once, not once per entry.
 */
export function entryMeta(e: TarEntry, globals: Map<string, string>): EntryMeta {
  if (e.globalPax) {
    for (const [k, v] of Object.entries(e.globalPax)) {
      if (v === '') globals.delete(k);
      else globals.set(k, v);
    }
  }
  const pax: Record<string, string> = {};
  const own = (k: string, v: string) =>
    Object.defineProperty(pax, k, {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  for (const [k, v] of Object.entries(e.pax)) {
    // Extended attributes are recorded as bytes in `xattrs`, not again as text here.
    if (!XATTR_KEY.test(k) && globals.get(k) !== v) own(k, v);
  }
  for (const k of globals.keys()) if (!Object.hasOwn(e.pax, k)) own(k, '');
  const m: EntryMeta = {
    path: e.path,
    typeflag: e.typeflag,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    uname: e.uname,
    gname: e.gname,
    mtime: e.mtime,
    size: e.bodySize,
    linkname: e.linkname,
    devmajor: e.devmajor,
    devminor: e.devminor,
    pax,
    xattrs: e.xattrs,
  };
  if (e.globalPax) m.globalPax = e.globalPax;
  if (e.atime) m.atime = e.atime;
  if (e.ctime) m.ctime = e.ctime;
  if (e.sparse) m.sparse = e.sparse;
  return m;
}

const XATTR_KEY = /^(SCHILY|LIBARCHIVE)\.xattr\./;

/**
 * Refuses an entry whose record a reader would refuse for holding too many CBOR items (pax
 * records, xattrs and sparse map pairs count two each, and the header patches as many as they
 * may hold): possible only with `maxHeaderBytes` raised far above its default.
 */
function checkItems(m: EntryMeta, offset: number): void {
  let keys = 0;
  for (const map of [m.pax, m.globalPax ?? {}, m.xattrs]) for (const _ in map) keys++;
  const items = 64 + HEADER_PATCH_ITEMS + 2 * keys + 2 * (m.sparse?.map?.length ?? 0);
  if (items > MAX_CBOR_ITEMS) {
    throw new TarLimitError(
      `the entry's pax records, xattrs and sparse map make about ${items} index items, over ${MAX_CBOR_ITEMS}`,
      { offset, path: m.path },
    );
  }
}

/**
 * Creates the stream that emits the records of an index from stored-chunk tokens: the layer
 * record, an entry or delete record per entry (whiteouts become deletions), chunks records of
 * at most {@link REFS_PER_RECORD} references, padding records only for non-zero padding, the
 * tail record, and the end record.
 *
 * @param options - where the layer and trailer facts come from.
 * @returns a `TransformStream` from {@link StoredToken}s to records.
 */
export function createRecordBuilder(
  options: RecordBuilderOptions,
): TransformStream<StoredToken, IndexRecord> {
  const builder = new RecordBuilder(options);
  return new TransformStream<StoredToken, IndexRecord>({
    // Synchronous once the layer record is out: a promise per token costs more than the work.
    transform(t, controller) {
      const emit = (r: IndexRecord) => controller.enqueue(r);
      if (!builder.started) return builder.begin(emit).then(() => builder.add(t, emit));
      builder.add(t, emit);
    },
    flush(controller) {
      return builder.finish((r) => controller.enqueue(r));
    },
  });
}

/**
 * The record builder's state, apart from any stream (a converter runs it inside its tar
 * chunker's stage): `begin` once, then `add` for every token, synchronously, then `finish`.
 */
export class RecordBuilder {
  /** The running totals. */
  readonly stats: BuildStats = {
    entries: 0,
    deletions: 0,
    chunks: 0,
    dataBytes: 0,
    newChunks: 0,
    newBytes: 0,
  };
  private refs: Array<{ digest: Uint8Array; length: number }> = [];
  private begun: Promise<void> | undefined;
  private layerOut = false;
  private readonly globals = new Map<string, string>();

  constructor(private readonly options: RecordBuilderOptions) {}

  /** True once the layer record is out, so that `add` may be called. */
  get started(): boolean {
    return this.layerOut;
  }

  /** Emits the layer record (once, however often it is called). */
  begin(emit: (r: IndexRecord) => void): Promise<void> {
    this.begun ??= this.options.layer().then((layer) => {
      emit(layer);
      this.layerOut = true;
    });
    return this.begun;
  }

  /** Takes the next token and emits what it completes. Call only once `started`. */
  add(t: StoredToken, emit: (r: IndexRecord) => void): void {
    const { stats, options } = this;
    switch (t.type) {
      case 'header': {
        const entry = entryMeta(t.entry, this.globals);
        checkItems(entry, t.offset);
        const wh = parseWhiteout(t.entry.path);
        if (wh) {
          stats.deletions++;
          emit({ type: 'delete', path: wh.path, opaque: wh.opaque, entry, raw: t.raw });
        } else {
          stats.entries++;
          emit({ type: 'entry', entry, raw: t.raw });
        }
        options.onProgress?.(stats);
        return;
      }
      case 'chunk':
        this.refs.push({ digest: t.digest, length: t.length });
        stats.chunks++;
        stats.dataBytes += t.length;
        if (t.isNew) {
          stats.newChunks++;
          stats.newBytes += t.length;
        }
        options.onProgress?.(stats);
        if (this.refs.length >= REFS_PER_RECORD) this.flushRefs(emit);
        return;
      case 'end':
        this.flushRefs(emit);
        if (t.padding.length && !isZeroBlock(t.padding)) {
          emit({ type: 'padding', bytes: t.padding.slice() });
        }
        return;
      case 'tail':
        emit({ type: 'tail' });
        return;
    }
  }

  /** Ends the records: the last chunk references and the end record. */
  async finish(emit: (r: IndexRecord) => void): Promise<void> {
    await this.begin(emit);
    this.flushRefs(emit);
    const trailer = await this.options.trailer();
    const { stats } = this;
    const end: IndexRecord & { type: 'end' } = {
      type: 'end',
      diffId: trailer.diffId,
      size: trailer.size,
      entries: stats.entries,
      deletions: stats.deletions,
      chunks: stats.chunks,
      dataBytes: stats.dataBytes,
    };
    if (trailer.blob) end.blob = trailer.blob;
    emit(end);
    this.options.onEnd?.({ ...stats }, end);
  }

  private flushRefs(emit: (r: IndexRecord) => void): void {
    if (this.refs.length === 0) return;
    emit({ type: 'chunks', refs: this.refs });
    this.refs = [];
  }
}
