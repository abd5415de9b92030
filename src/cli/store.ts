/**
 * How commands open the `--store` directory: commands that add chunks create it (in the
 * layout `--store-layout` names, packs by default) and compress new chunks as `--codec` says
 * (`lz4` by default, `deflate` at `--deflate-level`, or `none`); commands that only read
 * refuse a directory that holds no store. Pack stores read and write with blocking calls (a
 * command has nothing else for its event loop to do).
 *
 * @module
 */
import type { ChunkCodec } from '../compress/chunk-codec.js';
import { UsageError } from '../errors.js';
import { nodeChunkCodec } from '../node/chunk-codec.js';
import type { FsStore } from '../node/fs-store.js';
import { layoutRoots } from '../node/oci-roots.js';
import { openStore, STORE_LAYOUTS, type StoreLayout } from '../node/open-store.js';
import type { PackStore } from '../node/pack-store.js';
import { required } from './args.js';
import { closeAtEnd } from './cleanup.js';
import { outputDir } from './paths.js';

/**
 * How long a command waits for the locks of its store, from `LAYERDIFF_LOCK_WAIT` (seconds):
 * a store waits for a garbage collection to end, a collection for the stores open to close.
 * @returns milliseconds (0 when unset).
 * @throws {@link UsageError} for a value that is not a whole number of seconds.
 */
export function lockWaitMs(): number {
  const v = process.env.LAYERDIFF_LOCK_WAIT;
  if (v === undefined || v === '') return 0;
  if (!/^[0-9]{1,6}$/.test(v)) {
    throw new UsageError(`LAYERDIFF_LOCK_WAIT must be whole seconds, got ${JSON.stringify(v)}`);
  }
  return Number(v) * 1000;
}

/** The options of a command that adds chunks to a store. */
export const WRITE_STORE_OPTIONS = {
  store: { type: 'string' },
  'store-layout': { type: 'string' },
  codec: { type: 'string' },
  'deflate-level': { type: 'string' },
} as const;

/** The values of `--codec`. */
const CODECS = ['lz4', 'deflate', 'none'] as const;

/**
 * The chunk codec that `--codec` and `--deflate-level` ask for. `--deflate-level N` alone
 * means deflate at N (0: none), as before `--codec` existed; neither given means `fallback`.
 * @param codec - the `--codec` value.
 * @param level - the `--deflate-level` value.
 * @param fallback - the codec when neither option says, and the command's deflate level
 * (used by `--codec deflate` without a level, and by LZ4 where WebAssembly cannot run).
 * @returns the codec, or `false` for none.
 * @throws {@link UsageError} for an unknown codec, a bad level, or a level with another codec.
 */
export function codecOption(
  codec: string | undefined,
  level: string | undefined,
  fallback: { algorithm: 'lz4' | 'deflate'; level: number },
): ChunkCodec | false {
  if (codec !== undefined && !(CODECS as readonly string[]).includes(codec)) {
    throw new UsageError(
      `--codec must be one of ${CODECS.join(', ')}, got ${JSON.stringify(codec)}`,
    );
  }
  if (level !== undefined && !/^[0-9]$/.test(level)) {
    throw new UsageError(`--deflate-level must be 0 (none) to 9, got ${JSON.stringify(level)}`);
  }
  if (level !== undefined && codec !== undefined && (codec !== 'deflate' || level === '0')) {
    throw new UsageError(`--deflate-level ${level} does not go with --codec ${codec}`);
  }
  const algorithm = (codec ??
    (level === undefined
      ? fallback.algorithm
      : level === '0'
        ? 'none'
        : 'deflate')) as (typeof CODECS)[number];
  if (algorithm === 'none') return false;
  return nodeChunkCodec({ algorithm, level: Number(level ?? fallback.level), blocking: true });
}

/**
 * Opens (creating if needed) the store a command adds chunks to.
 * @param values - the parsed `--store` and `--store-layout`.
 */
export async function openWritableStore(values: {
  store?: string;
  'store-layout'?: string;
  codec?: string;
  'deflate-level'?: string;
}): Promise<PackStore | FsStore> {
  const dir = required(values.store, 'store');
  const layout = values['store-layout'];
  if (layout !== undefined && !STORE_LAYOUTS.includes(layout as StoreLayout)) {
    throw new UsageError(`--store-layout must be one of ${STORE_LAYOUTS.join(', ')}`);
  }
  const codec = codecOption(values.codec, values['deflate-level'], { algorithm: 'lz4', level: 1 });
  await outputDir(dir);
  return closed(
    await openStore(dir, {
      layout: layout as StoreLayout | undefined,
      blocking: true,
      codec,
      lockWaitMs: lockWaitMs(),
    }),
  );
}

/**
 * Opens a store a command only reads; a directory without a store is an error.
 * @param dir - the `--store` value.
 */
export async function openReadStore(dir: string | undefined): Promise<PackStore | FsStore> {
  return closed(
    await openStore(required(dir, 'store'), {
      existing: true,
      blocking: true,
      lockWaitMs: lockWaitMs(),
    }),
  );
}

/** Has a store closed when the command ends (a pack store keeps files open). */
function closed(store: PackStore | FsStore): PackStore | FsStore {
  if ('close' in store) closeAtEnd(() => store.close());
  return store;
}

/**
 * The index roots of the layers of a chunked OCI layout that `--oci` names (for `gc` and
 * `verify`).
 * @throws {@link UsageError} for a layout with none: a plain layout named by mistake would
 *   keep (or check) nothing of what it stands for.
 */
export async function chunkedLayoutRoots(layout: string): Promise<Uint8Array[]> {
  const found = await layoutRoots(layout);
  if (found.length === 0) {
    throw new UsageError(`${layout} holds no chunked layers (is it what oci convert wrote?)`);
  }
  return found;
}
