import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createGearTable } from '../../src/cdc/gear.js';
import { jsKernel } from '../../src/cdc/js-kernel.js';
import type { CdcKernel, ChunkerParams, CutState } from '../../src/cdc/types.js';
import { createWasmKernel } from '../../src/cdc/wasm-kernel.js';
import {
  cutsOf,
  lengthsOf,
  referenceCuts,
  wasmBytes,
  wasmKernel,
  xorshiftBytes,
} from './helpers.js';

const wasm = await wasmKernel();
const wasmInstance = new WebAssembly.Instance(new WebAssembly.Module(wasmBytes()), {});
// The same module fed 1000 bytes per call, to exercise the slicing of large pieces.
const wasmSmallWindow = createWasmKernel(
  new WebAssembly.Instance(new WebAssembly.Module(wasmBytes()), {}),
  { window: 1000 },
);
const kernels: [string, CdcKernel][] = [
  ['js', jsKernel],
  ['wasm', wasm],
  ['wasm, 1000-byte window', wasmSmallWindow],
];

/** Valid params, small enough that bodies of a few tens of KiB hold many chunks. */
const paramsArb: fc.Arbitrary<ChunkerParams> = fc.integer({ min: 7, max: 12 }).chain((bits) => {
  const avg = 2 ** bits;
  return fc.record({
    min: fc.integer({ min: 64, max: avg - 1 }),
    avg: fc.constant(avg),
    max: fc.integer({ min: avg + 1, max: avg * 8 }),
  });
});

/** Bodies of several kinds: random, low-entropy, periodic, constant. */
const dataArb: fc.Arbitrary<Uint8Array> = fc
  .record({
    kind: fc.constantFrom('random', 'small-alphabet', 'periodic', 'constant'),
    length: fc.integer({ min: 0, max: 40_000 }),
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
  })
  .map(({ kind, length, seed }) => {
    const bytes = xorshiftBytes(length, seed);
    if (kind === 'small-alphabet') for (let i = 0; i < length; i++) bytes[i]! &= 3;
    if (kind === 'periodic') for (let i = 16; i < length; i++) bytes[i] = bytes[i % 16]!;
    if (kind === 'constant') bytes.fill(seed & 0xff);
    return bytes;
  });

const splitsArb = fc.array(fc.integer({ min: 0, max: 40_000 }), { maxLength: 20 });

describe('gear table', () => {
  it('is the same in the WASM module as in JS', () => {
    const x = wasmInstance.exports as { memory: WebAssembly.Memory; gearPtr(): number };
    const inWasm = new Uint32Array(x.memory.buffer, x.gearPtr(), 256);
    expect(Array.from(inWasm)).toEqual(Array.from(createGearTable()));
  });
});

describe.each(kernels)('%s kernel', (_name, kernel) => {
  it('matches the plain reference implementation', () => {
    fc.assert(
      fc.property(paramsArb, dataArb, (params, data) => {
        expect(cutsOf(kernel, params, data).cuts).toEqual(referenceCuts(params, data));
      }),
      { numRuns: 100 },
    );
  });

  it('gives the same cuts and state however the body is split', () => {
    fc.assert(
      fc.property(paramsArb, dataArb, splitsArb, (params, data, splits) => {
        const whole = cutsOf(kernel, params, data);
        expect(cutsOf(kernel, params, data, splits)).toEqual(whole);
      }),
      { numRuns: 100 },
    );
  });

  it('gives the same cuts fed one byte at a time', () => {
    const params = { min: 64, avg: 256, max: 1024 };
    const data = xorshiftBytes(20_000, 99);
    const everyByte = Array.from({ length: data.length }, (_, i) => i);
    expect(cutsOf(kernel, params, data, everyByte)).toEqual(cutsOf(kernel, params, data));
  });

  it('keeps every chunk but the last within [min, max]', () => {
    fc.assert(
      fc.property(paramsArb, dataArb, (params, data) => {
        const lengths = lengthsOf(cutsOf(kernel, params, data).cuts, data.length);
        const last = lengths.pop();
        for (const n of lengths) {
          expect(n).toBeGreaterThanOrEqual(params.min);
          expect(n).toBeLessThanOrEqual(params.max);
        }
        if (last !== undefined) expect(last).toBeLessThanOrEqual(params.max);
      }),
      { numRuns: 100 },
    );
  });

  it('reports a cut at the very end of a piece and restarts the state', () => {
    const params = { min: 64, avg: 128, max: 256 };
    const cuts: number[] = [];
    const state = kernel.findCuts(params, { pos: 0, hash: 0 }, new Uint8Array(256), cuts);
    expect(cuts).toEqual([256]);
    expect(state).toEqual({ pos: 0, hash: 0 });
  });

  it('handles an empty piece', () => {
    const cuts: number[] = [];
    const state: CutState = { pos: 100, hash: 0 };
    expect(
      kernel.findCuts({ min: 64, avg: 128, max: 256 }, state, new Uint8Array(0), cuts),
    ).toEqual({ pos: 100, hash: 0 });
    expect(cuts).toEqual([]);
  });

  it('rejects a state that does not fit the params', () => {
    const params = { min: 64, avg: 128, max: 256 };
    const bytes = new Uint8Array(10);
    for (const state of [
      { pos: 256, hash: 0 },
      { pos: -1, hash: 0 },
      { pos: 1.5, hash: 0 },
      { pos: 0, hash: 2 ** 32 },
    ]) {
      expect(() => kernel.findCuts(params, state, bytes, [])).toThrow(
        expect.objectContaining({ code: 'ERR_USAGE' }),
      );
    }
  });
});

describe('JS and WASM kernels', () => {
  it('agree on cuts and states for random params, bodies and splits', () => {
    fc.assert(
      fc.property(paramsArb, dataArb, splitsArb, (params, data, splits) => {
        const js = cutsOf(jsKernel, params, data, splits);
        expect(cutsOf(wasm, params, data, splits)).toEqual(js);
        expect(cutsOf(wasmSmallWindow, params, data, splits)).toEqual(js);
      }),
      { numRuns: 200 },
    );
  });

  it('agree with large params on a body larger than the WASM window', () => {
    const params = { min: 1 << 20, avg: 1 << 22, max: 1 << 24 };
    const data = xorshiftBytes(3 << 20, 5);
    data.fill(0, 2 << 20);
    const js = cutsOf(jsKernel, params, data);
    expect(cutsOf(wasm, params, data)).toEqual(js);
    expect(js.cuts).toEqual(referenceCuts(params, data));
  });
});
