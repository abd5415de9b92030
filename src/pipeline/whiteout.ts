/**
 * OCI whiteout names. Pure.
 *
 * @module
 */

/** Prefix of a whiteout entry's base name. */
export const WHITEOUT_PREFIX = '.wh.';
/** Base name of an opaque-directory whiteout. */
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

/** What a whiteout entry deletes. */
export interface Whiteout {
  /** The deleted path; for an opaque whiteout, the directory whose lower contents are hidden (`''` for the root). */
  path: string;
  opaque: boolean;
}

/**
 * Tells whether a tar path is an OCI whiteout and what it deletes.
 * @param tarPath - the entry path as stored in the tar (`./` prefixes and trailing `/` allowed).
 * @returns the deletion, or `undefined` for an ordinary entry.
 */
export function parseWhiteout(tarPath: string): Whiteout | undefined {
  let p = tarPath;
  while (p.startsWith('./')) p = p.slice(2);
  while (p.startsWith('/')) p = p.slice(1);
  while (p.endsWith('/')) p = p.slice(0, -1);
  const slash = p.lastIndexOf('/');
  const dir = slash < 0 ? '' : p.slice(0, slash);
  const base = p.slice(slash + 1);
  if (!base.startsWith(WHITEOUT_PREFIX)) return undefined;
  if (base === OPAQUE_WHITEOUT) return { path: dir, opaque: true };
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..') return undefined;
  return { path: dir ? `${dir}/${name}` : name, opaque: false };
}
