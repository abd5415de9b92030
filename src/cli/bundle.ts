/**
 * `layerdiff bundle <index> --store <dir> --out <file.zip> [--compression auto|deflate|store] [--json]`
 * `layerdiff unbundle <file.zip> --store <dir> --out <index> [--json]`
 *
 * @module
 */
import { openAsBlob } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { BlobReader } from '@zip.js/zip.js/lib/zip-core-custom.js';
import { type BundleCompression, createBundle } from '../bundle/create-bundle.js';
import { MAX_BUNDLE_INDEX_BYTES } from '../bundle/layout.js';
import { unbundle } from '../bundle/unbundle.js';
import { streamOfBytes } from '../bytes-stream.js';
import { BundleError, UsageError } from '../errors.js';
import { decodeRoot, isRoot } from '../format/root.js';
import { formatDigest } from '../hash/digest.js';
import { nodeHashProvider } from '../node/hash.js';
import { pipeToOutput } from '../node/io.js';
import { parse, required } from './args.js';
import { summaryStream } from './output.js';
import { inputFiles, outputFile } from './paths.js';
import { openReadStore, openWritableStore, WRITE_STORE_OPTIONS } from './store.js';

const COMPRESSIONS: readonly BundleCompression[] = ['auto', 'deflate', 'store'];

export async function bundleCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    {
      store: { type: 'string' },
      out: { type: 'string' },
      compression: { type: 'string' },
      json: { type: 'boolean' },
    },
    { min: 1, max: 1, names: 'one index path' },
  );
  const storeDir = required(values.store, 'store');
  const outPath = required(values.out, 'out');
  const compression = (values.compression ?? 'auto') as BundleCompression;
  if (!COMPRESSIONS.includes(compression)) {
    throw new UsageError(`--compression must be one of ${COMPRESSIONS.join(', ')}`);
  }
  const indexPath = positionals[0]!;
  await inputFiles(positionals, { stdin: false });
  await outputFile(outPath, positionals);
  const { size } = await stat(indexPath);
  if (size > MAX_BUNDLE_INDEX_BYTES) {
    throw new BundleError(
      `${indexPath} is ${size} bytes, more than a bundle's index may hold (bundle a root, as convert writes without --flat)`,
    );
  }
  const index = new Uint8Array(await readFile(indexPath));
  const store = await openReadStore(storeDir);
  const totals = { entries: 0, indexChunks: 0, dataChunks: 0, chunkBytes: 0, zipBytes: 0 };
  await pipeToOutput(
    createBundle(index, store, {
      hash: nodeHashProvider(),
      compression,
      onEntry: (e) => {
        totals.entries++;
        if (e.kind === 'index-chunk') totals.indexChunks++;
        if (e.kind === 'data-chunk') totals.dataChunks++;
        if (e.kind !== 'index') totals.chunkBytes += e.size;
      },
    }).pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(piece, c) {
          totals.zipBytes += piece.length;
          c.enqueue(piece);
        },
      }),
    ),
    outPath,
  );
  const say = await summaryStream(outPath);
  if (values.json) {
    say.write(`${JSON.stringify(totals)}\n`);
  } else {
    say.write(
      `${outPath}: ${totals.entries} entries (index, ${totals.indexChunks} index chunks, ${totals.dataChunks} data chunks), ${totals.chunkBytes} bytes of chunks in a ${totals.zipBytes}-byte zip\n`,
    );
  }
}

export async function unbundleCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { ...WRITE_STORE_OPTIONS, out: { type: 'string' }, json: { type: 'boolean' } },
    { min: 1, max: 1, names: 'one bundle path' },
  );
  required(values.store, 'store');
  const outPath = required(values.out, 'out');
  await inputFiles(positionals, { stdin: false });
  await outputFile(outPath, positionals);
  // A lazily read Blob: zip.js reads the directory and then only the entries it needs.
  const blob = await openAsBlob(positionals[0]!);
  const store = await openWritableStore(values);
  const result = await unbundle(new BlobReader(blob as unknown as Blob), store, {
    hash: nodeHashProvider(),
  });
  await pipeToOutput(streamOfBytes(result.root), outPath);
  const diffId = isRoot(result.root) ? formatDigest(decodeRoot(result.root).end.diffId) : undefined;
  const { root: _root, ...counts } = result;
  const say = await summaryStream(outPath);
  if (values.json) {
    say.write(`${JSON.stringify({ ...(diffId ? { diffId } : {}), ...counts })}\n`);
  } else {
    say.write(
      `${diffId ?? outPath}  ${counts.chunks} chunks (${counts.newChunks} new, ${counts.newBytes} bytes)${counts.unusedEntries ? `, ${counts.unusedEntries} unused entries skipped` : ''}\n`,
    );
  }
}
