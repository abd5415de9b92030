import { describe, expect, it } from 'vitest';
import { printable, printableMessage } from '../../src/cli/printable.js';

describe('printable', () => {
  it('escapes C0, DEL, C1 and bidi controls, and backslashes in names', () => {
    expect(printable('a\nb\tc\x1b[31m\x7f\x85\u202e\u2066d')).toBe(
      'a\\nb\\tc\\x1b[31m\\x7f\\x85\\u202e\\u2066d',
    );
    expect(printable('back\\slash')).toBe('back\\\\slash');
    // Invisible characters: a leading U+FEFF is not a whiteout's '.wh.'; escapes are unambiguous.
    expect(printable('\uFEFF.wh.x\u200b\u2028\u061cb\u{E0041}')).toBe(
      '\\ufeff.wh.x\\u200b\\u2028\\u061cb\\u{e0041}',
    );
    expect(printable('café/日本語 ok')).toBe('café/日本語 ok');
  });

  it('leaves backslashes in messages, which quote names with JSON.stringify', () => {
    expect(printableMessage('bad entry "a\\u00e9"\x1b]0;x\x07')).toBe(
      'bad entry "a\\u00e9"\\x1b]0;x\\x07',
    );
  });
});
