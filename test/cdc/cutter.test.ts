import { describe, expect, it } from 'vitest';
import { createCutter } from '../../src/cdc/cutter.js';
import { jsKernel } from '../../src/cdc/js-kernel.js';
import { ChunkerParamsError } from '../../src/errors.js';
import { cutsOf, wasmKernel, xorshiftBytes } from './helpers.js';

const params = { min: 256, avg: 1024, max: 4096 };

describe('createCutter', () => {
  it('validates params up front', () => {
    expect(() => createCutter(jsKernel, { min: 256, avg: 1000, max: 4096 })).toThrow(
      ChunkerParamsError,
    );
  });

  it('carries state between pieces and reports offsets within each piece', async () => {
    const data = xorshiftBytes(50_000, 11);
    const expected = cutsOf(jsKernel, params, data);
    for (const kernel of [jsKernel, await wasmKernel()]) {
      const cutter = createCutter(kernel, params);
      const cuts: number[] = [];
      for (let off = 0; off < data.length; off += 777) {
        for (const c of cutter.push(data.subarray(off, off + 777))) cuts.push(off + c);
      }
      expect(cuts).toEqual(expected.cuts);
      expect(cutter.pending).toBe(expected.state.pos);
      expect(cutter.pending).toBe(data.length - cuts.at(-1)!);
    }
  });

  it('starts a new body on reset', () => {
    const a = xorshiftBytes(3000, 12);
    const b = xorshiftBytes(30_000, 13);
    const cutter = createCutter(jsKernel, params);
    cutter.push(a);
    expect(cutter.pending).toBeGreaterThan(0);
    cutter.reset();
    expect(cutter.pending).toBe(0);
    expect(cutter.push(b)).toEqual(cutsOf(jsKernel, params, b).cuts);
  });
});
