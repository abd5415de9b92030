/**
 * What flattening reports about input it had to correct or leave out. Pure types.
 *
 * @module
 */

/**
 * Stable codes of {@link FlattenWarning}s:
 *
 * - `WARN_PATH_CLAMPED`: a path (or hardlink target) had a `..` that would leave the root; it
 *   was dropped (`../../x` is taken as `x`).
 * - `WARN_PARENT_REPLACED`: an entry's parent path was a non-directory in the merged tree; it
 *   was replaced by an implicit directory.
 * - `WARN_SYMLINK_LOOP`: following the symbolic links in an entry's parent path took more
 *   than 255 links or 16,384 segments; it was left out.
 * - `WARN_WHITEOUT_BLOCKED`: a whiteout's parent path went through a file that is neither a
 *   directory nor a symbolic link; it deleted nothing.
 * - `WARN_LINK_TARGET_MISSING`: a hardlink's target did not exist (or was a directory) when its
 *   layer was applied; the hardlink was left out.
 * - `WARN_UNSUPPORTED_TYPE`: an entry of a type flatten does not write (an unknown typeflag, a
 *   non-directory at the root); it was left out.
 * - `WARN_UNENCODABLE`: an entry's metadata cannot be written in a tar header (a device number
 *   out of range, an xattr name with `=`), or its name or link target is not UTF-8 (its
 *   header bytes are not: two such names decode alike, with U+FFFD, and would merge) or holds
 *   a NUL; it was left out.
 * - `WARN_PATH_TOO_LONG`: an entry's path, as written or as resolved through symbolic links,
 *   or the target of a link on the way, is longer than Linux's `PATH_MAX` (4,096 bytes), which
 *   no runtime can unpack; it was left out (each of its missing parents would be written with
 *   the whole path, so one long path could make gigabytes of output).
 */
export type FlattenWarningCode =
  | 'WARN_PATH_CLAMPED'
  | 'WARN_PATH_TOO_LONG'
  | 'WARN_PARENT_REPLACED'
  | 'WARN_SYMLINK_LOOP'
  | 'WARN_WHITEOUT_BLOCKED'
  | 'WARN_LINK_TARGET_MISSING'
  | 'WARN_UNSUPPORTED_TYPE'
  | 'WARN_UNENCODABLE';

/** Something flatten corrected or left out, with the (cleaned) path it concerns. */
export interface FlattenWarning {
  code: FlattenWarningCode;
  path: string;
  message: string;
}

/** Receives warnings. */
export type WarningSink = (warning: FlattenWarning) => void;
