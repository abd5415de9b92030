import { afterEach, describe, expect, it, vi } from 'vitest';
import { jsKernel } from '../../src/cdc/js-kernel.js';
import { loadCdcKernel } from '../../src/cdc/kernel.js';
import { DEFAULT_CHUNKER_PARAMS } from '../../src/cdc/params.js';
import { WasmUnavailableError } from '../../src/errors.js';
import { cutsOf, wasmBytes, xorshiftBytes } from './helpers.js';

/** A valid module with no exports. */
const EMPTY_MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
const GARBAGE = new Uint8Array([1, 2, 3, 4]);

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.resetModules();
});

describe('loadCdcKernel', () => {
  it('gives the JS kernel for wasm: false', async () => {
    expect(await loadCdcKernel({ wasm: false })).toBe(jsKernel);
  });

  it('loads the embedded WASM kernel by default, once', async () => {
    const a = await loadCdcKernel();
    expect(a.name).toBe('wasm');
    expect(await loadCdcKernel({ fallback: false })).toBe(a);
  });

  it('instantiates a precompiled WebAssembly.Module', async () => {
    const module = new WebAssembly.Module(wasmBytes());
    const kernel = await loadCdcKernel({ wasm: module, fallback: false });
    expect(kernel.name).toBe('wasm');
    const data = xorshiftBytes(1 << 20, 3);
    expect(cutsOf(kernel, DEFAULT_CHUNKER_PARAMS, data)).toEqual(
      cutsOf(jsKernel, DEFAULT_CHUNKER_PARAMS, data),
    );
  });

  it('compiles bytes given as a Uint8Array or an ArrayBuffer', async () => {
    const bytes = wasmBytes();
    expect((await loadCdcKernel({ wasm: bytes, fallback: false })).name).toBe('wasm');
    expect((await loadCdcKernel({ wasm: bytes.slice().buffer, fallback: false })).name).toBe(
      'wasm',
    );
  });

  it.each([
    ['a module without the kernel exports', EMPTY_MODULE],
    ['bytes that are not WebAssembly', GARBAGE],
    ['a module without the kernel exports, precompiled', new WebAssembly.Module(EMPTY_MODULE)],
  ])('rejects %s with WasmUnavailableError when fallback is false', async (_name, wasm) => {
    const error = await rejection(loadCdcKernel({ wasm, fallback: false }));
    expect(error).toBeInstanceOf(WasmUnavailableError);
    expect((error as WasmUnavailableError).code).toBe('ERR_WASM_UNAVAILABLE');
  });

  it('falls back to the JS kernel for a broken module by default', async () => {
    expect(await loadCdcKernel({ wasm: GARBAGE })).toBe(jsKernel);
    expect(await loadCdcKernel({ wasm: EMPTY_MODULE })).toBe(jsKernel);
  });

  it('falls back where compiling WebAssembly from bytes is forbidden (workerd)', async () => {
    const instantiate = WebAssembly.instantiate;
    vi.spyOn(WebAssembly, 'instantiate').mockImplementation(((source: unknown, imports) => {
      if (source instanceof WebAssembly.Module) return instantiate(source, imports);
      return Promise.reject(
        new WebAssembly.CompileError('Wasm code generation disallowed by embedder'),
      );
    }) as typeof WebAssembly.instantiate);
    // A fresh copy of the loader, so its cache of the embedded kernel starts empty.
    const fresh = await import('../../src/cdc/kernel.js');
    const { jsKernel: freshJs } = await import('../../src/cdc/js-kernel.js');
    const errors = await import('../../src/errors.js');
    expect(await fresh.loadCdcKernel()).toBe(freshJs);
    const error = await rejection(fresh.loadCdcKernel({ fallback: false }));
    expect(error).toBeInstanceOf(errors.WasmUnavailableError);
    expect((error as Error).message).toMatch(/disallowed by embedder/);
    // A precompiled module is still usable there.
    const kernel = await fresh.loadCdcKernel({
      wasm: new WebAssembly.Module(wasmBytes()),
      fallback: false,
    });
    expect(kernel.name).toBe('wasm');
  });
});
