/**
 * `layerdiff extract-tar <tar|-> --dir <target> [--json]`
 *
 * @module
 */
import { extract } from '../node/extract.js';
import { fileSource } from '../node/io.js';
import { parse, required } from './args.js';

export async function extractTarCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { dir: { type: 'string' }, json: { type: 'boolean' } },
    { min: 1, max: 1, names: 'one tar path (or - for stdin)' },
  );
  const dir = required(values.dir, 'dir');
  const report = await extract(fileSource(positionals[0]!), dir);
  for (const w of report.warnings) {
    process.stderr.write(`layerdiff extract-tar: warning: ${w.path}: ${w.message}\n`);
  }
  const more = report.warningCount - report.warnings.length;
  if (more > 0) process.stderr.write(`layerdiff extract-tar: ${more} more warnings\n`);
  const skipped = report.devicesSkipped + report.skipped;
  process.stderr.write(
    `extracted ${report.entries} entries into ${dir}: ${report.files} files, ${report.dirs} dirs, ` +
      `${report.symlinks} symlinks, ${report.hardlinks} hardlinks, ${report.fifos} fifos, ` +
      `${report.devices} devices; ${skipped} skipped; ownership not applied to ${report.ownershipNotApplied}\n`,
  );
  if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
}
