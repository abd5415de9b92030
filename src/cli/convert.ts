/**
 * `layerdiff convert <layer|-> --store <dir> --out <index> [--flat] [--json] [--progress]`
 *
 * @module
 */

import { stat } from 'node:fs/promises';
import { nodeGunzip } from '../node/gunzip.js';
import { layerHashing } from '../node/hash.js';
import { atomicFile, fileSource } from '../node/io.js';
import { convert } from '../pipeline/convert.js';
import { parse, required } from './args.js';
import { summaryStream } from './output.js';
import { inputFiles, outputFile } from './paths.js';
import { showProgress } from './progress.js';
import { openWritableStore, WRITE_STORE_OPTIONS } from './store.js';

/** A regular file's size, for the progress line; undefined for stdin and pipes. */
export async function sizeOf(path: string): Promise<number | undefined> {
  if (path === '-') return undefined;
  const s = await stat(path).catch(() => undefined);
  return s?.isFile() ? s.size : undefined;
}

export async function convertCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    {
      ...WRITE_STORE_OPTIONS,
      out: { type: 'string' },
      flat: { type: 'boolean' },
      json: { type: 'boolean' },
      progress: { type: 'boolean' },
    },
    { min: 1, max: 1, names: 'one layer path (or - for stdin)' },
  );
  // Check every option before creating anything.
  required(values.store, 'store');
  const outPath = required(values.out, 'out');
  await inputFiles(positionals);
  await outputFile(outPath, positionals);
  const store = await openWritableStore(values);
  const out = await atomicFile(outPath);
  try {
    const { layer, hash } = await layerHashing(
      fileSource(positionals[0]!, { blocking: true, recycle: true }),
    );
    const converter = convert(layer, {
      store,
      hash,
      gunzip: nodeGunzip(),
      index: values.flat ? 'flat' : 'chunked',
    });
    const stop = showProgress(converter.events, {
      total: await sizeOf(positionals[0]!),
      force: values.progress === true,
    });
    converter.done.then(stop, stop);
    // A failure of the layer or of the conversion errors the index with the converter's own
    // error (a zlib failure becomes ERR_COMPRESSION).
    await converter.index.pipeTo(out.writable);
    const result = await converter.done;
    await out.commit();
    const say = await summaryStream(outPath);
    if (values.json) {
      say.write(`${JSON.stringify(result)}\n`);
    } else {
      const ix = result.index;
      const meta = ix
        ? `; index ${ix.indexBytes} bytes in ${ix.indexChunks} chunks (${ix.newIndexChunks} new, ${ix.newIndexBytes} bytes), root ${ix.rootBytes} bytes`
        : '';
      say.write(
        `${result.diffId}  ${result.entries} entries, ${result.chunks} chunks (${result.newChunks} new, ${result.newBytes} bytes)${meta}\n`,
      );
    }
  } catch (err) {
    await out.discard();
    throw err;
  }
}
