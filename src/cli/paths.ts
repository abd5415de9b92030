/**
 * Checks of the paths a command is given, made before it opens a store or writes anything: a
 * path that is missing, a directory where a file is wanted (or a file where a directory is),
 * or one that cannot be read or written stops the command at once, with one line naming it
 * (`cannot read x.idx: no such file or directory`) and the exit status of a bad argument.
 * What goes wrong later (a disk that fills, a file removed meanwhile) is reported as it
 * happens, as a `FileError`.
 *
 * @module
 */
import { constants, fstatSync, type Stats } from 'node:fs';
import { access, lstat, realpath, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileError } from '../node/file-error.js';
import { danglingTarget } from '../node/io.js';

/** A path given to a command that it cannot use as it is. */
export class PathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PathError';
  }
}

/** A system error with `code`, for a problem found by looking rather than by a failed call. */
function problem(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(code), { code });
}

/** Throws a {@link PathError} for `err` on `path`. */
function refuse(err: unknown, path: string, action: 'read' | 'write'): never {
  throw new PathError(fileError(err, path, action).message);
}

/**
 * For a look at an output directory: nothing there yet is fine (it is made, with its parents),
 * anything else that fails the look (a file on the way: ENOTDIR) is refused.
 */
function absent(path: string): (err: NodeJS.ErrnoException) => undefined {
  return (err) => {
    if (err.code === 'ENOENT') return undefined;
    refuse(err, path, 'write');
  };
}

/**
 * Checks that each path is a file (not a directory) this process may read. Nothing is opened,
 * so a FIFO is not read from.
 * @param paths - the input files.
 * @param options - `stdin`: whether `-` means standard input (and passes), as it does unless
 *   `false` says the command reads only files.
 * @throws {@link PathError} for the first that is not.
 */
export async function inputFiles(
  paths: readonly string[],
  options: { stdin?: boolean } = {},
): Promise<void> {
  for (const path of paths) {
    if (path === '-') {
      if (options.stdin !== false) continue;
      throw new PathError('cannot read -: this command reads a file, not standard input');
    }
    const st = await stat(path).catch((err: unknown) => refuse(err, path, 'read'));
    if (st.isDirectory()) refuse(problem('EISDIR'), path, 'read');
    await access(path, constants.R_OK).catch((err: unknown) => refuse(err, path, 'read'));
  }
}

/**
 * Checks that each path is a directory this process may read (an OCI layout).
 * @param paths - the input directories.
 * @throws {@link PathError} for the first that is not.
 */
export async function inputDirs(paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    const st = await stat(path).catch((err: unknown) => refuse(err, path, 'read'));
    if (!st.isDirectory()) refuse(problem('ENOTDIR'), path, 'read');
    await access(path, constants.R_OK | constants.X_OK).catch((err: unknown) =>
      refuse(err, path, 'read'),
    );
  }
}

/**
 * Checks that an output file can be made: it is not a directory nor one of the command's
 * input files (standard input and output included, when they are files), and when it does not
 * exist yet, the directory it goes in (for a symbolic link to nothing yet, its target's) does
 * and may be written. Anything else that exists passes (a file is replaced by renaming a new one
 * over it, a device written to).
 * @param path - the `--out` value; `-` or none for standard output.
 * @param inputs - the files the command reads (`-` for standard input).
 * @throws {@link PathError} when it cannot be made.
 */
export async function outputFile(
  path: string | undefined,
  inputs: readonly string[] = [],
): Promise<void> {
  const stdout = path === undefined || path === '-';
  const st = stdout ? fileOn(1) : await stat(path).catch(() => undefined);
  if (!stdout && st?.isDirectory()) refuse(problem('EISDIR'), path, 'write');
  if (st?.isFile()) {
    for (const input of inputs) {
      const other = input === '-' ? fileOn(0) : await stat(input).catch(() => undefined);
      if (other?.dev === st.dev && other.ino === st.ino) {
        const what = input === '-' ? 'standard input' : input;
        throw new PathError(
          `cannot write ${stdout ? 'standard output' : path}: it is ${what}, which the command reads (name another file)`,
        );
      }
    }
  }
  if (stdout || st !== undefined) return;
  // A symbolic link to nothing yet is written through, as a shell's `>` would: the file is
  // made at the link's target (as the writer finds it), so its directory must exist.
  const parent = dirname(await danglingTarget(path));
  const dir = await stat(parent).catch((err: unknown) => refuse(err, path, 'write'));
  if (!dir.isDirectory()) refuse(problem('ENOTDIR'), path, 'write');
  await access(parent, constants.W_OK | constants.X_OK).catch((err: unknown) =>
    refuse(err, path, 'write'),
  );
}

/** What a standard stream is open on, when that is a regular file. */
function fileOn(fd: number): Stats | undefined {
  try {
    const st = fstatSync(fd);
    return st.isFile() ? st : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks that an output file does not go inside a directory the command reads (an OCI
 * layout): writing it there would change the input.
 * @param path - the `--out` value (`-` or none: standard output, which passes).
 * @param dir - the input directory.
 * @throws {@link PathError} when it would.
 */
export async function outsideDir(path: string | undefined, dir: string): Promise<void> {
  if (path === undefined || path === '-') return;
  const root = await realpath(dir).catch(() => undefined);
  const at = await realpath(dirname(path)).catch(() => undefined);
  if (root === undefined || at === undefined) return;
  if (at === root || at.startsWith(`${root}/`)) {
    throw new PathError(`cannot write ${path}: it is inside ${dir}, which the command reads`);
  }
}

/**
 * Checks that an output directory either is one or is not there yet (it is then made, with
 * its parents).
 * @param path - the directory.
 * @throws {@link PathError} when something else is in its place.
 */
export async function outputDir(path: string): Promise<void> {
  const st = await stat(path).catch(absent(path));
  if (st !== undefined && !st.isDirectory()) refuse(problem('ENOTDIR'), path, 'write');
}

/**
 * Checks that nothing is at `path` yet, for an output directory written whole and then
 * renamed into place (an OCI layout).
 * @param path - the directory to make.
 * @throws {@link PathError} when something is there.
 */
export async function newDir(path: string): Promise<void> {
  if ((await lstat(path).catch(absent(path))) === undefined) return;
  throw new PathError(`cannot write ${path}: already exists (name a new directory)`);
}
