/**
 * The Go-compatible deflate encoder against Go's own `compress/flate` (built at test time with
 * the `go` tool): the same bytes at every level, for edge sizes, text, random data, zeros, a
 * tar, an input long enough to rebase Go's hash positions, writes of odd sizes, and random
 * inputs made of literals, repeats and runs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GoFlateWriter } from '../../src/compress/go-flate/compressor.js';
import { goDeflateEngine } from '../../src/oci/go-deflate-engine.js';
import { goDeflate } from '../go/go.js';
import { concat, firstDifference, pseudoRandom, text, xorshift32 } from '../helpers/bytes.js';
import { drive, literalsRepeatsRuns, viaEngine } from '../helpers/deflate.js';
import { toolsAvailable } from '../helpers/tools.js';
import { layerTar } from '../pipeline/flatten-helpers.js';

/** Our deflate of `input` at `level`, handed over in `writeSize` pieces. */
const ours = (input: Uint8Array, level: number, writeSize = 32768) =>
  drive(new GoFlateWriter(level), input, writeSize);

/** Random bytes with short repeats far back: matches of 4 beyond 4,096 bytes are not taken. */
function farRepeats(n: number, seed: number): Uint8Array {
  const out = pseudoRandom(n, seed);
  const next = xorshift32(seed + 1);
  for (let at = 8192; at + 8 < n; at += 97) {
    const from = at - 4097 - (next() % 20000);
    if (from >= 0) out.copyWithin(at, from, from + 4 + (next() % 3));
  }
  return out;
}

const LEVELS = [1, 2, 3, 4, 5, 6, 7, 8, 9];

const inputs: Record<string, Uint8Array> = {
  empty: new Uint8Array(0),
  'one byte': Uint8Array.of(42),
  '16 bytes': text(16, 1),
  '17 bytes': text(17, 2),
  '127 bytes': text(127, 3),
  '128 bytes': pseudoRandom(128, 4),
  '65,535 bytes of text': text(65535, 5),
  '65,536 random bytes': pseudoRandom(65536, 6),
  '65,537 bytes of text': text(65537, 7),
  'text, 600 KB': text(600_000, 8),
  'random, 300 KB': pseudoRandom(300_000, 9),
  'zeros, 300 KB': new Uint8Array(300_000),
  'far short repeats': farRepeats(200_000, 10),
  'text then random then text': concat([
    text(70_000, 11),
    pseudoRandom(90_000, 12),
    text(70_000, 11),
  ]),
  'a tar': layerTar([
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/os-release', body: 'ID=test\n' },
    { type: 'file', path: 'bin/tool', body: pseudoRandom(150_000, 13), mode: 0o755 },
    { type: 'file', path: 'usr/share/doc/words', body: text(400_000, 14) },
    { type: 'symlink', path: 'bin/alias', target: 'tool' },
  ]),
};

describe.runIf(toolsAvailable('go'))("Go-compatible deflate: Go's bytes", () => {
  for (const [name, input] of Object.entries(inputs)) {
    it(`${name}, levels 1-9`, () => {
      for (const level of LEVELS) {
        expect(firstDifference(ours(input, level), goDeflate(input, level)), `level ${level}`).toBe(
          -1,
        );
      }
    });
  }

  it('writes of odd sizes give what Go gives for the same writes', () => {
    const input = concat([text(150_000, 15), pseudoRandom(50_000, 16), new Uint8Array(20_000)]);
    for (const writeSize of [7, 1000, 65537, 100_000]) {
      for (const level of [1, 4, 6, 9]) {
        const diff = firstDifference(
          ours(input, level, writeSize),
          goDeflate(input, level, writeSize),
        );
        expect(diff, `level ${level}, writes of ${writeSize}`).toBe(-1);
      }
    }
  });

  it('past 16 MiB, where Go rebases its hash positions', () => {
    const input = concat([text(9_000_000, 17), pseudoRandom(500_000, 18), text(8_500_000, 19)]);
    expect(input.length).toBeGreaterThan((1 << 24) + (1 << 16));
    expect(firstDifference(ours(input, 4), goDeflate(input, 4))).toBe(-1);
  });

  it('random inputs of literals, repeats and runs', () => {
    fc.assert(
      fc.property(
        literalsRepeatsRuns,
        fc.integer({ min: 1, max: 9 }),
        fc.constantFrom(32768, 4096, 333),
        (input, level, writeSize) => {
          expect(
            firstDifference(ours(input, level, writeSize), goDeflate(input, level, writeSize)),
          ).toBe(-1);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe.runIf(toolsAvailable('go'))('the Go engine', () => {
  it("gives Go's 32 KiB-write output however its input arrives", async () => {
    // Records of a period just under the window, changed here and there, so the best matches
    // lie about 32.6 KiB back: where writes end decides, in Go, whether matches across the
    // window's slide are found.
    const period = 32_600;
    const base = pseudoRandom(period, 5);
    const input = new Uint8Array(1_500_000);
    const next = xorshift32(9);
    for (let i = 0; i < input.length; i++) input[i] = i < period ? base[i]! : input[i - period]!;
    for (let i = period; i < input.length; i += 20 + (next() % 60)) input[i] = next() & 255;
    const want = goDeflate(input, 6, 32768);
    // Go itself gives other bytes for 7-byte writes here: the engine has to fix its writes.
    expect(firstDifference(goDeflate(input, 6, 7), want)).not.toBe(-1);
    const sizes = [() => 1 + (next() % 64), () => 7, () => 100_000, () => 1 + (next() % 70_000)];
    for (const size of sizes) {
      expect(firstDifference(await viaEngine(goDeflateEngine(), 6, input, size), want)).toBe(-1);
    }
  });
});

describe('GoFlateWriter', () => {
  it('refuses levels Go has no matcher for here, and writes after close', () => {
    expect(() => new GoFlateWriter(0)).toThrow(RangeError);
    expect(() => new GoFlateWriter(10)).toThrow(RangeError);
    const w = new GoFlateWriter(6);
    w.close();
    expect(() => w.write(Uint8Array.of(1))).toThrow(/after close/);
  });

  it("ends every stream with Go's empty final stored block", () => {
    const w = new GoFlateWriter(6);
    w.close();
    expect(w.take()).toEqual(Uint8Array.of(0x01, 0x00, 0x00, 0xff, 0xff));
  });
});
