/**
 * Names that are not UTF-8: the tokenizer marks an entry whose path or link target came from
 * such bytes (`nameNotUtf8`), and `nameNotUtf8()` tells the same from a record's raw header
 * bytes, whichever header the name came from; a U+FFFD that the bytes spell is a name like
 * any other.
 */
import { describe, expect, it } from 'vitest';
import { nameNotUtf8 } from '../../src/tar/raw-names.js';
import type { TarEntry } from '../../src/tar/types.js';
import { concatBytes, END, rawEntry, rawHeader, tokenize } from './helpers.js';

const REPLACEMENT = '\xef\xbf\xbd'; // U+FFFD spelled in UTF-8, as header bytes
const utf8 = (s: string) => new TextEncoder().encode(s);
/** Pax records of text whose bytes are given one per character (so 0xE9 stays one byte). */
function pax(records: Array<[string, string]>): Uint8Array {
  const parts = records.map(([k, v]) => {
    const body = `${k}=${v}\n`;
    let n = body.length + 2;
    while (`${n} ${body}`.length !== n) n++;
    return Uint8Array.from(`${n} ${body}`, (c) => c.charCodeAt(0));
  });
  return concatBytes(parts);
}

/** The entries of a tar made of these header bytes, and each entry's raw bytes. */
async function entries(...parts: Uint8Array[]): Promise<Array<[TarEntry, Uint8Array]>> {
  const tokens = await tokenize(concatBytes([...parts, END]));
  return tokens.flatMap((t) => (t.type === 'header' ? [[t.entry, t.raw] as const] : []));
}

describe('names that are not UTF-8', () => {
  it('are marked, whichever header gives them; a U+FFFD that the bytes spell is not', async () => {
    const got = await entries(
      rawHeader({ name: 'caf\xe9' }),
      rawHeader({ name: `real${REPLACEMENT}` }),
      rawEntry(
        { name: '././@LongLink', typeflag: 'L' },
        Uint8Array.from('long\xe8', (c) => c.charCodeAt(0)),
      ),
      rawHeader({ name: 'long' }),
      rawEntry({ name: '././@LongLink', typeflag: 'L' }, utf8('long-real\ufffd')),
      rawHeader({ name: 'long' }),
      rawEntry({ name: 'pax', typeflag: 'x' }, pax([['path', 'pax\xff']])),
      rawHeader({ name: 'pax' }),
      rawEntry({ name: 'pax', typeflag: 'x' }, pax([['path', `pax-real${REPLACEMENT}`]])),
      // The ustar field is not UTF-8, but the pax path wins.
      rawHeader({ name: 'p\xe9' }),
      rawHeader({ name: 'link', typeflag: '2', linkname: 'to\xe9' }),
      rawHeader({ name: 'hard', typeflag: '1', linkname: `to${REPLACEMENT}` }),
      // A regular file's link field means nothing.
      rawHeader({ name: 'plain', linkname: 'x\xe9' }),
      rawEntry({ name: 'pax', typeflag: 'x' }, pax([['linkpath', 'to\xfe']])),
      rawHeader({ name: 'paxlink', typeflag: '2', linkname: 'ok' }),
    );
    expect(got.map(([e]) => [e.path, e.nameNotUtf8 ?? false])).toEqual([
      ['caf\ufffd', true],
      ['real\ufffd', false],
      ['long\ufffd', true],
      ['long-real\ufffd', false],
      ['pax\ufffd', true],
      ['pax-real\ufffd', false],
      ['link', true],
      ['hard', false],
      ['plain', false],
      ['paxlink', true],
    ]);
    // From a record's raw bytes, path and link target: the same answers.
    expect(got.map(([e, raw]) => nameNotUtf8(raw, e.path, e.linkname))).toEqual(
      got.map(([e]) => e.nameNotUtf8 === true && /\ufffd/.test(e.path + e.linkname)),
    );
  });

  it('are assumed from raw bytes that do not give the recorded name', async () => {
    const [[entry, raw]] = (await entries(rawHeader({ name: `real${REPLACEMENT}` }))) as [
      [TarEntry, Uint8Array],
    ];
    expect(nameNotUtf8(raw, entry.path, '')).toBe(false);
    expect(nameNotUtf8(raw, 'other\ufffd', '')).toBe(true);
    expect(nameNotUtf8(raw.subarray(0, 100), entry.path, '')).toBe(true);
    expect(nameNotUtf8(new Uint8Array(512).fill(1), entry.path, '')).toBe(true);
    // Without U+FFFD, nothing is looked into.
    expect(nameNotUtf8(new Uint8Array(0), 'plain', '')).toBe(false);
  });
});
