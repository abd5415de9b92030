/**
 * Index metadata edge cases: pax global headers are recorded once (not once per entry), and
 * header values the index cannot represent are refused at conversion, never at reassembly.
 */
import { describe, expect, it } from 'vitest';
import type { EntryMeta } from '../../src/format/records.js';
import { MemoryStore } from '../../src/store/memory.js';
import { encodeHeader, encodePaxRecords } from '../../src/tar/header.js';
import { concat } from '../helpers/bytes.js';
import { convertBytes, indexRecords, reassembleBytes } from '../helpers/layers.js';
import { sha256 } from '../helpers/streams.js';

function tarOf(parts: Uint8Array[]): Uint8Array {
  return concat([...parts, new Uint8Array(1024)]);
}

/** A pax global header (typeflag g) carrying `records`. */
function globalHeader(records: Array<[string, string]>): Uint8Array[] {
  const body = encodePaxRecords(records);
  const pad = new Uint8Array((512 - (body.length % 512)) % 512);
  return [encodeHeader({ path: 'pax_global_header', typeflag: 'g', size: body.length }), body, pad];
}

async function entries(index: Uint8Array, store: MemoryStore): Promise<EntryMeta[]> {
  const out: EntryMeta[] = [];
  for (const r of await indexRecords(index, store)) if (r.type === 'entry') out.push(r.entry);
  return out;
}

/** Effective pax attributes per entry, rebuilt as docs/FORMAT.md tells a reader to. */
function effective(list: EntryMeta[]): Array<Record<string, string>> {
  const globals = new Map<string, string>();
  return list.map((e) => {
    for (const [k, v] of Object.entries(e.globalPax ?? {})) {
      if (v === '') globals.delete(k);
      else globals.set(k, v);
    }
    const eff = new Map(globals);
    for (const [k, v] of Object.entries(e.pax)) {
      if (v === '') eff.delete(k);
      else eff.set(k, v);
    }
    return Object.fromEntries(eff);
  });
}

describe('pax global headers', () => {
  it('are recorded once, so the index does not grow with them per entry', async () => {
    const big = 'x'.repeat(600 * 1024);
    const parts: Uint8Array[] = [...globalHeader([['comment', big]])];
    for (let i = 0; i < 200; i++) parts.push(encodeHeader({ path: `f${i}`, size: 0 }));
    const tar = tarOf(parts);
    const store = new MemoryStore();
    const { index, result } = await convertBytes(tar, store);
    expect(result.diffId).toBe(sha256(tar));
    // One copy of the 600 KiB comment (in the first entry's raw header) plus one in `gx`.
    expect(index.length).toBeLessThan(2 * big.length + 200 * 1024);
    const list = await entries(index, store);
    expect(list).toHaveLength(200);
    expect(list[0]!.globalPax).toEqual({ comment: big });
    expect(list.slice(1).every((e) => e.globalPax === undefined)).toBe(true);
    expect(effective(list).every((p) => p.comment === big)).toBe(true);
    expect(sha256(await reassembleBytes(index, store))).toBe(sha256(tar));
  });

  it('keep local overrides and removals as the entry own attributes', async () => {
    const local = (records: Array<[string, string]>, path: string) => {
      const body = encodePaxRecords(records);
      return [
        encodeHeader({ path: 'PaxHeaders/x', typeflag: 'x', size: body.length }),
        body,
        new Uint8Array((512 - (body.length % 512)) % 512),
        encodeHeader({ path, size: 0 }),
      ];
    };
    const tar = tarOf([
      ...globalHeader([
        ['comment', 'one'],
        ['user.tag', 'g'],
      ]),
      encodeHeader({ path: 'a', size: 0 }),
      ...local([['comment', 'local']], 'b'),
      ...local([['user.tag', '']], 'c'),
      ...globalHeader([['comment', '']]),
      encodeHeader({ path: 'd', size: 0 }),
    ]);
    const store = new MemoryStore();
    const { index } = await convertBytes(tar, store);
    const list = await entries(index, store);
    expect(list.map((e) => e.path)).toEqual(['a', 'b', 'c', 'd']);
    expect(effective(list)).toEqual([
      { comment: 'one', 'user.tag': 'g' },
      { comment: 'local', 'user.tag': 'g' },
      { comment: 'one' },
      { 'user.tag': 'g' },
    ]);
  });
});

describe('values an index cannot hold', () => {
  it('refuses a negative base-256 uid at conversion', async () => {
    const header = encodeHeader({ path: 'neg', size: 0 });
    header.fill(0xff, 108, 116); // uid field: base-256 -1
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of header) sum += b;
    header.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
    const err = await convertBytes(tarOf([header]), new MemoryStore()).catch((e) => e);
    expect(err?.code).toBe('ERR_TAR_FORMAT');
    expect(String(err?.message)).toMatch(/negative uid/);
  });
});
