/**
 * `layerdiff cat <index> --store <dir> [--out <file>]`
 *
 * @module
 */
import { FsStore } from '../node/fs-store.js';
import { nodeHashProvider } from '../node/hash.js';
import { atomicFile, fileSource, stdoutSink } from '../node/io.js';
import { reassemble } from '../pipeline/reassemble.js';
import { parse, required } from './args.js';

export async function catCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { store: { type: 'string' }, out: { type: 'string' } },
    { min: 1, max: 1, names: 'one index path' },
  );
  const store = await FsStore.open(required(values.store, 'store'));
  const tar = reassemble(fileSource(positionals[0]!), store, { hash: nodeHashProvider() });
  if (values.out === undefined) {
    await tar.pipeTo(stdoutSink());
    return;
  }
  const out = await atomicFile(values.out);
  try {
    await tar.pipeTo(out.writable);
    await out.commit();
  } catch (err) {
    await out.discard();
    throw err;
  }
}
