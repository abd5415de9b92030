/**
 * `layerdiff extract <index>... --store <dir> --dir <target> [--json] [--max-entries <n>]` (a stack of layers,
 * flattened on the fly) and `layerdiff extract-tar <tar|-> --dir <target> [--json]`.
 *
 * @module
 */
import { type ExtractReport, extract } from '../node/extract.js';
import { fileSource } from '../node/io.js';
import { count, parse, required } from './args.js';
import { flattenFiles } from './flatten.js';
import { inputFiles, outputDir } from './paths.js';
import { printable, printableMessage } from './printable.js';
import { openReadStore } from './store.js';

export async function extractCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    {
      store: { type: 'string' },
      dir: { type: 'string' },
      json: { type: 'boolean' },
      'max-entries': { type: 'string' },
    },
    { min: 1, max: Number.POSITIVE_INFINITY, names: 'one or more index paths, bottom layer first' },
  );
  required(values.store, 'store');
  const dir = required(values.dir, 'dir');
  const maxEntries = count(values['max-entries'], 'max-entries');
  await inputFiles(positionals);
  await outputDir(dir);
  const store = await openReadStore(values.store);
  // File bodies come in pooled buffers; extract gives each back once written.
  const tar = flattenFiles('extract', positionals, store, { recycle: true, maxEntries });
  report('extract', dir, await extract(tar, dir), values.json === true);
}

export async function extractTarCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { dir: { type: 'string' }, json: { type: 'boolean' } },
    { min: 1, max: 1, names: 'one tar path (or - for stdin)' },
  );
  const dir = required(values.dir, 'dir');
  await inputFiles(positionals);
  await outputDir(dir);
  report(
    'extract-tar',
    dir,
    await extract(fileSource(positionals[0]!, { blocking: true }), dir),
    values.json === true,
  );
}

function report(command: string, dir: string, report: ExtractReport, json: boolean): void {
  for (const w of report.warnings) {
    process.stderr.write(
      `layerdiff ${command}: warning: ${printable(w.path)}: ${printableMessage(w.message)}\n`,
    );
  }
  const more = report.warningCount - report.warnings.length;
  if (more > 0) process.stderr.write(`layerdiff ${command}: ${more} more warnings\n`);
  const skipped = report.devicesSkipped + report.skipped;
  process.stderr.write(
    `extracted ${report.entries} entries into ${dir}: ${report.files} files, ${report.dirs} dirs, ` +
      `${report.symlinks} symlinks, ${report.hardlinks} hardlinks, ${report.fifos} fifos, ` +
      `${report.devices} devices; ${skipped} skipped; ownership not applied to ${report.ownershipNotApplied}\n`,
  );
  if (json) process.stdout.write(`${JSON.stringify(report)}\n`);
}
