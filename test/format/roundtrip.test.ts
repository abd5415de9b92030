/** Property tests: records round-trip, and decoding does not depend on how bytes are split. */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decodeRecord, encodeRecord } from '../../src/format/codec.js';
import { createIndexEncoder, encodeFrame, IndexFrames } from '../../src/format/encoder.js';
import { IndexGrammar } from '../../src/format/grammar.js';
import type { IndexRecord } from '../../src/format/records.js';
import { concat } from '../helpers/bytes.js';
import { anyRecord, validIndex } from './arbitraries.js';
import { decodeIndex, indexBytes, LAYER, minimalMeta } from './helpers.js';

describe('record round trip', () => {
  test('decode(encode(r)) deep-equals r for any valid record', () => {
    fc.assert(
      fc.property(anyRecord, (r) => {
        expect(decodeRecord(encodeRecord(r), 0)).toEqual(r);
      }),
      { numRuns: 500, seed: 0x1d1 },
    );
  });

  test('encoding is deterministic: encode(decode(bytes)) gives the same bytes', () => {
    fc.assert(
      fc.property(anyRecord, (r) => {
        const bytes = encodeRecord(r);
        expect(encodeRecord(decodeRecord(bytes, 0))).toEqual(bytes);
      }),
      { numRuns: 200, seed: 0x1d2 },
    );
  });

  test('text keeps a leading U+FEFF and every code point', () => {
    const r: IndexRecord = {
      type: 'delete',
      path: '\uFEFFbom',
      opaque: false,
      entry: {
        ...minimalMeta('\uFEFF\u{1F600}\uFFFD'),
        typeflag: '\u00ff',
        mode: 0,
        pax: { '\uFEFFk': '\uFEFFv' },
      },
      raw: new Uint8Array(0),
    };
    expect(decodeRecord(encodeRecord(r), 0)).toEqual(r);
  });
});

describe('index stream', () => {
  test('valid indexes pass the grammar', () => {
    fc.assert(
      fc.property(validIndex, (records) => {
        const g = new IndexGrammar();
        for (const [i, r] of records.entries()) g.accept(r, i);
        expect(g.complete).toBe(true);
      }),
      { numRuns: 200, seed: 0x1d3 },
    );
  });

  test('the encoder stream writes the magic and one frame per record', async () => {
    await fc.assert(
      fc.asyncProperty(validIndex, async (records) => {
        const stream = new ReadableStream<IndexRecord>({
          start(c) {
            for (const r of records) c.enqueue(r);
            c.close();
          },
        });
        const parts: Uint8Array[] = [];
        await stream
          .pipeThrough(createIndexEncoder())
          .pipeTo(new WritableStream({ write: (p) => void parts.push(p) }));
        expect(concat(parts)).toEqual(indexBytes(records));
      }),
      { numRuns: 30, seed: 0x1d4 },
    );
  });

  test('the encoder passes frames on in pieces of about 64 KiB, each of whole frames', async () => {
    const records: IndexRecord[] = [
      {
        type: 'layer',
        version: 1,
        chunker: { algorithm: 'fastcdc-gear32-v1', min: 64, avg: 256, max: 1024 },
        digest: 'sha256',
        compression: 'none',
      },
      ...Array.from(
        { length: 3000 },
        (_, i): IndexRecord => ({
          type: 'entry',
          entry: minimalMeta(`f${i}`),
          raw: new Uint8Array(512),
        }),
      ),
    ];
    const parts: Uint8Array[] = [];
    const stream = new ReadableStream<IndexRecord>({
      start(c) {
        for (const r of records) c.enqueue(r);
        c.close();
      },
    });
    await stream
      .pipeThrough(createIndexEncoder())
      .pipeTo(new WritableStream({ write: (p) => void parts.push(p) }));
    expect(concat(parts)).toEqual(indexBytes(records));
    expect(parts.length).toBeGreaterThan(2);
    expect(parts.length).toBeLessThan(records.length / 50);
    // Every piece but the last is full; every piece after the first starts with a frame.
    for (const p of parts.slice(0, -1)) expect(p.length).toBeGreaterThanOrEqual(64 * 1024);
    for (const p of parts.slice(1)) {
      const body = new DataView(p.buffer, p.byteOffset).getUint32(0);
      expect(() => decodeRecord(p.subarray(4, 4 + body), 0)).not.toThrow();
    }
  });

  test('records too large for the room left in a piece are framed alone, in order', () => {
    // Sizes around the piece's room (64 KiB past 64 KiB): some fit in place, some do not.
    const sizes = [10, 1000, 130_000, 200, 60_000, 68_000, 140_000, 5, 65_500, 300];
    const records: IndexRecord[] = [
      LAYER,
      ...sizes.map(
        (n, i): IndexRecord => ({
          type: 'entry',
          entry: { ...minimalMeta(`f${i}`), xattrs: { 'user.x': new Uint8Array(n).fill(i) } },
          raw: new Uint8Array(512),
        }),
      ),
    ];
    const frames = new IndexFrames();
    const parts: Uint8Array[] = [];
    for (const r of records) {
      const piece = frames.add(r);
      if (piece) parts.push(piece);
    }
    const last = frames.end();
    if (last) parts.push(last);
    // Compared as a Buffer: a deep equal of 400 KB takes seconds.
    expect(Buffer.from(concat(parts)).equals(indexBytes(records))).toBe(true);
    expect(parts.length).toBeGreaterThan(3);
  });

  test('a record that cannot be encoded fails the same in place as alone', () => {
    const frames = new IndexFrames();
    frames.add(LAYER);
    const bad: IndexRecord = {
      type: 'entry',
      entry: minimalMeta('f', 0.5),
      raw: new Uint8Array(512),
    };
    expect(() => frames.add(bad)).toThrow(/not an integer/);
    expect(() => encodeFrame(bad)).toThrow(/not an integer/);
  });

  test('decoding gives the same records for any split of the bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        validIndex,
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }),
        async (records, sizes) => {
          const bytes = indexBytes(records);
          for (const split of [bytes.length, sizes, [4096, 1, 3]]) {
            const { records: got, error } = await decodeIndex(bytes, split);
            expect(error).toBeUndefined();
            expect(got).toEqual(records);
          }
        },
      ),
      { numRuns: 100, seed: 0x1d5 },
    );
  });

  test('decoding 1-byte pieces gives the same records', async () => {
    await fc.assert(
      fc.asyncProperty(validIndex, async (records) => {
        const { records: got, error } = await decodeIndex(indexBytes(records), 1);
        expect(error).toBeUndefined();
        expect(got).toEqual(records);
      }),
      { numRuns: 20, seed: 0x1d6 },
    );
  });
});
