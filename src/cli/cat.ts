/**
 * `layerdiff cat <index> --store <dir> [--out <file>]`
 *
 * @module
 */
import { nodeHashProvider } from '../node/hash.js';
import { fileSource, pipeToOutput } from '../node/io.js';
import { reassemble } from '../pipeline/reassemble.js';
import { parse, required } from './args.js';
import { inputFiles, outputFile } from './paths.js';
import { openReadStore } from './store.js';

export async function catCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { store: { type: 'string' }, out: { type: 'string' } },
    { min: 1, max: 1, names: 'one index path' },
  );
  required(values.store, 'store');
  await inputFiles(positionals);
  await outputFile(values.out, positionals);
  const store = await openReadStore(values.store);
  // Chunks come in pooled buffers, each given back once written.
  const tar = reassemble(fileSource(positionals[0]!), store, {
    hash: nodeHashProvider(),
    recycle: true,
  });
  await pipeToOutput(tar, values.out, { blocking: true, giveBack: true });
}
