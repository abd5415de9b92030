import { describe, expect, it } from 'vitest';
import { jsKernel } from '../../src/cdc/js-kernel.js';
import {
  DEFAULT_CHUNKER_PARAMS,
  MAX_CHUNK_MAX,
  MIN_CHUNK_MIN,
  validateChunkerParams,
} from '../../src/cdc/params.js';
import { ChunkerParamsError, LayerdiffError } from '../../src/errors.js';
import { wasmKernel } from './helpers.js';

const invalid: [string, unknown][] = [
  ['not an object', 65536],
  ['null', null],
  ['a missing field', { min: 16384, avg: 65536 }],
  ['a string field', { min: '16384', avg: 65536, max: 262144 }],
  ['a fractional field', { min: 16384.5, avg: 65536, max: 262144 }],
  ['NaN', { min: Number.NaN, avg: 65536, max: 262144 }],
  ['min below 64', { min: 63, avg: 128, max: 256 }],
  ['avg not a power of two', { min: 16384, avg: 65535, max: 262144 }],
  ['avg zero', { min: 64, avg: 0, max: 256 }],
  ['min equal to avg', { min: 65536, avg: 65536, max: 262144 }],
  ['min above avg', { min: 131072, avg: 65536, max: 262144 }],
  ['max equal to avg', { min: 16384, avg: 65536, max: 65536 }],
  ['max above 16 MiB', { min: 1 << 20, avg: 1 << 22, max: (1 << 24) + 1 }],
];

describe('validateChunkerParams', () => {
  it('accepts the defaults and the extremes', () => {
    expect(validateChunkerParams(DEFAULT_CHUNKER_PARAMS)).toBe(DEFAULT_CHUNKER_PARAMS);
    expect(validateChunkerParams({ min: MIN_CHUNK_MIN, avg: 128, max: 129 })).toBeTruthy();
    expect(
      validateChunkerParams({ min: (1 << 23) - 1, avg: 1 << 23, max: MAX_CHUNK_MAX }),
    ).toBeTruthy();
  });

  it.each(invalid)('rejects %s with ChunkerParamsError', (_name, params) => {
    let error: unknown;
    try {
      validateChunkerParams(params);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ChunkerParamsError);
    expect(error).toBeInstanceOf(LayerdiffError);
    expect((error as ChunkerParamsError).code).toBe('ERR_CHUNKER_PARAMS');
    expect((error as ChunkerParamsError).name).toBe('ChunkerParamsError');
  });

  it('is applied by both kernels', async () => {
    const bad = { min: 16384, avg: 65535, max: 262144 };
    for (const kernel of [jsKernel, await wasmKernel()]) {
      expect(() => kernel.findCuts(bad, { pos: 0, hash: 0 }, new Uint8Array(1), [])).toThrow(
        ChunkerParamsError,
      );
    }
  });
});
