/**
 * The `layerdiff` command line. Each command lives in its own file and is a thin layer over
 * the library. Errors go to stderr with a non-zero exit: 2 for usage errors (a path that cannot
 * be used as given among them: missing, a directory where a file is wanted), 1 for the rest.
 *
 * @module
 */
import { LayerdiffError, UsageError } from '../errors.js';
import { FileError, fileProblem } from '../node/file-error.js';
import { closeAll } from './cleanup.js';
import { PathError } from './paths.js';
import { printableMessage } from './printable.js';

type Command = (args: string[]) => Promise<void>;

/**
 * Each command is loaded only when it runs, so that `convert` does not parse (and keep in
 * memory) the zip, OCI and extraction code.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  convert: async () => (await import('./convert.js')).convertCommand,
  cat: async () => (await import('./cat.js')).catCommand,
  changes: async () => (await import('./changes.js')).changesCommand,
  diff: async () => (await import('./diff.js')).diffCommand,
  apply: async () => (await import('./diff.js')).applyCommand,
  flatten: async () => (await import('./flatten.js')).flattenCommand,
  inspect: async () => (await import('./inspect.js')).inspectCommand,
  extract: async () => (await import('./extract.js')).extractCommand,
  'extract-tar': async () => (await import('./extract.js')).extractTarCommand,
  bundle: async () => (await import('./bundle.js')).bundleCommand,
  unbundle: async () => (await import('./bundle.js')).unbundleCommand,
  oci: async () => (await import('./oci.js')).ociCommand,
  gc: async () => (await import('./gc.js')).gcCommand,
  verify: async () => (await import('./verify.js')).verifyCommand,
  serve: async () => (await import('./serve.js')).serveCommand,
};

/**
 * Commands that hash a layer's or its chunks' bytes on the hashing worker thread
 * (node/hash.ts) as soon as they start: it is started before their code loads. On the
 * benchmark layer its start-up had left the main thread waiting for the first diff_id batches
 * for about 20 ms. `inspect` and `changes` hash only index chunks, and the worker only those
 * of 64 KiB or more, so they start it when (if ever) they need it.
 */
const HASHING = new Set([
  'convert',
  'cat',
  'diff',
  'apply',
  'flatten',
  'extract',
  'bundle',
  'unbundle',
  'oci',
  'serve',
]);

const USAGE = `usage: layerdiff <command> [options]

convert and diff draw a progress line on stderr when it is a terminal (--progress: always).
Commands that add chunks (convert, apply, unbundle, oci convert, oci pull, oci flatten) create the store
if needed, in pack files (default) or with --store-layout loose a file per chunk; an existing
store keeps its layout. They keep a new chunk compressed when that is smaller: --codec lz4
(default), deflate (level 1, or --deflate-level N) or none; --deflate-level 0 means none.
Commands that only read need an existing store, and read every codec.

commands:
  convert <layer|-> --store <dir> --out <index> [--flat] [--json] [--progress]
      Cut a layer (tar, tar+gzip or tar+zstd, detected) into chunks in <dir> and write its index:
      a small root whose index chunks go to <dir> too, or with --flat the whole flat index.
  cat <index> --store <dir> [--out <file>]
      Rebuild the exact original tar (to stdout by default), verifying every chunk and the diff_id.
  diff <layer|-> --base <index>... --store <dir> --out <file|-> [--codec C] [--json] [--progress]
      One stream with the chunks (data and index) the base indexes lack, compressed where that
      pays (deflate level 6 unless --codec/--deflate-level say otherwise), and the new index
      root; <dir> holds the bases' index chunks. No --base: everything.
  apply <diff|-> --store <dir> --out <index> [--json]
      Ingest a diff into <dir>, verifying every chunk before it is stored and that the new
      index's chunks are all present, and write the new index root.
  changes <old-index> <new-index> [--store <dir>] [--json] [--max-entries N] [--max-chunks N]
      Files added (A), removed (D) and modified (M, with what changed) between two versions
      of a layer, and the bytes a holder of the old one must fetch for the new one. Keeps
      about 200 bytes a path (at most 1,048,576 paths a version unless --max-entries says
      otherwise) and 45 a chunk (16,777,216 unless --max-chunks says otherwise).
  inspect <index> [--store <dir>] [--json]
      Show what a layer index holds (a chunked index's entries need its store).
  extract <index>... --store <dir> --dir <target> [--json] [--max-entries N] [xattr flags]
      Write the merged tree of a stack of layers (bottom first) into <target>, as flatten
      merges them; same rules and xattr flags as extract-tar.
  extract-tar <tar|-> --dir <target> [--json] [--no-xattrs] [--xattrs-include <pattern>]...
      [--xattrs-exclude <pattern>]...
      Write a tar (plain, gzip or zstd, detected) into <target> (created if missing), never
      outside it; whiteout files are written as plain files (extract applies them).
      Ownership is applied only as root; a summary goes to stderr, --json prints the report
      on stdout.
      xattrs applied: every name but trusted.overlay.* and user.overlay.* (overlayfs's
      own), only user.* without root; none with --no-xattrs. Patterns match whole names (*
      any run of characters, ? one): a name is applied if an include matches it (any does
      when none is given) and no exclude does; excludes given replace the default two (name
      them again to keep them). Each name not applied is a warning.
  flatten <index>... --store <dir> [--out <file>] [--max-entries N]
      Merge a stack of layers (bottom first) into one plain tar of the resulting filesystem
      (to stdout by default): whiteouts applied, no whiteout entries, every chunk verified.
      Holds the merged tree, about 1 KB a path, at most 2,097,152 paths unless --max-entries
      says otherwise.
  bundle <index> --store <dir> --out <file.zip> [--compression auto|deflate|store] [--json]
      Write one zip holding the index and every chunk it needs (each once, verified).
  unbundle <file.zip> --store <dir> --out <index> [--json]
      Verify and copy every chunk a bundle's index needs into <dir>; write the index to <out>.
  gc [<index>...] [--oci <layout>]... --store <dir> [--dry-run] [--max-unused PCT] [--json]
      Remove the chunks of <dir> that none of the indexes, nor any layer of the chunked OCI
      layouts, refers to (name every index you still need: the rest is gone after). Pack
      stores drop packs with nothing kept, and rewrite those with at least PCT% (default 10)
      of their bytes unused or held by a newer pack too, and their small packs together (each
      chunk coded as it was, unless --codec says). Refused while a store of <dir> is open in
      any command, as commands refuse to open a store while gc runs; LAYERDIFF_LOCK_WAIT=
      <seconds> makes either wait that long first.
  verify --store <dir> [<index>...] [--oci <layout>]... [--json]
      Read every chunk of <dir> and check it against its digest (in a pack store every
      record, copies too); then check that each index, and each layer of the chunked OCI
      layouts, can be rebuilt from <dir>. Bad records are listed, so that the next conversion
      of their chunks stores them again and gc leaves them out. Exits 1 (ERR_STORE_DAMAGED)
      when anything is bad or missing.
  oci convert <layout>[:<tag>] --store <dir> --out <layout> [--platform <os/arch[/variant]>]
      [--jobs N] [--json]
      Convert every layer of an OCI image layout (every manifest, or the tagged one; every
      platform of a multi-platform image, or the one --platform names) into <dir> and write
      its chunked form: a layout whose layers are index roots (docs/OCI.md). --jobs layers
      at once (one per core, up to 4, by default): the check of a gzip layer's compression
      runs on a worker thread per core.
  oci pull <host[:port]/repository[:tag][@digest]> --store <dir> --out <layout> [--plain-http]
      [--authfile <file> | --username <user> --password-stdin] [--platform <os/arch[/variant]>]
      [--max-downloads N] [--json]
      oci convert, with the image read from a registry (HTTPS unless --plain-http): each
      manifest checked by digest, each layer streamed into the store, --max-downloads at
      once (3 by default). A registry that asks
      for credentials gets those of --username (the password read from stdin) or of the auth
      files podman and docker keep (--authfile, or $REGISTRY_AUTH_FILE, auth.json,
      ~/.docker/config.json, with their credential helpers); none there, it is asked
      anonymously. docker.io means Docker Hub.
  oci push <chunked-layout>[:<tag>] <host[:port]/repository[:tag]> --store <dir> [--plain-http]
      [--authfile <file> | --username <user> --password-stdin] [--part-size <MiB>]
      [--mount-from <repository>]... [--max-uploads N] [--json]
      oci restore, into a registry: each blob uploaded as it is rebuilt (gzip layers
      recompressed where recorded, as restore does), skipped when the registry has it, then
      the manifests, the image last under the tag (latest when none). Credentials as for pull.
      --max-uploads layers go up at once (3 by default).
      --part-size uploads larger blobs in PATCH requests of that size (for a registry behind a
      proxy that limits the size of one request). A blob another repository of the registry
      has (--mount-from, or the one the image was pulled from) is mounted, not sent. An
      upload that breaks off is resumed: the blob made again, sent on from where it stopped.
  oci restore <chunked-layout>[:<tag>] --store <dir> --out <layout> [--jobs N] [--json]
      Rebuild the original layout: configs and diff_ids always; a compressed layer's digest
      only where its compression is reproduced (checked), else it is written uncompressed
      under a new manifest. The report says which digests were kept and which changed.
      --jobs layers at once (one per core, up to 4, by default); gzip recompression runs on
      a worker thread per core.
  oci flatten <layout>[:<tag>] --store <dir> [--platform <os/arch[/variant]>] [--out <file>]
      Merge one image's layers (plain or chunked layout) into one plain tar; --platform picks
      the image of a multi-platform one.
  serve [<name>=]<chunked-layout>... --store <dir> [--listen <host>:<port>] [--max-pulls N]
        [--stall-timeout S] [--max-pipelined P] [--max-connections C] [--blocking-reads]
      A read-only OCI registry (distribution API: pulls, byte ranges, tag lists) on the
      chunked layouts, on 127.0.0.1:5000 unless --listen says otherwise. Each layout is a
      repository (<name>, or its directory's name); each image is served as oci restore would
      write it, its layers rebuilt from <dir> as clients pull them, every chunk verified, at
      most N at once (4; more wait their turn, and leave the queue if their client goes).
      A connection that takes no 64 KiB of a body for S seconds (300) is ended, which frees
      its turn (the kernel takes more only once about a third of the socket's send buffer
      is read: a client must read some 1.6-4.6 KiB/s at the default). A connection with more
      than P requests sent ahead of their answers (pipelined; 32) is ended, the answers not
      yet sent left unsent.
      Past C connections open at once (512), a new one is closed as it comes.
      The store is read on the thread pool, so that a slow read holds up no other client;
      --blocking-reads reads on the main thread.
      SIGHUP reads the layouts again (replace one by a rename to serve a new version). Runs
      until SIGINT or SIGTERM.
`;

/**
 * The part of {@link USAGE} for the commands whose name starts with `name` (`cat`, `oci`,
 * `oci pull`): each one's line and the indented lines under it.
 * @returns the text, or `undefined` when no command is so named.
 */
function commandUsage(name: string): string | undefined {
  const lines = USAGE.slice(USAGE.indexOf('\ncommands:\n') + 11).split('\n');
  const out: string[] = [];
  let keep = false;
  for (const line of lines) {
    if (/^ {2}\S/.test(line)) keep = line.startsWith(`  ${name} `);
    if (keep) out.push(line);
  }
  return out.length > 0 ? `usage: layerdiff\n${out.join('\n')}\n` : undefined;
}

/** The first error writing to stdout: output written with plain writes reports it only so. */
let stdoutError: NodeJS.ErrnoException | undefined;

/** Waits until what was written to stdout has gone out; rejects with its write error if any. */
function stdoutFlushed(): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stdoutError) return reject(stdoutError);
    process.stdout.write('', (err) =>
      err || stdoutError ? reject(err ?? stdoutError) : resolve(),
    );
  });
}

async function main(argv: string[]): Promise<number> {
  // The reader of a pipe may go away early (`layerdiff cat ... | head`): the command then
  // stops quietly, as a tool killed by SIGPIPE does (status 141). Any other failure to write
  // the output (a full disk) is an error, reported after the command.
  process.stdout.on('error', (err) => {
    stdoutError ??= err;
  });
  process.stderr.on('error', () => {});
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    // Asked for, usage is the output; missing a command, it is an error message.
    if (!command) {
      process.stderr.write(USAGE);
      return 2;
    }
    process.stdout.write(USAGE);
    return stdoutFlushed().then(
      () => 0,
      (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' ? 141 : 1),
    );
  }
  const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!load) {
    process.stderr.write(`layerdiff: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return 2;
  }
  const options = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (options.includes('--help') || options.includes('-h')) {
    // One command's part of the usage (`oci` alone: every oci command's).
    const sub = command === 'oci' && rest[0] && !rest[0].startsWith('-') ? rest[0] : undefined;
    process.stdout.write(commandUsage(sub ? `oci ${sub}` : command) ?? USAGE);
    return stdoutFlushed().then(
      () => 0,
      (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' ? 141 : 1),
    );
  }
  if (command !== 'serve') {
    // Ended by a signal, a command removes the partial output files it was writing, then ends
    // as the signal would have ended it (status 128 + its number). `serve` stops on its own.
    // (Node sets every signal back to its default as it starts, so a signal the parent had
    // ignored, as nohup does SIGHUP, ends a Node program anyway, with or without this.)
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        import('../node/io.js')
          .then((io) => io.removeTemporaryFiles())
          .finally(() => process.kill(process.pid, signal));
      });
    }
  }
  if (HASHING.has(command)) {
    // The worker starts while the command's code loads; a failure to start shows up, and is
    // reported, at the first hash.
    import('../node/hash.js').then((m) => m.startHashWorker()).catch(() => {});
  }
  try {
    try {
      await (await load())(rest);
    } catch (err) {
      await closeAll(false);
      throw err;
    }
    await closeAll(true);
    await stdoutFlushed();
    return 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException)?.code === 'EPIPE') return 141;
    // A path that cannot be used as given is a bad argument, said in one line.
    if (err instanceof PathError) {
      process.stderr.write(`layerdiff ${command}: ${printableMessage(err.message)}\n`);
      return 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`layerdiff ${command}: ${printableMessage(err.message)}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof LayerdiffError) {
      process.stderr.write(`layerdiff ${command}: ${err.code}: ${printableMessage(err.message)}\n`);
      return 1;
    }
    process.stderr.write(`layerdiff ${command}: ${printableMessage(otherMessage(err))}\n`);
    return 1;
  }
}

/**
 * The line for an error that is not layerdiff's own. A failed file system call names its file
 * and what is wrong ("cannot open x: no such file or directory"), not Node's way ("ENOENT: no
 * such file or directory, open 'x'"); any other error keeps its code in front.
 */
function otherMessage(err: unknown): string {
  if (err instanceof FileError) return err.message;
  const e = err as NodeJS.ErrnoException | undefined;
  if (typeof e?.path === 'string' && typeof e.syscall === 'string') {
    return `cannot ${e.syscall} ${e.path}: ${fileProblem(e)}`;
  }
  const message = e?.message ?? String(err);
  // Node's system errors already start with their code ("ECONNRESET: ...").
  const code = e?.code && !message.startsWith(`${e.code}:`) ? `${e.code}: ` : '';
  return `${code}${message}`;
}

let finished = false;
// An uncaught exception has its own report and status.
process.on('uncaughtExceptionMonitor', () => {
  finished = true;
});
// A command whose work never settles (a bug: some stream waiting for an event that will not
// come) lets the event loop run dry, and Node would exit with status 0 and no output.
process.on('exit', () => {
  if (finished) return;
  process.stderr.write('layerdiff: internal error: the command stopped before it finished\n');
  process.exitCode = 70;
});
main(process.argv.slice(2)).then((code) => {
  finished = true;
  process.exitCode = code;
});
