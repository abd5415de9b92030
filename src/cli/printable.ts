/**
 * Text from outside input (names in a tar or an index, tags in a layout, error messages that
 * quote them) as it may reach a terminal: control characters (C0, DEL, C1), invisible format
 * characters (bidirectional controls, zero-width characters, U+FEFF) and line separators are
 * escaped, so that one entry is one line and shows what it is, and no escape sequence reaches
 * the terminal. docs/FORMAT.md §9.
 *
 * @module
 */

// Control characters (C0, DEL, C1: \p{Cc}), format characters (bidirectional controls,
// zero-width characters, U+FEFF: \p{Cf}) and the line and paragraph separators.
const UNSAFE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;
const UNSAFE_OR_BACKSLASH = /[\\\p{Cc}\p{Cf}\u2028\u2029]/gu;

function escaped(c: string): string {
  if (c === '\\') return '\\\\';
  if (c === '\n') return '\\n';
  if (c === '\t') return '\\t';
  const code = c.codePointAt(0)!;
  if (code < 0x100) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (code < 0x10000) return `\\u${code.toString(16).padStart(4, '0')}`;
  return `\\u{${code.toString(16)}}`;
}

/**
 * A name made safe to print. Backslashes are doubled too, so the escaped form reads back
 * unambiguously (`a\\nb` is the name `a\nb`, `a\nb` a name with a newline).
 * @param name - a path, link target, user or group name, tag.
 */
export function printable(name: string): string {
  return name.replace(UNSAFE_OR_BACKSLASH, escaped);
}

/**
 * A message made safe to print: like {@link printable}, but backslashes are left as they are
 * (messages quote names with `JSON.stringify`, whose escapes would double).
 * @param text - a message.
 */
export function printableMessage(text: string): string {
  return text.replace(UNSAFE, escaped);
}
