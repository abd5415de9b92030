/**
 * `layerdiff flatten <index>... --store <dir> [--out <file>] [--max-entries <n>]`
 *
 * @module
 */
import { nodeHashProvider } from '../node/hash.js';
import { fileSource, pipeToOutput } from '../node/io.js';
import { flatten } from '../pipeline/flatten.js';
import type { ChunkReader } from '../store/types.js';
import { count, parse, required } from './args.js';
import { inputFiles, outputFile } from './paths.js';
import { printable, printableMessage } from './printable.js';
import { openReadStore } from './store.js';

export async function flattenCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { store: { type: 'string' }, out: { type: 'string' }, 'max-entries': { type: 'string' } },
    { min: 1, max: Number.POSITIVE_INFINITY, names: 'one or more index paths, bottom layer first' },
  );
  required(values.store, 'store');
  const maxEntries = count(values['max-entries'], 'max-entries');
  await inputFiles(positionals);
  await outputFile(values.out, positionals);
  const store = await openReadStore(values.store);
  // File bodies come in pooled buffers, each given back once written.
  const flat = flattenFiles('flatten', positionals, store, { recycle: true, maxEntries });
  await pipeToOutput(flat, values.out, {
    blocking: true,
    giveBack: true,
  });
}

/**
 * Flattens the index files `paths` (bottom first), reporting warnings on stderr.
 * @param command - the command name, for the warning lines.
 * @param options - `recycle`: lend file bodies in pooled buffers (see `FlattenOptions.recycle`),
 *   for a consumer that gives them back; `maxEntries`: see `FlattenOptions.maxEntries`.
 */
export function flattenFiles(
  command: string,
  paths: string[],
  store: ChunkReader,
  options: { recycle?: boolean; maxEntries?: number | undefined } = {},
): ReadableStream<Uint8Array> {
  return flatten(
    paths.map((path) => () => fileSource(path)),
    store,
    {
      hash: nodeHashProvider(),
      recycle: options.recycle === true,
      ...(options.maxEntries === undefined ? {} : { maxEntries: options.maxEntries }),
      onWarning: (w) =>
        process.stderr.write(
          `layerdiff ${command}: warning: ${w.code}: ${printable(w.path) || '/'}: ${printableMessage(w.message)}\n`,
        ),
    },
  );
}
