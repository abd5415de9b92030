/**
 * Argument parsing shared by the commands, over node:util `parseArgs`.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';

type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;

/**
 * Parses a command's arguments, turning parse failures into {@link UsageError}.
 * @param args - the arguments after the command name.
 * @param options - the accepted options.
 * @param positionals - how many positional arguments are required, at least and at most.
 */
export function parse<O extends OptionSpec>(
  args: string[],
  options: O,
  positionals: { min: number; max: number; names: string },
) {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const n = parsed.positionals.length;
  if (n < positionals.min || n > positionals.max) {
    throw new UsageError(`expected ${positionals.names}`);
  }
  return parsed;
}

/**
 * Returns a required string option or throws {@link UsageError}.
 * @param value - the parsed value.
 * @param name - the option name, for the message.
 */
export function required(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/**
 * Returns an optional count option (a positive integer), or `undefined` when not given.
 * @throws {@link UsageError} when it is not a positive integer.
 */
export function count(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^[1-9][0-9]*$/.test(value) || !Number.isSafeInteger(n)) {
    throw new UsageError(`--${name} must be a positive integer: ${JSON.stringify(value)}`);
  }
  return n;
}
