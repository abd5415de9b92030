/**
 * Validation of numeric options: a NaN or a fraction where a count is expected would silently
 * turn a bound off, so every such option goes through here.
 *
 * @module
 */
import { UsageError } from './errors.js';

/**
 * Returns `value` if it is an integer of at least `min`, `fallback` if it is undefined.
 * @param value - the option as given.
 * @param name - its name, for the error message.
 * @param fallback - the default.
 * @param min - the smallest allowed value. @default 1
 * @throws {@link UsageError} for anything else.
 */
export function intOption(
  value: number | undefined,
  name: string,
  fallback: number,
  min = 1,
): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`${name} must be an integer of at least ${min}, got ${value}`);
  }
  return value;
}
