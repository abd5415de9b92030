/** The body chunker's padding tokens are its own: a caller may change one and break nothing. */
import { describe, expect, it } from 'vitest';
import { loadCdcKernel } from '../../src/cdc/index.js';
import { DEFAULT_CHUNKER_PARAMS, validateChunkerParams } from '../../src/cdc/params.js';
import { createBodyChunker } from '../../src/pipeline/chunk-bodies.js';
import type { ChunkedToken } from '../../src/pipeline/tokens.js';
import { encodeHeader, paddingSize } from '../../src/tar/header.js';
import { createTarTokenizer } from '../../src/tar/tokenizer.js';
import { concat } from '../helpers/bytes.js';
import { readAll, streamOf } from '../helpers/streams.js';

/** A tar of `n` files of 1 to n bytes; the last one's padding is not zero when `dirty`. */
function tarOf(n: number, dirty = false): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 1; i <= n; i++) {
    parts.push(encodeHeader({ path: `f${i}`, size: i }), new Uint8Array(i).fill(0x61));
    const pad = new Uint8Array(paddingSize(i));
    if (dirty && i === n) pad.fill(0x7a);
    parts.push(pad);
  }
  return concat([...parts, new Uint8Array(1024)]);
}

async function paddings(tar: Uint8Array): Promise<Uint8Array[]> {
  const params = validateChunkerParams(DEFAULT_CHUNKER_PARAMS);
  const tokens: ChunkedToken[] = await readAll(
    streamOf(tar, 700)
      .pipeThrough(createTarTokenizer())
      .pipeThrough(createBodyChunker({ kernel: loadCdcKernel(), params })),
  );
  return tokens.flatMap((t) => (t.type === 'end' ? [t.padding] : []));
}

describe('body chunker padding', () => {
  it('is a copy the caller may write to without changing other tokens or later streams', async () => {
    const first = await paddings(tarOf(40, true));
    expect(first).toHaveLength(40);
    expect(first.at(-1)!.every((b) => b === 0x7a)).toBe(true);
    for (const p of first.slice(0, -1)) expect(p.every((b) => b === 0)).toBe(true);
    first[0]!.fill(0xff);
    for (const p of first.slice(1, -1)) expect(p.every((b) => b === 0)).toBe(true);
    const second = await paddings(tarOf(40));
    for (const p of second) expect(p.every((b) => b === 0)).toBe(true);
    expect(second.map((p) => p.length)).toEqual(first.map((p) => p.length));
  });
});
