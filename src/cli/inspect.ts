/**
 * `layerdiff inspect <index> [--store <dir>] [--json]`
 *
 * @module
 */
import { stat } from 'node:fs/promises';
import { readBytes, readLeading } from '../bytes-stream.js';
import { RecordFormatError, UsageError } from '../errors.js';
import type {
  DeleteRecord,
  EndRecord,
  EntryMeta,
  IndexRecord,
  LayerRecord,
} from '../format/records.js';
import { decodeRoot, isRoot, MAX_ROOT_BYTES, ROOT_MAGIC } from '../format/root.js';
import { formatDigest } from '../hash/digest.js';
import { nodeHashProvider } from '../node/hash.js';
import { fileSource, stdoutSink } from '../node/io.js';
import { readIndexRecords } from '../pipeline/open-index.js';
import type { ChunkReader } from '../store/types.js';
import { parse } from './args.js';
import { inputFiles } from './paths.js';
import { printable } from './printable.js';
import { openReadStore } from './store.js';

const KIND_CHAR: Record<string, string> = {
  '1': 'h',
  '2': 'l',
  '3': 'c',
  '4': 'b',
  '5': 'd',
  '6': 'p',
};

function modeString(m: EntryMeta): string {
  const bits = 'rwxrwxrwx';
  let s = KIND_CHAR[m.typeflag] ?? '-';
  for (let i = 0; i < 9; i++) s += m.mode & (1 << (8 - i)) ? bits[i] : '-';
  return s;
}

function entryJson(m: EntryMeta, chunks: number) {
  return {
    path: m.path,
    typeflag: m.typeflag,
    mode: m.mode,
    uid: m.uid,
    gid: m.gid,
    uname: m.uname,
    gname: m.gname,
    mtime: m.mtime.sec + m.mtime.nsec / 1e9,
    size: m.size,
    linkname: m.linkname || undefined,
    dev: m.devmajor || m.devminor ? [m.devmajor, m.devminor] : undefined,
    xattrs: Object.keys(m.xattrs).length ? Object.keys(m.xattrs) : undefined,
    sparse: m.sparse,
    chunks,
  };
}

export async function inspectCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { store: { type: 'string' }, json: { type: 'boolean' } },
    { min: 1, max: 1, names: 'one index path' },
  );
  const path = positionals[0]!;
  await inputFiles(positionals);
  const json = values.json === true;
  const out = textOutput(stdoutSink());
  const write = out.write;
  // The head is taken from the first pass's own stream; a later pass (only for a file: a
  // pipe or `-` can be read once) opens the file again.
  const regular = path !== '-' && (await stat(path).catch(() => undefined))?.isFile() === true;
  const first = await peek(fileSource(path), ROOT_MAGIC.length);
  const head = first.head;
  let once: ReadableStream<Uint8Array> | undefined = first.stream;
  const input = (): ReadableStream<Uint8Array> => {
    const stream = once ?? fileSource(path);
    once = undefined;
    return stream;
  };
  if (values.store === undefined && isRoot(head)) {
    // A root alone holds the layer's totals; its entries are in the store.
    const bytes = await readBytes(
      input(),
      MAX_ROOT_BYTES,
      () => new RecordFormatError(`index root exceeds ${MAX_ROOT_BYTES} bytes`, 0),
    );
    await write(summary(decodeRoot(bytes), json));
    return out.close();
  }
  const store: ChunkReader =
    values.store === undefined ? noStore : await openReadStore(values.store);
  const list = (visit: (r: Listed) => Promise<void>) => listIndex(input(), store, visit);
  if (!json) {
    await list(async (r) => {
      if (r.kind === 'layer') await write(`${layerLine(r.layer)}\n`);
      else if (r.kind === 'entry') await write(`${entryLine(r.entry)}\n`);
      else if (r.kind === 'delete') {
        await write(
          `delete ${r.record.opaque ? 'opaque ' : ''}${printable(r.record.path) || '/'}\n`,
        );
      } else
        await write(
          endLines(r.end)
            .map((l) => `${l}\n`)
            .join(''),
        );
    });
    return out.close();
  }
  // One JSON object, written as it is read. A file is read twice, entries in the first pass
  // and deletions in the second, so that neither list is held; a pipe can be read only once,
  // and its deletions (few in a real layer) are held until the entries are out.
  const twoPasses = regular;
  const deletions: string[] = [];
  const deletionJson = (r: Listed & { kind: 'delete' }) =>
    JSON.stringify({
      path: r.record.path,
      opaque: r.record.opaque,
      whiteout: r.record.entry.path,
      chunks: r.chunks,
    });
  let end: EndRecord | undefined;
  let sep = '';
  await list(async (r) => {
    if (r.kind === 'layer')
      await write(`{"layer":${JSON.stringify(layerJson(r.layer))},"entries":[`);
    else if (r.kind === 'entry') {
      await write(`${sep}${JSON.stringify(entryJson(r.entry, r.chunks))}`);
      sep = ',';
    } else if (r.kind === 'delete' && !twoPasses) deletions.push(deletionJson(r));
    else if (r.kind === 'end') end = r.end;
  });
  await write(`],"deletions":[${deletions.join(',')}`);
  if (twoPasses) {
    sep = '';
    await list(async (r) => {
      if (r.kind !== 'delete') return;
      await write(`${sep}${deletionJson(r)}`);
      sep = ',';
    });
  }
  await write(`],"end":${JSON.stringify(endJson(end!))}}\n`);
  return out.close();
}

/**
 * Text to a byte sink, gathered into pieces of about 64 KiB (one write a line cost more than
 * the listing itself), with the sink's backpressure.
 */
function textOutput(sink: WritableStream<Uint8Array>) {
  const writer = sink.getWriter();
  const encoder = new TextEncoder();
  let pending: string[] = [];
  let size = 0;
  const flush = async () => {
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    size = 0;
    await writer.write(encoder.encode(text));
  };
  return {
    async write(text: string): Promise<void> {
      pending.push(text);
      size += text.length;
      if (size >= 64 * 1024) await flush();
    },
    async close(): Promise<void> {
      await flush();
      await writer.close();
    },
  };
}

/** A record as listed: entries and deletions with the number of chunks of their bodies. */
type Listed =
  | { kind: 'layer'; layer: LayerRecord }
  | { kind: 'entry'; entry: EntryMeta; chunks: number }
  | { kind: 'delete'; record: DeleteRecord; chunks: number }
  | { kind: 'end'; end: EndRecord };

/**
 * Reads an index once, handing each record to `visit` once its body's chunks are counted
 * (so one entry is held at a time).
 */
async function listIndex(
  index: ReadableStream<Uint8Array>,
  store: ChunkReader,
  visit: (r: Listed) => Promise<void>,
): Promise<void> {
  const reader = readIndexRecords(index, store, {
    hash: nodeHashProvider(),
  }).getReader();
  let pending: (Listed & { chunks: number }) | undefined;
  const settle = async () => {
    if (pending) await visit(pending);
    pending = undefined;
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const r: IndexRecord = value;
      switch (r.type) {
        case 'layer':
          await visit({ kind: 'layer', layer: r });
          break;
        case 'entry':
          await settle();
          pending = { kind: 'entry', entry: r.entry, chunks: 0 };
          break;
        case 'delete':
          await settle();
          pending = { kind: 'delete', record: r, chunks: 0 };
          break;
        case 'chunks':
          if (pending) pending.chunks += r.refs.length;
          break;
        case 'tail':
          // The chunks after this are the end-of-archive blocks, not the last entry's body.
          await settle();
          break;
        case 'end':
          await settle();
          await visit({ kind: 'end', end: r });
          break;
        default:
          break;
      }
    }
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    throw err;
  }
}

function layerJson(r: LayerRecord) {
  return { version: r.version, chunker: r.chunker, digest: r.digest, compression: r.compression };
}

function layerLine(r: LayerRecord): string {
  // Text from the index is outside input: escaped, as paths are.
  return `layerdiff index v${r.version}, ${printable(r.chunker.algorithm)} ${r.chunker.min}/${r.chunker.avg}/${r.chunker.max}, ${printable(r.digest)}, from ${printable(r.compression)} blob`;
}

function entryLine(m: EntryMeta): string {
  const owner = `${m.uname ? printable(m.uname) : m.uid}/${m.gname ? printable(m.gname) : m.gid}`;
  const link = m.linkname ? ` -> ${printable(m.linkname)}` : '';
  return `${modeString(m)} ${owner} ${String(m.sparse?.realSize ?? m.size).padStart(10)} ${timeString(m.mtime.sec)} ${printable(m.path)}${link}`;
}

const noStore: ChunkReader = {
  get() {
    throw new UsageError('this index is chunked: --store <dir> is needed to list its entries');
  },
};

/**
 * Reads the first `n` bytes of a stream (fewer if it is shorter).
 * @returns them, and a stream of all its bytes, those included.
 */
async function peek(
  stream: ReadableStream<Uint8Array>,
  n: number,
): Promise<{ head: Uint8Array; stream: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const { pieces, head } = await readLeading(reader, n);
  const replay = new ReadableStream<Uint8Array>({
    async pull(c) {
      const p = pieces.shift();
      if (p) return c.enqueue(p);
      const r = await reader.read();
      if (r.done) c.close();
      else c.enqueue(r.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { head, stream: replay };
}

function endJson(r: EndRecord) {
  return {
    diffId: formatDigest(r.diffId),
    size: r.size,
    entries: r.entries,
    deletions: r.deletions,
    chunks: r.chunks,
    dataBytes: r.dataBytes,
    ...(r.blob
      ? {
          blob: {
            compression: r.blob.compression,
            digest: formatDigest(r.blob.digest),
            size: r.blob.size,
          },
        }
      : {}),
  };
}

function endLines(r: EndRecord): string[] {
  const lines = [
    `diff_id ${formatDigest(r.diffId)}: ${r.size} bytes, ${r.entries} entries, ${r.deletions} deletions, ${r.chunks} chunk references over ${r.dataBytes} bytes`,
  ];
  if (r.blob) {
    lines.push(
      `blob ${formatDigest(r.blob.digest)} (${printable(r.blob.compression)}, ${r.blob.size} bytes)`,
    );
  }
  return lines;
}

/** What a root alone tells: the totals, and how the index itself is chunked. */
function summary(root: ReturnType<typeof decodeRoot>, json: boolean): string {
  const index = {
    bytes: root.size,
    levels: root.levels,
    chunker: root.chunker,
    rootChunks: root.refs.length,
  };
  if (json) return `${JSON.stringify({ index, end: endJson(root.end) })}\n`;
  const c = root.chunker;
  return [
    `layerdiff index root v${root.version}: ${root.size}-byte index in ${root.refs.length} chunks (${printable(c.algorithm)} ${c.min}/${c.avg}/${c.max}, ${root.levels} levels); pass --store to list entries`,
    ...endLines(root.end),
  ]
    .map((l) => `${l}\n`)
    .join('');
}

/** An mtime as ISO 8601, or as seconds where a JavaScript date cannot hold it. */
function timeString(sec: number): string {
  const d = new Date(sec * 1000);
  return Number.isNaN(d.getTime()) ? `@${sec}` : d.toISOString();
}
