/**
 * Whether an entry's name came from bytes that are not UTF-8, told from the exact header bytes
 * an index keeps for it (a record's `raw`), for readers of records, which hold names only as
 * text: U+FFFD in a name is either bytes that are not UTF-8 (`caf\xe9` and `caf\xe8` both
 * decode to `caf\uFFFD`, and would merge) or a U+FFFD the name really spells.
 *
 * @module
 */
import { LayerdiffError } from '../errors.js';
import { DEFAULT_MAX_HEADER_BYTES, Tokenizer } from './tokenizer.js';
import type { TarEntry } from './types.js';

/**
 * Tells whether the path or link target of the entry whose header bytes are `raw` are not
 * UTF-8 ({@link TarEntry.nameNotUtf8}). Only names holding U+FFFD are looked into; for one
 * that `raw` does not decode to alone (a path set by a global header of an earlier entry, or
 * malformed bytes), the answer is yes, the cautious one.
 * @param raw - the entry's header bytes, extension headers included.
 * @param path - the path its record gives.
 * @param linkname - the link target its record gives (`''` for none).
 */
export function nameNotUtf8(raw: Uint8Array, path: string, linkname: string): boolean {
  if (!path.includes('\uFFFD') && !linkname.includes('\uFFFD')) return false;
  let entry: TarEntry | undefined;
  try {
    new Tokenizer(DEFAULT_MAX_HEADER_BYTES).push(raw, (t) => {
      if (t.type === 'header') entry ??= t.entry;
    });
  } catch (err) {
    if (err instanceof LayerdiffError) return true;
    throw err;
  }
  if (!entry || entry.path !== path || entry.linkname !== linkname) return true;
  return entry.nameNotUtf8 === true;
}
