/**
 * `layerdiff changes <old-index> <new-index> [--store <dir>] [--json]
 *   [--max-entries <n>] [--max-chunks <n>]`
 *
 * Changes are written as they are found, not gathered first.
 *
 * @module
 */
import { UsageError } from '../errors.js';
import { nodeHashProvider } from '../node/hash.js';
import { fileSource } from '../node/io.js';
import { changes, type FileChange } from '../pipeline/changes.js';
import type { ChunkReader } from '../store/types.js';
import { count, parse } from './args.js';
import { inputFiles } from './paths.js';
import { printable } from './printable.js';
import { openReadStore } from './store.js';

const noStore: ChunkReader = {
  get() {
    throw new UsageError('a chunked index needs its store: pass --store <dir>');
  },
};

const MARK = { added: 'A', removed: 'D', modified: 'M' } as const;

/** Writes text to stdout in pieces of about 64 KiB. */
class Out {
  private text = '';
  add(s: string): void {
    this.text += s;
    if (this.text.length >= 65536) this.flush();
  }
  flush(): void {
    if (this.text !== '') process.stdout.write(this.text);
    this.text = '';
  }
}

export async function changesCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    {
      store: { type: 'string' },
      json: { type: 'boolean' },
      'max-entries': { type: 'string' },
      'max-chunks': { type: 'string' },
    },
    { min: 2, max: 2, names: 'the old and the new index' },
  );
  const maxEntries = count(values['max-entries'], 'max-entries');
  const maxChunks = count(values['max-chunks'], 'max-chunks');
  await inputFiles(positionals);
  const store = values.store === undefined ? noStore : await openReadStore(values.store);
  const out = new Out();
  let first = true;
  const onFile = values.json
    ? (f: FileChange) => {
        out.add(`${first ? '{"files":[' : ','}${JSON.stringify(f)}`);
        first = false;
      }
    : (f: FileChange) => {
        const how = f.aspects ? ` [${f.aspects.join(',')}]` : '';
        const moved = f.newBytes > 0 ? ` +${f.newBytes} bytes` : '';
        out.add(`${MARK[f.change]} ${printable(f.path) || '/'}${how}${moved}\n`);
      };
  const { files: _none, ...r } = await changes(
    fileSource(positionals[0]!),
    fileSource(positionals[1]!),
    store,
    { hash: nodeHashProvider(), maxEntries, maxChunks, onFile },
  );
  if (values.json) {
    out.add(`${first ? '{"files":[' : ''}],${JSON.stringify(r).slice(1)}\n`);
  } else {
    for (const d of r.deletions) out.add(`W ${printable(d) || '/'} (whiteout)\n`);
    out.add(
      `${r.added} added, ${r.removed} removed, ${r.modified} modified; to move: ${r.bytesToMove} bytes in ${r.chunksToMove} data chunks, ${r.indexBytesToMove} bytes in ${r.indexChunksToMove} index chunks\n`,
    );
  }
  out.flush();
}
