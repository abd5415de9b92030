import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/format/encoder.js';
import { convert } from '../../src/pipeline/convert.js';
import { reassemble } from '../../src/pipeline/reassemble.js';
import { MemoryStore } from '../../src/store/memory.js';
import { createTarTokenizer } from '../../src/tar/tokenizer.js';
import { minimalMeta } from '../format/helpers.js';
import { streamOf } from '../helpers/streams.js';

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
    const raw = new Uint8Array(16 * 1024 * 1024 + 1);
    const entry = { ...minimalMeta('x'), mode: 0 };
    expect(() => encodeFrame({ type: 'entry', entry, raw })).toThrow(
      expect.objectContaining({ code: 'ERR_RECORD_FORMAT' }),
    );
  });
});
