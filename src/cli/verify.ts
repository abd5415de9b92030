/**
 * `layerdiff verify --store <dir> [<index>...] [--oci <layout>]... [--json]`: reads every chunk
 * of a store and checks it against its digest, then checks that the given indexes (and the
 * layers of the given chunked OCI layouts) can be rebuilt from the store.
 *
 * @module
 */
import { StoreDamagedError, UsageError } from '../errors.js';
import { nodeHashProvider } from '../node/hash.js';
import { fileSource } from '../node/io.js';
import { type VerifyProblem, type VerifyReport, verifyStore } from '../node/verify.js';
import { parse, required } from './args.js';
import { inputDirs, inputFiles } from './paths.js';
import { chunkedLayoutRoots, lockWaitMs } from './store.js';

/** Problems the summary names one by one, at most; the report (`--json`) lists more. */
const SHOWN_PROBLEMS = 20;

export async function verifyCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    {
      store: { type: 'string' },
      oci: { type: 'string', multiple: true },
      json: { type: 'boolean' },
    },
    { min: 0, max: Number.POSITIVE_INFINITY, names: 'the index paths to check' },
  );
  const dir = required(values.store, 'store');
  const layouts = values.oci ?? [];
  if (positionals.includes('-'))
    throw new UsageError('verify reads its indexes from files, not stdin');
  await inputFiles(positionals);
  await inputDirs(layouts);
  // Layouts are read before the store is: a wrong one fails at once, not after the scan.
  const fromLayouts: Uint8Array[] = [];
  for (const l of layouts) fromLayouts.push(...(await chunkedLayoutRoots(l)));
  async function* roots(): AsyncGenerator<Uint8Array | ReadableStream<Uint8Array>> {
    for (const p of positionals) yield fileSource(p, { blocking: true });
    yield* fromLayouts;
  }
  const report = await verifyStore(dir, roots(), {
    hash: nodeHashProvider(),
    lockWaitMs: lockWaitMs(),
  });
  process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : summary(report));
  if (!report.ok) throw new StoreDamagedError(verdict(report));
}

/** What was found wrong, in one line. */
function verdict(r: VerifyReport): string {
  const parts: string[] = [];
  if (r.bad) parts.push(`${r.bad} ${r.layout === 'pack' ? 'record(s)' : 'chunk file(s)'} bad`);
  if (r.missing) parts.push(`${r.missing} reference(s) to chunks no copy gives`);
  if (r.badPackIndexes) parts.push(`${r.badPackIndexes} malformed pack index(es)`);
  if (r.badIndexes) parts.push(`${r.badIndexes} index(es) that cannot be read whole`);
  return `found ${parts.join(', ')}`;
}

/** One problem as a line. */
function line(p: VerifyProblem): string {
  const where =
    p.kind === 'record'
      ? `${p.pack} at ${p.offset}${p.proven ? '' : ' (not proven: the pack may still be written)'}`
      : p.kind === 'pack-index'
        ? `${p.pack}.idx (its pack left out)`
        : p.kind === 'file'
          ? 'chunk file'
          : `index ${(p.index ?? 0) + 1}`;
  return `  ${p.kind}: ${where}: ${p.problem}`;
}

/** The report as lines for a reader. */
function summary(r: VerifyReport): string {
  const what =
    r.layout === 'pack' ? `${r.records} records in ${r.packs} packs` : `${r.records} chunk files`;
  const lines = [`read ${what} (${r.bytes} bytes stored): ${r.bad} bad`];
  if (r.indexes) {
    lines.push(
      `${r.indexes} index(es) refer to data chunks ${r.referenced} times: ${r.missing} to chunks no copy gives${r.badIndexes ? `; ${r.badIndexes} index(es) cannot be read whole` : ''}`,
    );
  }
  for (const p of r.problems.slice(0, SHOWN_PROBLEMS)) lines.push(line(p));
  const all = r.bad + r.missing + r.badIndexes + (r.badPackIndexes ?? 0);
  const more = all - Math.min(r.problems.length, SHOWN_PROBLEMS);
  if (more > 0) lines.push(`  ... and ${more} more (--json lists up to ${r.problems.length})`);
  if (r.ok) lines.push('ok');
  else if (r.bad) {
    lines.push(
      r.layout === 'pack'
        ? 'records proven bad are listed: the next conversion of their chunks stores them again, and gc leaves them out'
        : 'bad chunk files are set aside (.corrupt): the next conversion of their chunks stores them again',
    );
  }
  return `${lines.join('\n')}\n`;
}
