import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { webHashProvider } from '../../src/hash/web.js';
import { pseudoRandom } from '../helpers/bytes.js';

const bytes = pseudoRandom(100_000, 9);
const expected = createHash('sha256').update(bytes).digest('hex');
const hex = (d: Uint8Array) => Buffer.from(d).toString('hex');

async function check(name: string): Promise<void> {
  const p = webHashProvider();
  expect(p.name).toBe(name);
  expect(hex(await p.digest(bytes))).toBe(expected);
  const h = await p.create();
  await h.update(bytes.subarray(0, 777));
  await h.update(bytes.subarray(777));
  expect(hex(await h.digest())).toBe(expected);
}

describe('webHashProvider', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('hashes one-shot with crypto.subtle and incrementally with hash-wasm', async () => {
    await check('webcrypto+hash-wasm');
  });

  it('without crypto.subtle (a page that is not a secure context), hash-wasm does both', async () => {
    const real = globalThis.crypto;
    vi.stubGlobal('crypto', { getRandomValues: real.getRandomValues.bind(real) });
    await check('hash-wasm+hash-wasm');
    vi.stubGlobal('crypto', undefined);
    await check('hash-wasm+hash-wasm');
  });
});
