/**
 * Loading this library's WebAssembly modules (the CDC kernel, the LZ4 module, XXH64's stripe
 * loop): from the base64 embedded at build time, from a precompiled `WebAssembly.Module`
 * (runtimes such as workerd forbid compiling from bytes), or from caller-supplied bytes. No
 * module imports anything.
 *
 * @module
 */

import { WasmUnavailableError } from './errors.js';

/** Where a module comes from: precompiled, or bytes to compile. */
export type WasmSource = WebAssembly.Module | ArrayBuffer | ArrayBufferView;

/**
 * Instantiates a module with no imports.
 * @param source - a precompiled module (only instantiated) or its bytes (compiled first).
 * @param what - the module's name, for the error.
 * @returns the instance.
 * @throws {@link WasmUnavailableError} (as a rejection) when the runtime refuses.
 */
export async function instantiateWasm(
  source: WasmSource,
  what: string,
): Promise<WebAssembly.Instance> {
  try {
    return source instanceof WebAssembly.Module
      ? await WebAssembly.instantiate(source, {})
      : (await WebAssembly.instantiate(source as BufferSource, {})).instance;
  } catch (cause) {
    throw unavailable(what, cause);
  }
}

/**
 * Instantiates a precompiled module with no imports, synchronously (as every runtime allows,
 * workerd included).
 * @param module - the module.
 * @param what - the module's name, for the error.
 * @returns the instance.
 * @throws {@link WasmUnavailableError} when the runtime refuses.
 */
export function instantiateModuleSync(
  module: WebAssembly.Module,
  what: string,
): WebAssembly.Instance {
  try {
    return new WebAssembly.Instance(module, {});
  } catch (cause) {
    throw unavailable(what, cause);
  }
}

function unavailable(what: string, cause: unknown): WasmUnavailableError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new WasmUnavailableError(`cannot instantiate the ${what}: ${reason}`, { cause });
}

/**
 * Decodes an embedded module's base64.
 * @param base64 - the text.
 * @returns the bytes.
 */
export function decodeBase64(base64: string): Uint8Array<ArrayBuffer> {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Compiles an embedded module synchronously, where the runtime allows it (Node does; browsers
 * refuse large modules on the main thread, workerd refuses any).
 * @param base64 - the module's embedded base64.
 * @returns the module.
 * @throws whatever the runtime throws when it refuses (a `CompileError`, or a
 * `ReferenceError` where there is no `WebAssembly` at all, as under `node --jitless`).
 */
export function compileEmbeddedSync(base64: string): WebAssembly.Module {
  return new WebAssembly.Module(decodeBase64(base64));
}

/**
 * Compiles and instantiates an embedded module synchronously ({@link compileEmbeddedSync}).
 * @param base64 - the module's embedded base64.
 * @returns the instance.
 * @throws as {@link compileEmbeddedSync} does.
 */
export function instantiateEmbeddedSync(base64: string): WebAssembly.Instance {
  return new WebAssembly.Instance(compileEmbeddedSync(base64), {});
}
