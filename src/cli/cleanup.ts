/**
 * What a command leaves to be closed when it ends (the stores it opened): run by the CLI's
 * entry after the command, whether it succeeded or failed, so that no file handle is left for
 * the garbage collector to close (Node warns when it does).
 *
 * @module
 */

const pending: Array<() => Promise<void>> = [];

/** Registers something to close when the command ends. */
export function closeAtEnd(close: () => Promise<void>): void {
  pending.push(close);
}

/**
 * Closes everything registered, most recent first.
 * @param succeeded - whether the command succeeded: after a failure, closing errors are
 *   ignored (the command's own error is the one to report).
 * @throws the first closing error, after a success.
 */
export async function closeAll(succeeded: boolean): Promise<void> {
  let first: unknown;
  while (pending.length > 0) {
    try {
      await pending.pop()!();
    } catch (err) {
      first ??= err;
    }
  }
  if (succeeded && first !== undefined) throw first;
}
