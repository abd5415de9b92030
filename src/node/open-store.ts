/**
 * Opens a store directory in whichever layout it has: packs ({@link PackStore}, the default for
 * a new store) or a file per chunk ({@link FsStore}).
 *
 * @module
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError, UsageError } from '../errors.js';
import { FsStore, type FsStoreOptions } from './fs-store.js';
import { PACKS_DIR, PackStore, type PackStoreOptions } from './pack-store.js';

/** How a store directory keeps chunks: in pack files, or a file per chunk. */
export type StoreLayout = 'pack' | 'loose';

/** The layouts, for option parsing. */
export const STORE_LAYOUTS: readonly StoreLayout[] = ['pack', 'loose'];

/** Options of {@link openStore}. */
export interface OpenStoreOptions extends FsStoreOptions, PackStoreOptions {
  /**
   * Layout of a new store. An existing store keeps its own; asking for the other one is an
   * error. @default 'pack'
   */
  layout?: StoreLayout;
  /** Refuse a directory that holds no store yet, instead of creating one. @default false */
  existing?: boolean;
}

const isDir = (path: string) =>
  stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );

/**
 * Opens (creating if needed) a chunk store directory.
 * @param root - the directory.
 * @param options - the layout of a new store, and the store's own options.
 * @returns a {@link PackStore} or an {@link FsStore}. A pack store publishes chunks on
 * `flush`, which the pipelines call before they report success.
 * @throws {@link StoreError} when the directory holds both layouts, or no store and
 * `existing` is set; {@link UsageError} when `layout` names the layout the existing store does
 * not have.
 */
export async function openStore(
  root: string,
  options: OpenStoreOptions = {},
): Promise<PackStore | FsStore> {
  if (options.layout !== undefined && !STORE_LAYOUTS.includes(options.layout)) {
    throw new UsageError(`store layout must be one of ${STORE_LAYOUTS.join(', ')}`);
  }
  const [packs, loose] = await Promise.all([
    isDir(join(root, PACKS_DIR)),
    isDir(join(root, 'sha256')),
  ]);
  if (packs && loose) {
    throw new StoreError(`${root} holds both a pack store and a file-per-chunk store`);
  }
  const found: StoreLayout | undefined = packs ? 'pack' : loose ? 'loose' : undefined;
  if (!found && options.existing) throw new StoreError(`${root} holds no layerdiff store`);
  if (found && options.layout && options.layout !== found) {
    throw new UsageError(`${root} is a ${found} store, not a ${options.layout} one`);
  }
  const layout = found ?? options.layout ?? 'pack';
  return layout === 'pack' ? PackStore.open(root, options) : FsStore.open(root, options);
}
