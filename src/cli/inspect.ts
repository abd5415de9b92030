/**
 * `layerdiff inspect <index> [--store <dir>] [--json]`
 *
 * @module
 */
import { open, readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import type { EndRecord, EntryMeta, IndexRecord } from '../format/records.js';
import { decodeRoot, isRoot } from '../format/root.js';
import { formatDigest } from '../hash/digest.js';
import { nodeHashProvider } from '../node/hash.js';
import { fileSource } from '../node/io.js';
import { readIndexRecords } from '../pipeline/open-index.js';
import type { ChunkReader } from '../store/types.js';
import { parse } from './args.js';
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
  const json = values.json === true;
  if (values.store === undefined) {
    // A root alone holds the layer's totals; its entries are in the store.
    const head = await readHead(path);
    if (isRoot(head)) return summary(decodeRoot(await readFile(path)), json);
  }
  const store: ChunkReader =
    values.store === undefined ? noStore : await openReadStore(values.store);
  const reader = readIndexRecords(fileSource(path), store, {
    hash: nodeHashProvider(),
  }).getReader();
  const entries: unknown[] = [];
  const deletions: unknown[] = [];
  let layer: unknown;
  let end: unknown;
  let last: { chunks: number } | undefined;
  const flushLine = (text: string) => {
    if (!json) process.stdout.write(`${text}\n`);
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const r: IndexRecord = value;
    switch (r.type) {
      case 'layer':
        layer = {
          version: r.version,
          chunker: r.chunker,
          digest: r.digest,
          compression: r.compression,
        };
        flushLine(
          `layerdiff index v${r.version}, ${r.chunker.algorithm} ${r.chunker.min}/${r.chunker.avg}/${r.chunker.max}, ${r.digest}, from ${r.compression} blob`,
        );
        break;
      case 'entry': {
        const e = entryJson(r.entry, 0);
        entries.push(e);
        last = e;
        const m = r.entry;
        flushLine(
          `${modeString(m)} ${m.uname || m.uid}/${m.gname || m.gid} ${String(m.sparse?.realSize ?? m.size).padStart(10)} ${timeString(m.mtime.sec)} ${m.path}${m.linkname ? ` -> ${m.linkname}` : ''}`,
        );
        break;
      }
      case 'delete': {
        const d = { path: r.path, opaque: r.opaque, whiteout: r.entry.path, chunks: 0 };
        deletions.push(d);
        last = d;
        flushLine(`delete ${r.opaque ? 'opaque ' : ''}${r.path || '/'}`);
        break;
      }
      case 'chunks':
        if (last) last.chunks += r.refs.length;
        break;
      case 'tail':
        // The chunks after this are the end-of-archive blocks, not the last entry's body.
        last = undefined;
        break;
      case 'end':
        end = endJson(r);
        for (const line of endLines(r)) flushLine(line);
        break;
      default:
        break;
    }
  }
  if (json) process.stdout.write(`${JSON.stringify({ layer, entries, deletions, end })}\n`);
}

const noStore: ChunkReader = {
  get() {
    throw new UsageError('this index is chunked: --store <dir> is needed to list its entries');
  },
};

async function readHead(path: string): Promise<Uint8Array> {
  const file = await open(path, 'r');
  try {
    const head = new Uint8Array(8);
    const { bytesRead } = await file.read(head, 0, 8, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
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
    lines.push(`blob ${formatDigest(r.blob.digest)} (${r.blob.compression}, ${r.blob.size} bytes)`);
  }
  return lines;
}

/** What a root alone tells: the totals, and how the index itself is chunked. */
function summary(root: ReturnType<typeof decodeRoot>, json: boolean): void {
  const index = {
    bytes: root.size,
    levels: root.levels,
    chunker: root.chunker,
    rootChunks: root.refs.length,
  };
  if (json) {
    process.stdout.write(`${JSON.stringify({ index, end: endJson(root.end) })}\n`);
    return;
  }
  const c = root.chunker;
  process.stdout.write(
    `layerdiff index root v${root.version}: ${root.size}-byte index in ${root.refs.length} chunks (${c.algorithm} ${c.min}/${c.avg}/${c.max}, ${root.levels} levels); pass --store to list entries\n`,
  );
  for (const line of endLines(root.end)) process.stdout.write(`${line}\n`);
}

/** An mtime as ISO 8601, or as seconds where a JavaScript date cannot hold it. */
function timeString(sec: number): string {
  const d = new Date(sec * 1000);
  return Number.isNaN(d.getTime()) ? `@${sec}` : d.toISOString();
}
