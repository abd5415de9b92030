/**
 * OCI whiteout names. Pure.
 *
 * @module
 */

import { cleanPath } from '../flatten/path.js';

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
 * Tells whether a tar path is an OCI whiteout and what it deletes. The path is cleaned first
 * (empty and `.` segments dropped, `..` applied, never above the root), as container runtimes
 * do, so `a/.wh.b/.` is a whiteout of `a/b`.
 * @param tarPath - the entry path as stored in the tar.
 * @returns the deletion, or `undefined` for an ordinary entry (whose base name may still begin
 *   with `.wh.`: `.wh.`, `.wh..` and `.wh...` name nothing to delete; see {@link isWhiteoutName}).
 */
export function parseWhiteout(tarPath: string): Whiteout | undefined {
  const p = cleanPath(tarPath).path;
  const slash = p.lastIndexOf('/');
  const dir = slash < 0 ? '' : p.slice(0, slash);
  const base = p.slice(slash + 1);
  if (!isWhiteoutName(base)) return undefined;
  if (base === OPAQUE_WHITEOUT) return { path: dir, opaque: true };
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..') return undefined;
  return { path: dir ? `${dir}/${name}` : name, opaque: false };
}

/**
 * Tells whether a base name is reserved for whiteouts (begins with `.wh.`). Such a name is
 * never a file of the image, even where it deletes nothing.
 * @param base - a path's last segment.
 */
export function isWhiteoutName(base: string): boolean {
  return base.startsWith(WHITEOUT_PREFIX);
}
