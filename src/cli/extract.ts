/**
 * `layerdiff extract <index>... --store <dir> --dir <target> [--json] [--max-entries <n>]` (a stack of layers,
 * flattened on the fly) and `layerdiff extract-tar <tar|-> --dir <target> [--json]` (a tar,
 * tar+gzip or tar+zstd, detected as convert detects them); both take
 * `--no-xattrs`, `--xattrs-include <pattern>` and `--xattrs-exclude <pattern>` (repeatable).
 *
 * @module
 */
import { decompressFrom } from '../compress/decompress.js';
import { UsageError } from '../errors.js';
import { type ExtractOptions, type ExtractReport, extract } from '../node/extract.js';
import { nodeGunzip } from '../node/gunzip.js';
import { nodeHashProvider } from '../node/hash.js';
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
      ...XATTR_FLAGS,
    },
    { min: 1, max: Number.POSITIVE_INFINITY, names: 'one or more index paths, bottom layer first' },
  );
  required(values.store, 'store');
  const dir = required(values.dir, 'dir');
  const maxEntries = count(values['max-entries'], 'max-entries');
  const xattrs = xattrsFlags(values);
  await inputFiles(positionals);
  await outputDir(dir);
  const store = await openReadStore(values.store);
  // File bodies come in pooled buffers; extract gives each back once written.
  const tar = flattenFiles('extract', positionals, store, { recycle: true, maxEntries });
  report('extract', dir, await extract(tar, dir, { xattrs }), values.json === true);
}

export async function extractTarCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { dir: { type: 'string' }, json: { type: 'boolean' }, ...XATTR_FLAGS },
    { min: 1, max: 1, names: 'one tar path (or - for stdin)' },
  );
  const dir = required(values.dir, 'dir');
  const xattrs = xattrsFlags(values);
  await inputFiles(positionals);
  await outputDir(dir);
  // A layer as registries hold it is compressed: gzip and zstd are read as convert reads them.
  const { readable: tar } = decompressFrom(fileSource(positionals[0]!, { blocking: true }), {
    hash: nodeHashProvider({ worker: false }),
    digestBlob: false,
    gunzip: nodeGunzip(),
  });
  report('extract-tar', dir, await extract(tar, dir, { xattrs }), values.json === true);
}

/** The xattr flags both commands take. */
const XATTR_FLAGS = {
  'no-xattrs': { type: 'boolean' },
  'xattrs-include': { type: 'string', multiple: true },
  'xattrs-exclude': { type: 'string', multiple: true },
} as const;

/** `ExtractOptions.xattrs` from the xattr flags: each list, when given, replaces its default. */
function xattrsFlags(values: {
  'no-xattrs'?: boolean;
  'xattrs-include'?: string[];
  'xattrs-exclude'?: string[];
}): ExtractOptions['xattrs'] {
  const include = values['xattrs-include'];
  const exclude = values['xattrs-exclude'];
  if (values['no-xattrs']) {
    if (include || exclude) {
      throw new UsageError('--no-xattrs cannot be given with --xattrs-include or --xattrs-exclude');
    }
    return false;
  }
  for (const [name, list] of [
    ['xattrs-include', include],
    ['xattrs-exclude', exclude],
  ] as const) {
    if (list?.includes('')) throw new UsageError(`--${name} needs a pattern, got ""`);
  }
  return { include, exclude };
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
