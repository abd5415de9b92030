/**
 * `layerdiff serve [<name>=]<chunked-layout>... --store <dir> [--listen <host>:<port>]
 * [--max-pulls N] [--stall-timeout S] [--max-pipelined P] [--max-connections C]
 * [--blocking-reads]`: a read-only OCI registry on the chunked layouts, their layers rebuilt
 * from the store as clients pull them (at most N at once, 4 by default; more wait their turn;
 * a client that takes nothing for S seconds, 300 by default, is cut off; a connection with
 * more than P requests unanswered, 32 by default, is ended; past C connections, 512 by
 * default, a new one is closed).
 * SIGHUP reads the layouts again. Runs until SIGINT or SIGTERM.
 *
 * @module
 */
import { basename, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { defaultDeflateEngines } from '../node/deflate.js';
import { nodeHashProvider } from '../node/hash.js';
import { OciLayout } from '../node/oci-layout.js';
import { offThreadDeflate } from '../node/off-thread-deflate.js';
import { openStore } from '../node/open-store.js';
import { serveRegistry } from '../node/serve-registry.js';
import { createRegistryHandler } from '../registry/handler.js';
import { openRepository, type RegistryRepository } from '../registry/repository.js';
import { count, parse, required } from './args.js';
import { closeAtEnd } from './cleanup.js';
import { inputDirs } from './paths.js';
import { printable, printableMessage } from './printable.js';
import { lockWaitMs } from './store.js';

/**
 * Splits `<name>=<dir>`; a bare directory is served under its base name, lowercased.
 * @param arg - the argument.
 */
export function splitRepository(arg: string): { name: string; dir: string } {
  const at = arg.indexOf('=');
  if (at > 0) return { name: arg.slice(0, at), dir: arg.slice(at + 1) };
  return { name: basename(resolve(arg)).toLowerCase(), dir: arg };
}

/** `host:port`, `[v6]:port` or a bare port. */
function listenAddress(value: string | undefined): { host: string; port: number } {
  if (value === undefined) return { host: '127.0.0.1', port: 5000 };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$|^(\d{1,5})$/.exec(value);
  const port = Number(m?.[3] ?? m?.[4]);
  if (!m || port > 65535) {
    throw new UsageError(`--listen takes <host>:<port> or <port>, got ${JSON.stringify(value)}`);
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

export async function serveCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    {
      store: { type: 'string' },
      listen: { type: 'string' },
      'max-pulls': { type: 'string' },
      'stall-timeout': { type: 'string' },
      'max-pipelined': { type: 'string' },
      'max-connections': { type: 'string' },
      'blocking-reads': { type: 'boolean' },
    },
    { min: 1, max: 64, names: 'one or more chunked layouts, as [<name>=]<dir>' },
  );
  const dirStore = required(values.store, 'store');
  const { host, port } = listenAddress(values.listen);
  const maxPulls = count(values['max-pulls'], 'max-pulls') ?? 4;
  const stallSeconds = count(values['stall-timeout'], 'stall-timeout') ?? 300;
  // setTimeout's longest delay.
  if (stallSeconds > 2_147_483) {
    throw new UsageError(`--stall-timeout must be at most 2147483 (seconds), got ${stallSeconds}`);
  }
  const maxPipelined = count(values['max-pipelined'], 'max-pipelined') ?? 32;
  const maxConnections = count(values['max-connections'], 'max-connections') ?? 512;
  const hash = nodeHashProvider();
  const named = positionals.map(splitRepository);
  await inputDirs(named.map((n) => n.dir));
  const names = new Set<string>();
  for (const { name } of named) {
    if (names.has(name)) throw new UsageError(`two layouts are named ${name}`);
    names.add(name);
  }
  /** Reads every layout as it is now. */
  const load = async () => {
    const loaded = new Map<string, RegistryRepository>();
    for (const { name, dir } of named) {
      const layout = await OciLayout.open(dir);
      loaded.set(
        name,
        await openRepository(layout, {
          hash,
          engines: defaultDeflateEngines().map(offThreadDeflate),
        }),
      );
    }
    return loaded;
  };
  // The handler reads this map for each request: a reload replaces its entries.
  const repositories = await load();
  // Reads on the thread pool by default: one slow read (a network file system) must not hold
  // up every client. Blocking reads were faster in one benchmark run, not in two others.
  const store = await openStore(dirStore, {
    existing: true,
    blocking: values['blocking-reads'] === true,
    lockWaitMs: lockWaitMs(),
  });
  if ('close' in store) closeAtEnd(() => store.close());
  const handler = createRegistryHandler({
    repositories,
    store,
    hash,
    maxPulls,
    onStreamError: (err, request) => {
      const path = new URL(request.url).pathname;
      process.stderr.write(
        `layerdiff serve: ${request.method} ${printable(path)}: ${printableMessage((err as Error)?.message ?? String(err))}\n`,
      );
    },
  });
  const running = await serveRegistry(handler, {
    host,
    port,
    stallTimeoutMs: stallSeconds * 1000,
    maxPipelined,
    maxConnections,
  });
  printTags(repositories);
  process.stdout.write(`listening on ${running.url}\n`);
  // SIGHUP reads the layouts again (one replaced by a rename is then served); if one cannot
  // be read, what was served stays.
  const reload = () => {
    load().then(
      (loaded) => {
        repositories.clear();
        for (const [name, repo] of loaded) repositories.set(name, repo);
        process.stdout.write('reloaded\n');
        printTags(repositories);
      },
      (err: unknown) => {
        process.stderr.write(
          `layerdiff serve: reload failed, still serving what was read before: ${printableMessage((err as Error)?.message ?? String(err))}\n`,
        );
      },
    );
  };
  process.on('SIGHUP', reload);
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.off('SIGHUP', reload);
      void running.close().then(done);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** One line per tag: repository, tag, digest, and whether it is the original's. */
function printTags(repositories: Map<string, RegistryRepository>): void {
  for (const [name, repo] of repositories) {
    for (const [tag, digest] of repo.tags) {
      const m = repo.report.manifests.find((x) => x.digest === digest);
      const i = repo.report.indexes.find((x) => x.digest === digest);
      const kept = (m ?? i)?.kept ? 'original digest' : 'new digest (layers served uncompressed)';
      process.stdout.write(`${name}:${printable(tag)} ${digest} ${kept}\n`);
    }
  }
}
