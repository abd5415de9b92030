/**
 * `layerdiff changes <old-index> <new-index> [--store <dir>] [--json]`
 *
 * @module
 */
import { UsageError } from '../errors.js';
import { nodeHashProvider } from '../node/hash.js';
import { fileSource } from '../node/io.js';
import { changes } from '../pipeline/changes.js';
import type { ChunkReader } from '../store/types.js';
import { parse } from './args.js';
import { printable } from './printable.js';
import { openReadStore } from './store.js';

const noStore: ChunkReader = {
  get() {
    throw new UsageError('a chunked index needs its store: pass --store <dir>');
  },
};

const MARK = { added: 'A', removed: 'D', modified: 'M' } as const;

export async function changesCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { store: { type: 'string' }, json: { type: 'boolean' } },
    { min: 2, max: 2, names: 'the old and the new index' },
  );
  const store = values.store === undefined ? noStore : await openReadStore(values.store);
  const r = await changes(fileSource(positionals[0]!), fileSource(positionals[1]!), store, {
    hash: nodeHashProvider(),
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const lines: string[] = [];
  for (const f of r.files) {
    const how = f.aspects ? ` [${f.aspects.join(',')}]` : '';
    const moved = f.newBytes > 0 ? ` +${f.newBytes} bytes` : '';
    lines.push(`${MARK[f.change]} ${printable(f.path) || '/'}${how}${moved}`);
  }
  for (const d of r.deletions) lines.push(`W ${printable(d) || '/'} (whiteout)`);
  lines.push(
    `${r.added} added, ${r.removed} removed, ${r.modified} modified; to move: ${r.bytesToMove} bytes in ${r.chunksToMove} data chunks, ${r.indexBytesToMove} bytes in ${r.indexChunksToMove} index chunks`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}
