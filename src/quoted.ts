/**
 * Quoting outside values in error messages, within bounds.
 *
 * @module
 */
/** Characters of an outside value an error message quotes at most. */
const QUOTED_CHARS = 80;

/**
 * An outside value quoted for an error message: as JSON, cut to {@link QUOTED_CHARS} characters
 * with its full length noted, so a hostile input cannot make a message of megabytes.
 * @param value - the value (a string, usually).
 */
export function quoted(value: unknown): string {
  const s = JSON.stringify(value) ?? String(value);
  if (s.length <= QUOTED_CHARS) return s;
  return `${s.slice(0, QUOTED_CHARS)}… (${s.length} characters)`;
}
