/**
 * The bundle layout: which names a bundle's zip entries have and how large they may be
 * (docs/FORMAT.md §12). Pure: names in, meanings out.
 *
 * @module
 */
import { MAX_CHUNK_MAX } from '../cdc/params.js';
import { MAX_RECORD_BYTES } from '../format/encoder.js';
import { ROOT_MAGIC } from '../format/root.js';

/** Name of the entry holding the index (a root, or a small flat index). Always the first entry. */
export const BUNDLE_INDEX_ENTRY = 'index.ldr';

/** Prefix of every chunk entry's name; the rest is the chunk's 64 lowercase hex digits. */
export const BUNDLE_CHUNK_PREFIX = 'chunks/sha256/';

/** Largest chunk entry accepted, uncompressed: the largest chunk any chunker may cut. */
export const MAX_BUNDLE_CHUNK_BYTES = MAX_CHUNK_MAX;

/** Largest index entry accepted, uncompressed: a root's magic, length and one record. */
export const MAX_BUNDLE_INDEX_BYTES = ROOT_MAGIC.length + 4 + MAX_RECORD_BYTES;

const CHUNK_NAME_RE = /^chunks\/sha256\/([0-9a-f]{64})$/;

/** What an entry name means in the layout. */
export type BundleEntryName = { kind: 'index' } | { kind: 'chunk'; digest: string };

/**
 * The entry name a chunk is stored under.
 * @param digest - the chunk's digest, `sha256:<hex>` (assumed well-formed).
 * @returns `chunks/sha256/<hex>`.
 */
export function chunkEntryName(digest: string): string {
  return BUNDLE_CHUNK_PREFIX + digest.slice('sha256:'.length);
}

/**
 * Reads an entry name against the layout. Only the exact names of the layout are accepted:
 * no directories, no `./` or `../`, no leading `/`, no upper-case hex.
 * @param name - the entry's name as the zip stores it.
 * @returns its meaning, or `undefined` when the name is not part of the layout.
 */
export function parseEntryName(name: string): BundleEntryName | undefined {
  if (name === BUNDLE_INDEX_ENTRY) return { kind: 'index' };
  const m = CHUNK_NAME_RE.exec(name);
  return m ? { kind: 'chunk', digest: `sha256:${m[1]}` } : undefined;
}
