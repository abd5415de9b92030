/**
 * `layerdiff oci convert|pull|restore|flatten`: OCI image layouts and registries (docs/OCI.md).
 *
 * ```
 * layerdiff oci convert <layout>[:<tag>] --store <dir> --out <layout> [--platform <p>] [--jobs N] [--json]
 * layerdiff oci pull <host[:port]/repository[:tag][@digest]> --store <dir> --out <layout> [--plain-http]
 *     [--authfile <file> | --username <user> --password-stdin] [--platform <p>] [--max-downloads N] [--json]
 * layerdiff oci push <chunked-layout>[:<tag>] <host[:port]/repository[:tag]> --store <dir> [--plain-http]
 *     [--authfile <file> | --username <user> --password-stdin] [--part-size <MiB>]
 *     [--mount-from <repository>]... [--max-uploads N] [--json]
 * layerdiff oci restore <chunked-layout>[:<tag>] --store <dir> --out <layout> [--jobs N] [--json]
 * layerdiff oci flatten <layout>[:<tag>] --store <dir> [--platform <os/arch[/variant]>] [--out <file>]
 * ```
 *
 * @module
 */
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { UsageError } from '../errors.js';
import { defaultDeflateEngines } from '../node/deflate.js';
import { nodeHashProvider } from '../node/hash.js';
import { nodeHttpFetch } from '../node/http-fetch.js';
import { pipeToOutput } from '../node/io.js';
import { convertLayout, flattenImage } from '../node/oci-convert.js';
import { OciLayout } from '../node/oci-layout.js';
import { type OciRestoreReport, restoreLayout } from '../node/oci-restore.js';
import { offThreadDeflate } from '../node/off-thread-deflate.js';
import { authFileCredentials } from '../node/registry-auth.js';
import type { LayoutReader } from '../oci/layout-reader.js';
import { registryLayout } from '../registry/client.js';
import type { CredentialSource, RegistryCredentials } from '../registry/credentials.js';
import { parseImageReference } from '../registry/names.js';
import { pushImage } from '../registry/push.js';
import { count, parse, required } from './args.js';
import { inputDirs, newDir, outputFile, outsideDir } from './paths.js';
import { printable, printableMessage } from './printable.js';
import { openReadStore, openWritableStore, WRITE_STORE_OPTIONS } from './store.js';

/**
 * Splits `<dir>[:<tag>]`. A path that is an existing directory is taken whole; otherwise the
 * part after the last `:` is the tag.
 */
export function splitImageRef(arg: string): { dir: string; ref?: string } {
  if (statSync(arg, { throwIfNoEntry: false })?.isDirectory()) return { dir: arg };
  const at = arg.lastIndexOf(':');
  if (at <= 0) return { dir: arg };
  const ref = arg.slice(at + 1);
  if (ref === '') throw new UsageError(`empty tag in ${JSON.stringify(arg)}`);
  return { dir: arg.slice(0, at), ref };
}

const SUB: Record<string, (args: string[]) => Promise<void>> = {
  convert: ociConvert,
  pull: ociPull,
  push: ociPush,
  restore: ociRestore,
  flatten: ociFlatten,
};

export async function ociCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const run = sub === undefined ? undefined : SUB[sub];
  if (!run) throw new UsageError(`oci needs a subcommand: convert, pull, push, restore or flatten`);
  await run(rest);
}

/** The options of the commands that convert an image into a store. */
const CONVERT_OPTIONS = {
  ...WRITE_STORE_OPTIONS,
  out: { type: 'string' },
  json: { type: 'boolean' },
  platform: { type: 'string' },
} as const;

/**
 * Layers `oci convert` and `oci restore` work on at once by default: one per core, up to 4.
 * Gzip work runs on a worker thread per core, so a gzip image's layers then use every core.
 */
function defaultJobs(): number {
  return Math.min(4, Math.max(1, availableParallelism()));
}

async function ociConvert(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { ...CONVERT_OPTIONS, jobs: { type: 'string' } },
    { min: 1, max: 1, names: 'one layout directory, optionally :<tag>' },
  );
  required(values.store, 'store');
  required(values.out, 'out');
  const jobs = count(values.jobs, 'jobs') ?? defaultJobs();
  const { dir, ref } = splitImageRef(positionals[0]!);
  await inputDirs([dir]);
  await convertImage(dir, ref, values, jobs);
}

async function ociPull(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    {
      ...CONVERT_OPTIONS,
      ...REGISTRY_OPTIONS,
      'max-downloads': { type: 'string' },
    },
    { min: 1, max: 1, names: 'one image reference, host[:port]/repository[:tag][@digest]' },
  );
  required(values.store, 'store');
  // Checked before anything is asked of the registry.
  await newDir(required(values.out, 'out'));
  const concurrency = count(values['max-downloads'], 'max-downloads') ?? 3;
  const hash = nodeHashProvider();
  const layout = await registryLayout(positionals[0]!, {
    plainHttp: values['plain-http'] === true,
    fetch: nodeHttpFetch(),
    hash,
    credentials: await registryCredentials(values),
  });
  await convertImage(layout, undefined, values, concurrency);
}

/**
 * The credentials `oci pull` and `oci push` offer: `--username` with the password on stdin, or what the
 * auth files (`--authfile`, or podman's and docker's) hold for the registry.
 */
async function registryCredentials(values: {
  authfile?: string;
  username?: string;
  'password-stdin'?: boolean;
}): Promise<RegistryCredentials | CredentialSource> {
  const { username, authfile } = values;
  if ((username === undefined) !== (values['password-stdin'] !== true)) {
    throw new UsageError('--username and --password-stdin go together');
  }
  if (username === undefined) {
    return authFileCredentials(authfile !== undefined ? { authFile: authfile } : {});
  }
  if (authfile !== undefined) throw new UsageError('--authfile or --username, not both');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > 65536) throw new UsageError('the password on stdin is over 64 KiB');
    chunks.push(chunk as Buffer);
  }
  // One trailing newline (of `echo`, or a file) is not part of it, as docker login reads it.
  const password = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (password === '') throw new UsageError('--password-stdin read no password');
  return { username, password };
}

/** The options of the commands that talk to a registry. */
const REGISTRY_OPTIONS = {
  'plain-http': { type: 'boolean' },
  authfile: { type: 'string' },
  username: { type: 'string' },
  'password-stdin': { type: 'boolean' },
} as const;

async function ociPush(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    {
      store: { type: 'string' },
      json: { type: 'boolean' },
      'part-size': { type: 'string' },
      'mount-from': { type: 'string', multiple: true },
      'max-uploads': { type: 'string' },
      ...REGISTRY_OPTIONS,
    },
    {
      min: 2,
      max: 2,
      names: 'a chunked layout directory (optionally :<tag>) and host[:port]/repository[:tag]',
    },
  );
  const storeDir = required(values.store, 'store');
  const { dir, ref } = splitImageRef(positionals[0]!);
  const target = parseImageReference(positionals[1]!);
  const credentials = await registryCredentials(values);
  const partMiB = values['part-size'];
  const partSize = partMiB === undefined ? undefined : Math.floor(Number(partMiB) * 2 ** 20);
  if (partSize !== undefined && !(partSize >= 1 && Number.isSafeInteger(partSize))) {
    throw new UsageError('--part-size takes a positive number of MiB (0.5 is 512 KiB)');
  }
  const maxUploads = count(values['max-uploads'], 'max-uploads');
  await inputDirs([dir]);
  const layout = await OciLayout.open(dir);
  const store = await openReadStore(storeDir);
  const report = await pushImage(layout, target, {
    store,
    ref,
    plainHttp: values['plain-http'] === true,
    fetch: nodeHttpFetch(),
    credentials,
    hash: nodeHashProvider(),
    engines: defaultDeflateEngines().map(offThreadDeflate),
    ...(partSize !== undefined ? { partSize } : {}),
    ...(values['mount-from'] ? { mountFrom: values['mount-from'] } : {}),
    ...(maxUploads !== undefined ? { maxUploads } : {}),
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  printRestoreReport(report);
  process.stdout.write(
    `pushed ${printable(report.target)} ${report.digest}: ${report.uploaded} blobs uploaded (${report.uploadedBytes} bytes), ${report.present} already there${report.mounted ? `, ${report.mounted} mounted from other repositories` : ''}${report.resumed ? `, ${report.resumed} broken uploads resumed` : ''}\n`,
  );
}

/** Converts an image (a layout directory, or one read from a registry) and prints the report. */
async function convertImage(
  src: string | LayoutReader,
  ref: string | undefined,
  values: {
    store?: string;
    out?: string;
    json?: boolean;
    platform?: string;
    'store-layout'?: string;
    codec?: string;
    'deflate-level'?: string;
  },
  concurrency = 1,
): Promise<void> {
  required(values.store, 'store');
  const out = required(values.out, 'out');
  await newDir(out);
  const store = await openWritableStore(values);
  const { platform } = values;
  const report = await convertLayout(src, {
    store,
    out,
    ref,
    platform,
    // The default hashing: chosen per layer (a zstd layer without the worker).
    concurrency,
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  for (const m of report.manifests) {
    if (m.copied) {
      process.stdout.write(
        `${where(m)} ${m.digest} copied as it is (an artifact: no image layers)\n`,
      );
      continue;
    }
    process.stdout.write(`${where(m)} ${m.digest} -> ${m.chunkedDigest}\n`);
    for (const l of m.layers) {
      const state = l.reproducible
        ? l.gzip
          ? `gzip reproduced (${l.gzip.engine} level ${l.gzip.level})`
          : 'uncompressed, exact'
        : `will restore uncompressed: ${l.reason}`;
      process.stdout.write(
        `  ${l.digest} ${l.compression} root ${l.root.digest}, ${l.newChunks} new chunks (${l.newBytes} bytes); ${state}\n`,
      );
    }
  }
  for (const x of report.leftOut) {
    process.stdout.write(
      `left out of ${x.index}: ${x.digest} (${printable(x.platform ?? 'no platform')})\n`,
    );
  }
}

async function ociRestore(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    {
      store: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
      jobs: { type: 'string' },
    },
    { min: 1, max: 1, names: 'one chunked layout directory, optionally :<tag>' },
  );
  const storeDir = required(values.store, 'store');
  const out = required(values.out, 'out');
  const concurrency = count(values.jobs, 'jobs') ?? defaultJobs();
  const { dir, ref } = splitImageRef(positionals[0]!);
  await inputDirs([dir]);
  await newDir(out);
  const store = await openReadStore(storeDir);
  const report = await restoreLayout(dir, {
    store,
    out,
    ref,
    hash: nodeHashProvider(),
    concurrency,
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  printRestoreReport(report);
  process.stdout.write(report.indexKept ? 'index.json kept\n' : 'index.json rewritten\n');
}

/** Prints what `oci restore` or `oci push` made of each manifest, layer and index. */
function printRestoreReport(report: OciRestoreReport): void {
  for (const m of report.manifests) {
    const state = m.copied ? 'copied' : m.kept ? 'manifest kept' : `NEW manifest ${m.digest}`;
    process.stdout.write(`${where(m)} ${m.originalDigest}: ${state}; config ${m.config} kept\n`);
    for (const l of m.layers) {
      const line = l.kept
        ? `  ${l.digest} kept (${l.how})`
        : `  ${l.originalDigest} CHANGED to ${l.digest} (${l.mediaType}): ${l.reason}`;
      process.stdout.write(`${line}\n`);
    }
  }
  for (const x of report.indexes) {
    const state = x.kept ? 'kept' : `NEW index ${x.digest}`;
    process.stdout.write(`${tag(x.ref)} image index ${x.originalDigest}: ${state}\n`);
  }
}

async function ociFlatten(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { ...WRITE_STORE_OPTIONS, out: { type: 'string' }, platform: { type: 'string' } },
    { min: 1, max: 1, names: 'one layout directory, optionally :<tag>' },
  );
  required(values.store, 'store');
  const { dir, ref } = splitImageRef(positionals[0]!);
  await inputDirs([dir]);
  await outputFile(values.out);
  await outsideDir(values.out, dir);
  // A plain layout's layers are converted into the store first.
  const store = await openWritableStore(values);
  const tar = await flattenImage(dir, {
    store,
    ref,
    platform: values.platform,
    onWarning: (w) =>
      process.stderr.write(
        `layerdiff oci flatten: warning: ${w.code}: ${printable(w.path) || '/'}: ${printableMessage(w.message)}\n`,
      ),
  });
  await pipeToOutput(tar, values.out, { blocking: true });
}

/** A manifest's tag, and platform when its descriptor names one, as printed. */
function where(m: { ref?: string; platform?: string }): string {
  return m.platform === undefined ? tag(m.ref) : `${tag(m.ref)} ${printable(m.platform)}`;
}

/** A manifest's tag as printed. */
function tag(ref: string | undefined): string {
  return ref === undefined ? '(untagged)' : printable(ref);
}
