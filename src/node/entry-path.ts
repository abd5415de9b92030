/**
 * Pure checks on tar entry paths before anything is written: which paths may be extracted
 * under a directory, in what normal form. Imports nothing from `node:`.
 *
 * @module
 */

/** An entry path that is safe to extract: relative, without `..`, in normal form. */
export interface SafeEntryPath {
  ok: true;
  /** The normal form: components joined by `/`, no `.` or empty components, no trailing `/`. `''` names the target directory itself. */
  path: string;
  /** The components of {@link SafeEntryPath.path} (empty for the target directory itself). */
  parts: string[];
}

/** Why an entry path is refused. */
export interface UnsafeEntryPath {
  ok: false;
  /** What is wrong, for an error message. */
  reason: string;
}

/**
 * Checks and normalizes a tar entry path (or a hard link's target) for extraction under a
 * directory. Refused: empty paths, absolute paths (leading `/`), paths with a NUL byte, and any
 * path with a `..` component, wherever it is (`a/../b` too: a tar that needs it is not one we
 * write). Accepted paths lose `.` components, repeated slashes and a trailing slash, so
 * `./usr//bin/` becomes `usr/bin`, and `./` becomes `''`.
 *
 * @param path - The path as the tar states it.
 * @returns The normal form and its components, or the reason it is refused.
 * @example
 * ```ts
 * checkEntryPath('./etc//passwd'); // { ok: true, path: 'etc/passwd', parts: ['etc', 'passwd'] }
 * checkEntryPath('a/../../x'); // { ok: false, reason: 'path has a ".." component' }
 * ```
 */
export function checkEntryPath(path: string): SafeEntryPath | UnsafeEntryPath {
  if (path === '') return { ok: false, reason: 'path is empty' };
  if (path.includes('\0')) return { ok: false, reason: 'path contains a NUL byte' };
  if (path.startsWith('/')) return { ok: false, reason: 'path is absolute' };
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return { ok: false, reason: 'path has a ".." component' };
    parts.push(part);
  }
  return { ok: true, path: parts.join('/'), parts };
}
