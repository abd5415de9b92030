import { describe, expect, it } from 'vitest';
import { TarLimitError } from '../../src/errors.js';
import { encodeFrame } from '../../src/format/encoder.js';
import { convert } from '../../src/pipeline/convert.js';
import { reassemble } from '../../src/pipeline/reassemble.js';
import { MemoryStore } from '../../src/store/memory.js';
import { encodeHeader, encodePaxRecords, paddingSize } from '../../src/tar/header.js';
import { createTarTokenizer } from '../../src/tar/tokenizer.js';
import { minimalMeta } from '../format/helpers.js';
import { concat } from '../helpers/bytes.js';
import { collect, streamOf } from '../helpers/streams.js';

describe('numeric options', () => {
  it.each([Number.NaN, 0, 1.5, -1])('reject concurrency %s', (concurrency) => {
    expect(() =>
      convert(streamOf(new Uint8Array(1024)), { store: new MemoryStore(), concurrency }),
    ).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
  });
  it('rejects a readAhead and a maxHeaderBytes that would turn a bound off', () => {
    expect(() =>
      reassemble(streamOf(new Uint8Array(0)), new MemoryStore(), { readAhead: Number.NaN }),
    ).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    expect(() => createTarTokenizer({ maxHeaderBytes: Number.POSITIVE_INFINITY })).toThrow(
      expect.objectContaining({ code: 'ERR_USAGE' }),
    );
  });
});

describe('record size limit', () => {
  it('is enforced when writing, so no index holds a record readers refuse', () => {
    // Over the limit even when the last block goes as a patch and the rest as `x`.
    const raw = new Uint8Array(16 * 1024 * 1024 + 1024);
    const entry = { ...minimalMeta('x'), mode: 0 };
    expect(() => encodeFrame({ type: 'entry', entry, raw })).toThrow(
      expect.objectContaining({ code: 'ERR_RECORD_FORMAT' }),
    );
  });

  it('and the item limit: an entry of more pax records than a record may hold fails convert', async () => {
    // Possible only with maxHeaderBytes raised: 600,000 pax records make 1.2 M index items.
    const records = Array.from({ length: 600_000 }, (_, i): [string, string] => [`k${i}`, 'v']);
    const data = encodePaxRecords(records);
    const tar = concat([
      encodeHeader({ path: 'PaxHeaders/f', typeflag: 'x', size: data.length }),
      data,
      new Uint8Array(paddingSize(data.length)),
      encodeHeader({ path: 'f', size: 0 }),
      new Uint8Array(1024),
    ]);
    const { index, done } = convert(streamOf(tar, 1 << 20), {
      store: new MemoryStore(),
      maxHeaderBytes: 16 << 20,
    });
    await expect(collect(index)).rejects.toBeInstanceOf(TarLimitError);
    await expect(done).rejects.toThrow(/index items, over 1048576/);
  });

  it("counts the header patches' items too, so that no index convert writes is unreadable", async () => {
    // 64 + 2 · 524,256 items fit the limit exactly; the header's patch (20 runs or more: the
    // bytes after the name's NUL, and the checksum) would take the record over it. Before the patches were counted, this
    // converted into an index whose entry record its reader refused.
    const records = [
      ...['atime', 'ctime', 'mtime'].map((k): [string, string] => [k, '1.5']),
      ...Array.from({ length: 524_253 }, (_, i): [string, string] => [`k${i}`, 'v']),
    ];
    const data = encodePaxRecords(records);
    const header = encodeHeader({ path: 'a', size: 0 });
    for (let at = 5; at < 100; at += 5) header[at] = 0x41;
    header.fill(0x20, 148, 156);
    const sum = header.reduce((a, b) => a + b, 0);
    header.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
    const tar = concat([
      encodeHeader({ path: 'PaxHeaders/a', typeflag: 'x', size: data.length }),
      data,
      new Uint8Array(paddingSize(data.length)),
      header,
      new Uint8Array(1024),
    ]);
    const { index, done } = convert(streamOf(tar, 1 << 20), {
      store: new MemoryStore(),
      maxHeaderBytes: 16 << 20,
      index: 'flat',
    });
    await expect(collect(index)).rejects.toBeInstanceOf(TarLimitError);
    await expect(done).rejects.toThrow(/index items, over 1048576/);
  });
});
