/**
 * The `lz4-block` coding: the WebAssembly compressor and the JS decoder round-trip any bytes,
 * interoperate with the real `lz4` tool both ways (blocks carried in LZ4 frames), and the
 * decoder refuses malformed and bomb-like blocks with CompressionError, never writing past its
 * bound.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { xxhash32 } from 'hash-wasm';
import { describe, expect, it, vi } from 'vitest';
import { decodeLz4Block } from '../../src/compress/lz4-block.js';
import { embeddedLz4KernelSync, Lz4Kernel, loadLz4Codec } from '../../src/compress/lz4-codec.js';
import { CompressionError } from '../../src/errors.js';
import { ROOT, requireDist, runProcess } from '../cli/run.js';
import { concat, pseudoRandom, sameBytes } from '../helpers/bytes.js';
import { toolsAvailable } from '../helpers/tools.js';

const lz4 = embeddedLz4KernelSync();
const text = new TextEncoder().encode(
  Array.from({ length: 3000 }, (_, i) => `key${i % 61} = value ${(i * 7) % 113}\n`).join(''),
);

/** The block for `bytes`, also when it is not smaller (for tests that need one anyway). */
function block(bytes: Uint8Array): Uint8Array {
  return lz4.compress(bytes) ?? literalsOnly(bytes);
}

/** A valid block of literals only. */
function literalsOnly(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  const extra: number[] = [];
  if (n >= 15) {
    let rest = n - 15;
    for (; rest >= 255; rest -= 255) extra.push(255);
    extra.push(rest);
  }
  return concat([Uint8Array.of(Math.min(n, 15) << 4, ...extra), bytes]);
}

/** Bytes with repeats near and far, runs, and random stretches. */
const compressible = fc
  .array(
    fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc
        .tuple(fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 400 }))
        .map(([unit, times]) => concat(Array.from({ length: times }, () => unit))),
      fc.integer({ min: 0, max: 70_000 }).map((n) => text.subarray(0, n)),
    ),
    { maxLength: 8 },
  )
  .map(concat);

describe('LZ4 blocks', () => {
  it('round-trip any bytes, and are smaller whenever the compressor says so', () => {
    fc.assert(
      fc.property(compressible, (bytes) => {
        const packed = lz4.compress(bytes);
        if (packed) {
          expect(packed.length).toBeLessThan(bytes.length);
          expect(sameBytes(decodeLz4Block(packed, bytes.length), bytes)).toBe(true);
          // A loose bound (the caller does not know the size) gives the same bytes.
          expect(sameBytes(decodeLz4Block(packed, 16 << 20), bytes)).toBe(true);
          expect(sameBytes(lz4.decode(packed, bytes.length), bytes)).toBe(true);
        }
        expect(sameBytes(decodeLz4Block(literalsOnly(bytes), bytes.length), bytes)).toBe(true);
      }),
      { seed: 0x1a4, numRuns: 300 },
    );
  });

  it('compress text well and random bytes not at all; the output depends only on the input', () => {
    const t = lz4.compress(text)!;
    expect(t.length).toBeLessThan(text.length / 2);
    expect(lz4.compress(pseudoRandom(70_000, 9))).toBeUndefined();
    // Another instance, after other inputs: the hash table's old entries must not leak in.
    const other = embeddedLz4KernelSync();
    other.compress(text.subarray(5, 40_000));
    other.compress(pseudoRandom(100_000, 2));
    expect(other.compress(text)).toEqual(t);
    expect(lz4.compress(new Uint8Array(0))).toBeUndefined();
    expect(decodeLz4Block(Uint8Array.of(0), 0)).toEqual(new Uint8Array(0));
  });

  it('give blocks that later blocks do not overwrite, small ones sharing a buffer', () => {
    const inputs = Array.from({ length: 300 }, (_, i) =>
      text.subarray(i * 37, i * 37 + 200 + ((i * 977) % 12_000)),
    );
    const blocks = inputs.map((b) => lz4.compress(b)!);
    // Many small blocks share buffers, each on an 8-byte boundary.
    expect(new Set(blocks.map((b) => b.buffer)).size).toBeLessThan(blocks.length / 4);
    for (const b of blocks) if (b.length <= 8192) expect(b.byteOffset % 8).toBe(0);
    for (const [i, b] of blocks.entries()) {
      expect(sameBytes(decodeLz4Block(b, inputs[i]!.length), inputs[i]!)).toBe(true);
    }
  });

  it('go into given memory when it has room, the input itself included', () => {
    fc.assert(
      fc.property(compressible, (bytes) => {
        const alone = lz4.compress(bytes);
        // Into the input's own memory, a view inside a larger buffer as chunks are: read before
        // it is written over.
        const own = new Uint8Array(bytes.length + 72).subarray(40, 40 + bytes.length);
        own.set(bytes);
        const inPlace = lz4.compress(own, own);
        if (!alone) {
          expect(inPlace).toBeUndefined();
          expect(sameBytes(own, bytes)).toBe(true);
          return;
        }
        expect(inPlace!.buffer).toBe(own.buffer);
        expect(inPlace!.byteOffset).toBe(own.byteOffset);
        expect(sameBytes(inPlace!, alone)).toBe(true);
        expect(sameBytes(decodeLz4Block(inPlace!, bytes.length), bytes)).toBe(true);
        // Nothing around the view was touched.
        const whole = new Uint8Array(own.buffer);
        expect(whole.subarray(0, 40).every((x) => x === 0)).toBe(true);
        expect(whole.subarray(40 + bytes.length).every((x) => x === 0)).toBe(true);
        // Memory too small for the block is not used.
        const small = new Uint8Array(alone.length - 1);
        const elsewhere = lz4.compress(bytes, small)!;
        expect(elsewhere.buffer).not.toBe(small.buffer);
        expect(sameBytes(elsewhere, alone)).toBe(true);
        expect(small.every((x) => x === 0)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('handle the largest chunk, 16 MiB, and refuse more', () => {
    const big = concat(Array.from({ length: 256 }, () => text.subarray(0, 65_536)));
    const packed = lz4.compress(big)!;
    expect(sameBytes(decodeLz4Block(packed, big.length), big)).toBe(true);
    expect(() => lz4.compress(new Uint8Array((16 << 20) + 1))).toThrow(RangeError);
  });

  it('share one instance between compressors without growing its memory on every call', async () => {
    const module = new WebAssembly.Module(
      readFileSync(new URL('../../build/lz4.wasm', import.meta.url)),
    );
    const instance = new WebAssembly.Instance(module, {});
    const memory = instance.exports.memory as WebAssembly.Memory;
    const big = concat([text, text, text, text, text]).subarray(0, 256 * 1024);
    const a = new Lz4Kernel(instance);
    const b = new Lz4Kernel(instance);
    a.compress(big);
    b.compress(big);
    const settled = memory.buffer.byteLength;
    for (let i = 0; i < 20; i++) {
      expect(sameBytes(decodeLz4Block(a.compress(big)!, big.length), big)).toBe(true);
      expect(sameBytes(decodeLz4Block(b.compress(big)!, big.length), big)).toBe(true);
    }
    expect(memory.buffer.byteLength).toBe(settled);
    // Two codecs from the loader share its one embedded instance.
    const grow = vi.spyOn(WebAssembly.Memory.prototype, 'grow');
    try {
      const [x, y] = [await loadLz4Codec(), await loadLz4Codec()];
      for (let i = 0; i < 20; i++) {
        expect((await x.encode(big)).coding).toBe('lz4-block');
        expect((await y.encode(big)).coding).toBe('lz4-block');
      }
      expect(grow.mock.calls.length).toBeLessThanOrEqual(1);
    } finally {
      grow.mockRestore();
    }
  });

  it('refuses a bound that is not a size (a NaN bound once looped for ever)', async () => {
    requireDist();
    // In a child process: on a regression the loop cannot be interrupted in this one.
    const code = `import { decodeLz4Block } from ${JSON.stringify(join(ROOT, 'dist/index.js'))};
      for (const bound of [NaN, -1, 1.5, Infinity]) {
        try { decodeLz4Block(Uint8Array.of(0x20, 0x41, 0x42), bound); console.log('returned'); }
        catch (e) { console.log(e.name); }
      }`;
    const run = await runProcess(process.execPath, ['--input-type=module', '-e', code], {
      timeoutMs: 10_000,
    });
    expect(run.signal).toBeNull();
    expect(run.stdout.toString().trim().split('\n')).toEqual(Array(4).fill('RangeError'));
  });

  it('decode alike in JS and in the module: same bytes, or the same error', () => {
    const good = block(text);
    const outcome = (
      decode: (b: Uint8Array, m: number) => Uint8Array,
      b: Uint8Array,
      m: number,
    ) => {
      try {
        return decode(b, m);
      } catch (e) {
        expect(e).toBeInstanceOf(CompressionError);
        return (e as Error).message;
      }
    };
    const blocks = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc
        .tuple(
          fc.integer({ min: 0, max: good.length - 1 }),
          fc.integer({ min: 1, max: 255 }),
          fc.nat(good.length),
        )
        .map(([at, flip, cut]) => {
          const b = good.slice(0, Math.max(cut, at + 1));
          b[at]! ^= flip;
          return b;
        }),
    );
    fc.assert(
      fc.property(blocks, fc.integer({ min: 0, max: 2 * text.length }), (b, max) => {
        const wasm = outcome((x, m) => lz4.decode(x, m), b, max);
        const js = outcome(decodeLz4Block, b, max);
        if (typeof js === 'string' || typeof wasm === 'string') expect(wasm).toEqual(js);
        else expect(sameBytes(wasm, js)).toBe(true);
      }),
      { seed: 5, numRuns: 3000 },
    );
    // A bound the module does not take (over 1 MiB of output) goes to the JS decoder.
    expect(sameBytes(lz4.decode(good, 16 << 20), text)).toBe(true);
  });

  it('refuse an instance that is not lz4.wasm', async () => {
    const cdc = readFileSync(new URL('../../build/cdc.wasm', import.meta.url));
    const { instance } = await WebAssembly.instantiate(cdc, {});
    expect(() => new Lz4Kernel(instance)).toThrow(/not an instance of lz4.wasm/);
  });
});

/** Both decoders: plain JS, and the module's (which names faults through the JS one). */
const decoders: Array<[string, (block: Uint8Array, max: number) => Uint8Array]> = [
  ['JS', decodeLz4Block],
  ['WebAssembly', (b, max) => lz4.decode(b, max)],
];

describe.each(decoders)('the %s LZ4 block decoder, on hostile input', (_, decode) => {
  const good = block(text);

  it.each<[string, Uint8Array, number, RegExp]>([
    ['an empty block', new Uint8Array(0), 10, /ends before its last literals/],
    ['an offset of 0', Uint8Array.of(0x10, 0x61, 0, 0, 0), 100, /match offset 0/],
    ['an offset before the start', Uint8Array.of(0x10, 0x61, 2, 0, 0), 100, /match offset 2/],
    ['literals past the end', Uint8Array.of(0x50, 1, 2), 100, /5 literals run past the end/],
    ['a literal length past the end', Uint8Array.of(0xf0, 255, 255), 1000, /literal length/],
    ['a match length past the end', Uint8Array.of(0x1f, 0x61, 1, 0, 255), 1000, /match length/],
    ['a cut offset', Uint8Array.of(0x10, 0x61, 1), 100, /offset runs past the end/],
    ['literals past the bound', literalsOnly(text.subarray(0, 500)), 499, /past 499 bytes/],
    ['a match past the bound', Uint8Array.of(0x1f, 0x61, 1, 0, 200, 0), 100, /past 100 bytes/],
  ])('refuses %s', (_, bytes, max, message) => {
    const err = (() => {
      try {
        decode(bytes, max);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CompressionError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toMatch(/at input byte \d+/);
  });

  it('bounds a bomb: a block that would decode to 16 MiB stops at the bound', () => {
    // 65 KB: one literal, then a match at offset 1 of 4 + 15 + 255 × 65,793 bytes (16 MiB).
    const bomb = concat([Uint8Array.of(0x1f, 0x61, 1, 0), new Uint8Array(65_793).fill(255)]);
    expect(() => decode(concat([bomb, Uint8Array.of(0, 0)]), 1 << 20)).toThrow(
      /past 1048576 bytes/,
    );
  });

  it('never gives back the original from a strict prefix, and bounds a corrupted block', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: good.length - 1 }),
        fc.integer({ min: 0, max: good.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (cut, at, flip) => {
          const corrupt = good.slice();
          corrupt[at]! ^= flip;
          for (const bytes of [good.subarray(0, cut), corrupt]) {
            try {
              const out = decode(bytes, text.length);
              expect(out.length).toBeLessThanOrEqual(text.length);
              // A corrupt offset may still point at equal bytes (the text repeats itself), so
              // only a prefix must differ; the store's digest check catches the rest.
              if (bytes !== corrupt) expect(sameBytes(out, text)).toBe(false);
            } catch (e) {
              expect(e).toBeInstanceOf(CompressionError);
            }
          }
        },
      ),
      { seed: 7, numRuns: 400 },
    );
  });

  it('decodes random bytes only to CompressionError or bounded output', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: 0, max: 5000 }),
        (b, max) => {
          try {
            expect(decode(b, max).length).toBeLessThanOrEqual(max);
          } catch (e) {
            expect(e).toBeInstanceOf(CompressionError);
          }
        },
      ),
      { seed: 11, numRuns: 2000 },
    );
  });
});

/** An LZ4 frame (no checksums, independent blocks of at most 256 KiB) around some blocks. */
async function frame(blocks: Uint8Array[]): Promise<Uint8Array> {
  const descriptor = Uint8Array.of(0x60, 0x50);
  const hc = (Number.parseInt(await xxhash32(descriptor, 0), 16) >>> 8) & 0xff;
  const parts: Uint8Array[] = [Uint8Array.of(0x04, 0x22, 0x4d, 0x18, ...descriptor, hc)];
  for (const b of blocks) {
    const size = new Uint8Array(4);
    new DataView(size.buffer).setUint32(0, b.length, true);
    parts.push(size, b);
  }
  parts.push(new Uint8Array(4));
  return concat(parts);
}

/** The blocks of an LZ4 frame with independent blocks, decoded by `decodeLz4Block`. */
function unframe(
  f: Uint8Array,
  decode: (block: Uint8Array, max: number) => Uint8Array = decodeLz4Block,
): Uint8Array {
  const view = new DataView(f.buffer, f.byteOffset, f.length);
  expect(view.getUint32(0, true)).toBe(0x184d2204);
  const flg = f[4]!;
  expect(flg & 0x20).toBe(0x20); // independent blocks
  let at = 7 + (flg & 0x08 ? 8 : 0);
  const out: Uint8Array[] = [];
  for (;;) {
    const word = view.getUint32(at, true);
    at += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    const data = f.subarray(at, at + size);
    out.push(word & 0x80000000 ? data : decode(data, 256 << 10));
    at += size + (flg & 0x10 ? 4 : 0);
  }
  return concat(out);
}

/** The module's decoder (what stores use where it loads). */
const wasmDecode = (b: Uint8Array, max: number) => lz4.decode(b, max);

describe.runIf(toolsAvailable('lz4'))('LZ4 blocks and the real lz4 tool', () => {
  const input = concat([
    text,
    pseudoRandom(3000, 4),
    text.subarray(100, 50_000),
    new Uint8Array(9000),
  ]);

  it('lz4 -d reads our blocks', async () => {
    const blocks: Uint8Array[] = [];
    for (let i = 0; i < input.length; i += 65_536) {
      blocks.push(block(input.subarray(i, i + 65_536)));
    }
    const out = execFileSync('lz4', ['-d', '-c'], { input: await frame(blocks) });
    expect(sameBytes(out, input)).toBe(true);
  });

  it("we read lz4's overlapping matches, every period from 1 to 16 and every length", () => {
    // Runs of a repeated unit make matches whose offset (the unit's length) is less than
    // their length: the decoders copy those in wide steps, which must repeat exactly.
    const parts: Uint8Array[] = [];
    for (let period = 1; period <= 16; period++) {
      const unit = pseudoRandom(period, period);
      for (const len of [4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 100, 4099, 70_000]) {
        parts.push(
          pseudoRandom(3, len),
          concat(Array.from({ length: Math.ceil(len / period) + 1 }, () => unit)).subarray(
            0,
            len + period,
          ),
        );
      }
    }
    const runs = concat(parts);
    for (const level of ['-1', '-9']) {
      const f = execFileSync('lz4', [level, '-BI', '-B5', '--no-frame-crc', '-c'], { input: runs });
      expect(sameBytes(unframe(new Uint8Array(f)), runs)).toBe(true);
      expect(sameBytes(unframe(new Uint8Array(f), wasmDecode), runs)).toBe(true);
    }
    for (let i = 0; i < runs.length; i += 65_536) {
      const piece = runs.subarray(i, i + 65_536);
      const b = block(piece);
      expect(sameBytes(decodeLz4Block(b, 65_536), piece)).toBe(true);
      expect(sameBytes(lz4.decode(b, 65_536), piece)).toBe(true);
    }
  });

  it("we read lz4's blocks, at its fast and its high-compression levels", () => {
    for (const level of ['-1', '-9']) {
      const f = execFileSync('lz4', [level, '-BI', '-B5', '--no-frame-crc', '-c'], { input });
      expect(sameBytes(unframe(new Uint8Array(f)), input)).toBe(true);
    }
  });
});
