/**
 * `layerdiff convert <layer|-> --store <dir> --out <index> [--json]`
 *
 * @module
 */

import { FsStore } from '../node/fs-store.js';
import { nodeHashProvider } from '../node/hash.js';
import { atomicFile, fileSource } from '../node/io.js';
import { createConverter } from '../pipeline/convert.js';
import { parse, required } from './args.js';

export async function convertCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { store: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } },
    { min: 1, max: 1, names: 'one layer path (or - for stdin)' },
  );
  const store = await FsStore.open(required(values.store, 'store'));
  const out = await atomicFile(required(values.out, 'out'));
  const converter = createConverter({ store, hash: nodeHashProvider() });
  try {
    await Promise.all([
      fileSource(positionals[0]!).pipeTo(converter.writable),
      converter.readable.pipeTo(out.writable),
    ]);
    const result = await converter.done;
    await out.commit();
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } else {
      process.stdout.write(
        `${result.diffId}  ${result.entries} entries, ${result.chunks} chunks (${result.newChunks} new, ${result.newBytes} bytes)\n`,
      );
    }
  } catch (err) {
    await out.discard();
    throw err;
  }
}
