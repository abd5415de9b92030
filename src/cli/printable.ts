/**
 * Text from outside input (names in a tar or an index, tags in a layout, error messages that
 * quote them) as it may reach a terminal: control characters (C0, DEL, C1) and the
 * bidirectional-text controls are escaped, so that one entry is one line and shows what it
 * is, and no escape sequence reaches the terminal. docs/FORMAT.md §9.
 *
 * @module
 */

const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_OR_BACKSLASH = /[\\\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function escaped(c: string): string {
  if (c === '\\') return '\\\\';
  if (c === '\n') return '\\n';
  if (c === '\t') return '\\t';
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
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
