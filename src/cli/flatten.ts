/**
 * `layerdiff flatten <index>... --store <dir> [--out <file>]`
 *
 * @module
 */
import { FsStore } from '../node/fs-store.js';
import { nodeHashProvider } from '../node/hash.js';
import { atomicFile, fileSource, stdoutSink } from '../node/io.js';
import { flatten } from '../pipeline/flatten.js';
import { parse, required } from './args.js';

export async function flattenCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { store: { type: 'string' }, out: { type: 'string' } },
    { min: 1, max: Number.POSITIVE_INFINITY, names: 'one or more index paths, bottom layer first' },
  );
  const store = await FsStore.open(required(values.store, 'store'));
  const tar = flatten(
    positionals.map((path) => () => fileSource(path)),
    store,
    {
      hash: nodeHashProvider(),
      onWarning: (w) =>
        process.stderr.write(
          `layerdiff flatten: warning: ${w.code}: ${JSON.stringify(w.path)}: ${w.message}\n`,
        ),
    },
  );
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
