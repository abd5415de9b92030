/**
 * `layerdiff flatten <index>... --store <dir> [--out <file>]`
 *
 * @module
 */
import { FsStore } from '../node/fs-store.js';
import { nodeHashProvider } from '../node/hash.js';
import { fileSource, pipeToOutput } from '../node/io.js';
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
  await pipeToOutput(tar, values.out);
}
