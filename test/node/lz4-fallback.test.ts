/**
 * LZ4 where the WebAssembly module cannot be loaded, and the module's reach: reads decode LZ4
 * in JS (a good chunk file is never set aside as corrupt because the module failed), writes
 * deflate, the CLI works under `node --jitless`; and reads that do not know a chunk's size
 * still go through the module.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { embeddedLz4KernelSync } from '../../src/compress/lz4-codec.js';
import { CLI, makeTar, requireDist, runProcess } from '../cli/run.js';
import { sameBytes } from '../helpers/bytes.js';
import { packRecords } from '../helpers/packs.js';
import { sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';

// Counts the JS decoder's calls.
vi.mock('../../src/compress/lz4-block.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../../src/compress/lz4-block.js')>();
  return { ...m, decodeLz4Block: vi.fn(m.decodeLz4Block) };
});
const { decodeLz4Block } = await import('../../src/compress/lz4-block.js');

const text = new TextEncoder().encode(
  Array.from({ length: 3000 }, (_, i) => `key${i % 61} = value ${(i * 7) % 113}\n`).join(''),
);
const chunk = text.subarray(0, 65_536);
const packed = embeddedLz4KernelSync().compress(chunk)!;
const work = mkdtempSync(join(tmpdir(), 'layerdiff-lz4-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

afterEach(() => {
  vi.restoreAllMocks();
  vi.mocked(decodeLz4Block).mockClear();
});

/** Makes compiling WebAssembly fail, as an embedder that forbids it does. */
function forbidWasm() {
  vi.spyOn(WebAssembly, 'Module').mockImplementation((() => {
    throw new WebAssembly.CompileError('Wasm code generation disallowed by embedder');
  }) as never);
}

describe('LZ4 without the WebAssembly module', () => {
  it('a deflate codec still reads LZ4 chunks, in JS; an LZ4 codec deflates instead', async () => {
    vi.resetModules(); // a fresh process-wide kernel
    const { nodeChunkCodec } = await import('../../src/node/chunk-codec.js');
    const { decodeLz4Block } = await import('../../src/compress/lz4-block.js');
    forbidWasm();
    const out = await nodeChunkCodec().decode({ coding: 'lz4-block', bytes: packed }, 65_536);
    expect(sameBytes(out, chunk)).toBe(true);
    expect(decodeLz4Block).toHaveBeenCalled();
    const lz4 = nodeChunkCodec({ algorithm: 'lz4' });
    expect((await lz4.encode(chunk)).coding).toBe('deflate-raw');
  });

  it('FsStore keeps a good .l file when the decoder fails for reasons of its own', async () => {
    vi.resetModules();
    const { FsStore } = await import('../../src/node/fs-store.js');
    const root = mkdtempSync(join(work, 'store-'));
    const hex = createHash('sha256').update(chunk).digest('hex');
    mkdirSync(join(root, 'sha256', hex.slice(0, 2)), { recursive: true });
    const file = join(root, 'sha256', hex.slice(0, 2), `${hex}.l`);
    writeFileSync(file, packed);
    const broken = {
      encode: async (bytes: Uint8Array) => ({ coding: 'identity' as const, bytes }),
      decode: async () => {
        throw new TypeError('decoder bug');
      },
    };
    const store = await FsStore.open(root, { codec: broken });
    await expect(store.get(`sha256:${hex}`)).rejects.toThrow('decoder bug');
    expect(existsSync(file)).toBe(true);
    // Without the module, the store's own reader decodes it in JS.
    forbidWasm();
    const plain = await FsStore.open(root, { codec: false });
    expect(sameBytes(await plain.get(`sha256:${hex}`), chunk)).toBe(true);
  });

  it.runIf(toolsAvailable('tar'))('the CLI converts and cats under node --jitless', async () => {
    requireDist();
    const dir = mkdtempSync(join(work, 'jitless-'));
    const tar = makeTar(dir, 't', { 'etc/words.txt': text, 'bin/blob': chunk });
    const store = join(dir, 'store');
    const cli = (node: string[], ...args: string[]) =>
      runProcess(process.execPath, [...node, CLI, ...args]);
    // A store written with the module (LZ4), read and extended without it.
    expect(
      (await cli([], 'convert', tar, '--store', store, '--out', join(dir, 'a.idx'))).code,
    ).toBe(0);
    expect(new Set(packRecords(store).map((r) => r.entry.coding)).has('lz4-block')).toBe(true);
    const out = join(dir, 'a.tar');
    const cat = await cli(['--jitless'], 'cat', join(dir, 'a.idx'), '--store', store, '--out', out);
    expect(cat.code).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(readFileSync(tar)));
    const other = join(dir, 'other');
    const c = await cli(
      ['--jitless'],
      'convert',
      tar,
      '--store',
      other,
      '--out',
      join(dir, 'b.idx'),
    );
    expect(c.code).toBe(0);
    expect(new Set(packRecords(other).map((r) => r.entry.coding)).has('deflate-raw')).toBe(true);
    // zstd input: without WebAssembly, fzstd decodes it (and XXH64 checks it in JS).
    if (toolsAvailable('zstd')) {
      execFileSync('zstd', ['-q', '-f', '-3', tar, '-o', `${tar}.zst`]);
      const z = await cli(
        ['--jitless'],
        'convert',
        `${tar}.zst`,
        '--store',
        other,
        '--out',
        join(dir, 'c.idx'),
        '--json',
      );
      expect(z.code).toBe(0);
      expect(JSON.parse(z.stdout.toString()).diffId).toBe(sha256(readFileSync(tar)));
    }
  });
});

describe('the LZ4 module', () => {
  it('decodes a 64 KiB chunk whose size the reader does not know (FsStore passes none)', async () => {
    vi.resetModules(); // the kernel of an earlier test may be the failed one
    const { nodeChunkCodec } = await import('../../src/node/chunk-codec.js');
    const { decodeLz4Block } = await import('../../src/compress/lz4-block.js');
    const out = await nodeChunkCodec({ algorithm: 'lz4' }).decode({
      coding: 'lz4-block',
      bytes: packed,
    });
    expect(sameBytes(out, chunk)).toBe(true);
    expect(decodeLz4Block).not.toHaveBeenCalled();
  });
});
