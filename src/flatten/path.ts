/**
 * Path cleaning for merged layers, the way containerd and umoci confine tar paths to the root.
 * Pure.
 *
 * @module
 */

/** A cleaned path and whether cleaning had to stop a `..` at the root. */
export interface CleanPath {
  /** Path relative to the root: no leading `/`, no `.` or `..` segments, no empty segments; `''` is the root. */
  path: string;
  /** True when a `..` would have left the root and was dropped (`../../x` becomes `x`). */
  clamped: boolean;
}

/** What cleaning changes: a `.` or `..` segment, an empty one, a leading or trailing `/`. */
const UNCLEAN = /(?:^|\/)\.\.?(?:\/|$)|\/\/|^\/|\/$/;

/**
 * Cleans a tar path as if it were resolved from the root: like Go's `path.Clean("/" + p)`
 * with the leading `/` removed. Leading `./` and `/`, repeated and trailing slashes and `.`
 * segments go; each `..` removes the segment before it, and a `..` at the root is dropped.
 *
 * @param raw - the path as found in an index (any text).
 * @returns the cleaned path, `''` for the root itself.
 * @example
 * ```ts
 * cleanPath('./usr//bin/../lib/'); // { path: 'usr/lib', clamped: false }
 * cleanPath('/../../etc/passwd'); // { path: 'etc/passwd', clamped: true }
 * ```
 */
export function cleanPath(raw: string): CleanPath {
  if (!UNCLEAN.test(raw)) return { path: raw, clamped: false };
  const out: string[] = [];
  let clamped = false;
  for (const segment of raw.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0) clamped = true;
      else out.pop();
      continue;
    }
    out.push(segment);
  }
  return { path: out.join('/'), clamped };
}
