/**
 * Which extended attributes `extract()` applies, by name: glob patterns to include and to
 * exclude, as GNU tar's `--xattrs-include` and `--xattrs-exclude` take them (with only `*`
 * and `?` special). Imports nothing from `node:`.
 *
 * @module
 */
import { UsageError } from '../errors.js';

/**
 * The names `extract()` leaves out when no `exclude` list is given: overlayfs's own metadata
 * (`trusted.overlay.*`, or `user.overlay.*` on a mount with `userxattr`). On a tree used as an
 * overlay lower directory they would make a directory opaque or send a lookup elsewhere
 * (`redirect`, `metacopy`). Layer writers do not record them (containers/storage turns an
 * opaque directory into a `.wh..wh..opq` entry; containerd's records only
 * `security.capability`), so a layer that carries them was made from an overlay upper
 * directory as it was, or on purpose.
 */
export const DEFAULT_XATTRS_EXCLUDE: readonly string[] = Object.freeze([
  'trusted.overlay.*',
  'user.overlay.*',
]);

/**
 * Glob patterns on the full attribute name (`security.capability`, `trusted.overlay.opaque`):
 * `*` matches any run of characters, dots included, `?` any one character, every other
 * character only itself (`[` and `\` too: there are no classes or escapes). A name is applied
 * when an `include` pattern matches it and no `exclude` pattern does: exclude wins.
 */
export interface XattrFilter {
  /**
   * Names to apply. An empty list applies none.
   *
   * @default ['*']
   */
  include?: readonly string[];
  /**
   * Names never to apply, whatever `include` says. A list given replaces the default: add
   * {@link DEFAULT_XATTRS_EXCLUDE} to it to keep leaving overlayfs's names out.
   *
   * @default {@link DEFAULT_XATTRS_EXCLUDE}
   */
  exclude?: readonly string[];
}

/**
 * Tells whether a glob pattern (see {@link XattrFilter}) matches all of `name`. Takes time
 * proportional to the product of the two lengths at worst, whatever the pattern.
 * @param pattern - the pattern.
 * @param name - the attribute name.
 */
export function globMatch(pattern: string, name: string): boolean {
  return matchPoints(Array.from(pattern), Array.from(name));
}

/**
 * Makes the test {@link XattrFilter} describes, checking the lists first.
 * @param filter - the lists (each defaulted when missing).
 * @param what - the option's name, for error messages.
 * @returns a function telling whether an attribute name is to be applied.
 * @throws {@link UsageError} when a list is not an array of non-empty strings.
 */
export function xattrSelector(filter: XattrFilter, what = 'xattrs'): (name: string) => boolean {
  const { include: inc = ['*'], exclude: exc = DEFAULT_XATTRS_EXCLUDE } = filter;
  const include = patterns(inc, `${what}.include`);
  const exclude = patterns(exc, `${what}.exclude`);
  return (name) => {
    const points = Array.from(name);
    return (
      include.some((p) => matchPoints(p, points)) && !exclude.some((p) => matchPoints(p, points))
    );
  };
}

/** Checks a list of patterns and splits each into code points. */
function patterns(list: unknown, what: string): string[][] {
  if (!Array.isArray(list)) throw new UsageError(`${what} must be an array of patterns`);
  return list.map((p: unknown, i) => {
    if (typeof p !== 'string' || p === '') {
      throw new UsageError(`${what}[${i}] must be a non-empty string`);
    }
    return Array.from(p);
  });
}

/**
 * Glob match over code points. On a mismatch after a `*`, the `*` takes one character more
 * and matching goes on from there; only the last `*` is ever taken back, which is enough since
 * what an earlier one matched could be matched by the later one as well.
 */
function matchPoints(pattern: readonly string[], name: readonly string[]): boolean {
  let p = 0;
  let n = 0;
  /** Index of the last `*` seen in the pattern, -1 before any. */
  let star = -1;
  /** Where in the name the characters that `*` matches end. */
  let starEnd = 0;
  while (n < name.length) {
    const c = pattern[p];
    if (c === '*') {
      star = p++;
      starEnd = n;
    } else if (c !== undefined && (c === '?' || c === name[n])) {
      p++;
      n++;
    } else if (star >= 0) {
      p = star + 1;
      n = ++starEnd;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}
