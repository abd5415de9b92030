/**
 * `layerdiff gc [<index>...] [--oci <layout>]... --store <dir> [--dry-run] [--max-unused PCT]
 * [--codec C] [--json]`: removes the chunks of a store that none of the given indexes, nor
 * the layers of the chunked OCI layouts given, refers to.
 *
 * @module
 */
import { UsageError } from '../errors.js';
import { collectGarbage, type GarbageReport } from '../node/gc.js';
import { nodeHashProvider } from '../node/hash.js';
import { fileSource } from '../node/io.js';
import { parse, required } from './args.js';
import { inputDirs, inputFiles } from './paths.js';
import { chunkedLayoutRoots, codecOption, lockWaitMs } from './store.js';

export async function gcCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    {
      store: { type: 'string' },
      oci: { type: 'string', multiple: true },
      'dry-run': { type: 'boolean' },
      'max-unused': { type: 'string' },
      codec: { type: 'string' },
      'deflate-level': { type: 'string' },
      json: { type: 'boolean' },
    },
    { min: 0, max: Number.POSITIVE_INFINITY, names: 'the index paths to keep' },
  );
  const layouts = values.oci ?? [];
  if (positionals.length === 0 && layouts.length === 0) {
    throw new UsageError('name the indexes to keep (paths, or chunked OCI layouts with --oci)');
  }
  const dir = required(values.store, 'store');
  const pct = values['max-unused'];
  if (pct !== undefined && !/^(100|[1-9]?[0-9])$/.test(pct)) {
    throw new UsageError(`--max-unused must be a percentage, 0 to 100: ${JSON.stringify(pct)}`);
  }
  // Every index must be there before anything is locked: a missing one would leave its
  // chunks unmarked.
  if (positionals.includes('-')) throw new UsageError('gc reads its indexes from files, not stdin');
  await inputFiles(positionals);
  await inputDirs(layouts);
  // Without --codec or --deflate-level, each chunk a rewrite copies keeps its coding.
  const given = values.codec !== undefined || values['deflate-level'] !== undefined;
  const codec = given
    ? codecOption(values.codec, values['deflate-level'], { algorithm: 'lz4', level: 1 })
    : undefined;
  // Read once the collection holds its lock: a layout's layers as they are then (each layout
  // read whole, its roots a few KB each).
  async function* roots(): AsyncGenerator<Uint8Array | ReadableStream<Uint8Array>> {
    for (const p of positionals) yield fileSource(p, { blocking: true });
    for (const l of layouts) yield* await chunkedLayoutRoots(l);
  }
  const report = await collectGarbage(dir, roots(), {
    dryRun: values['dry-run'] === true,
    ...(codec !== undefined ? { codec } : {}),
    hash: nodeHashProvider(),
    lockWaitMs: lockWaitMs(),
    ...(pct !== undefined ? { maxUnused: Number(pct) / 100 } : {}),
  });
  process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : summary(report));
}

/** The report as lines for a reader. */
function summary(r: GarbageReport): string {
  const would = r.dryRun ? 'would remove' : 'removed';
  const lines = [
    `${r.indexes} index(es) (layers) refer to ${r.referenced} chunks${r.missing ? `, ${r.missing} of them missing from the store` : ''}`,
    `${would} ${r.chunksRemoved} of ${r.chunksBefore} chunks: ${r.bytesBefore} -> ${r.bytesAfter} bytes${r.dryRun ? ' (estimated)' : ''}`,
  ];
  if (r.leftovers) lines.push(`${would} ${r.leftovers} file(s) crashed writers left`);
  if (r.packs) {
    const p = r.packs;
    const copies = p.damagedCopies
      ? `; ${p.damagedCopies} chunk(s) of them were copied before that, and are held twice`
      : '';
    lines.push(
      `packs: ${p.before} before, ${p.removed} ${r.dryRun ? 'to remove' : 'removed'}, ${p.rewritten} ${r.dryRun ? 'to rewrite' : `rewritten into ${p.written}`}${p.damaged.length ? `, ${p.damaged.length} left as they were (a kept chunk did not read back: ${p.damaged.join(', ')}${copies})` : ''}`,
    );
  }
  if (!r.locked) {
    lines.push(
      "not locked: this user cannot write the store's locks/, so a collection may have changed the store meanwhile",
    );
  }
  return `${lines.join('\n')}\n`;
}
