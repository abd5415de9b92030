/**
 * Where a command's summary line goes: standard output, unless the command's result is written
 * there (`--out -`, `/dev/stdout`, or the file stdout is redirected to); then standard error.
 *
 * @module
 */
import { isStdout } from '../node/io.js';

/**
 * @param outPath - the command's `--out`.
 * @returns the stream for the summary.
 */
export async function summaryStream(outPath: string): Promise<NodeJS.WritableStream> {
  return (await isStdout(outPath)) ? process.stderr : process.stdout;
}
