/**
 * Failed file system calls, said plainly: which file, and what is wrong with it
 * (`cannot read layer.idx: is a directory`), instead of Node's `EISDIR: illegal operation on a
 * directory, read`, which names no file.
 *
 * @module
 */

/** What the commonest codes of a failed file system call mean, in the words `ls` would use. */
const PROBLEMS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
  EEXIST: 'already exists',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
};

/**
 * A file system call that failed on a named file. `code`, `errno` and `syscall` are those of
 * the call's own error (its `cause`), so code that branches on `code === 'ENOENT'` still works.
 */
export class FileError extends Error {
  /** The system error code (`ENOENT`, `EISDIR`...), when the cause had one. */
  readonly code: string | undefined;
  /** The file, as the caller named it. */
  readonly path: string;
  /** The failed call (`open`, `read`...), when the cause said. */
  readonly syscall: string | undefined;
  /** The system error number, when the cause had one. */
  readonly errno: number | undefined;

  constructor(message: string, path: string, cause: unknown) {
    super(message, { cause });
    const e = cause as NodeJS.ErrnoException | undefined;
    this.name = 'FileError';
    this.code = e?.code;
    this.path = path;
    this.syscall = e?.syscall;
    this.errno = e?.errno;
  }
}

/**
 * What is wrong, in a few words, for a system error; its own message for any other.
 * @param err - the error of a file system call.
 */
export function fileProblem(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  const known = e?.code === undefined ? undefined : PROBLEMS[e.code];
  if (known !== undefined) return known;
  const message = e?.message ?? String(err);
  // Node's own: "EIO: i/o error, read" or "EMFILE: too many open files, open '/x'".
  const m = /^E[A-Z0-9]+: (.*?)(?:, [a-z]+(?: '.*')?)?$/s.exec(message);
  return m ? m[1]! : message;
}

/**
 * The error to throw when a file cannot be read or written: its message names the file and
 * the problem. An error that already is a {@link FileError} is returned as it is.
 * @param err - the error of the failed call.
 * @param path - the file, as the caller named it (not a temporary file beside it).
 * @param action - what was being done with it.
 * @example
 * ```ts
 * fd = await open(path, 'r').catch((err) => { throw fileError(err, path, 'read'); });
 * ```
 */
export function fileError(err: unknown, path: string, action: 'read' | 'write'): FileError {
  if (err instanceof FileError) return err;
  return new FileError(`cannot ${action} ${path}: ${fileProblem(err)}`, path, err);
}
