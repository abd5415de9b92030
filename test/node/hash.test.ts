import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeHashOptionsFor, nodeHashProvider } from '../../src/node/hash.js';
import { encodeHeader } from '../../src/tar/header.js';
import { sampleData, zstdCli } from '../compress/frames.js';
import { lcgBytes } from '../helpers/bytes.js';
import { toolsAvailable } from '../helpers/tools.js';

const ref = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const bytes = lcgBytes;

describe('nodeHashProvider', () => {
  const sizes = [0, 1, 4095, 65536, 65537, 262144, 300_000, 1_500_000];

  it.each([true, false])('one-shot digests match node:crypto (worker: %s)', async (worker) => {
    const h = nodeHashProvider({ worker });
    const inputs = sizes.map((n, i) => bytes(n, i + 1));
    // Many at once, as the chunk digester issues them.
    const digests = await Promise.all(inputs.map((b) => h.digest(b)));
    expect(digests.map(hex)).toEqual(inputs.map(ref));
    // The caller's bytes are untouched (the worker hashes a copy).
    expect(ref(inputs[7]!)).toBe(ref(bytes(1_500_000, 8)));
  });

  it.each([true, false])('incremental hashes match for any split (worker: %s)', async (worker) => {
    const p = nodeHashProvider({ worker });
    const data = bytes(3_000_001, 99);
    const splits = [[1_000_000], [1, 7, 262_143, 262_145], [3_000_001]];
    const results = await Promise.all(
      splits.map(async (sizes) => {
        const h = await p.create();
        let at = 0;
        let i = 0;
        while (at < data.length) {
          const n = sizes[i++ % sizes.length]!;
          await h.update(data.subarray(at, at + n));
          at += n;
        }
        return hex(await h.digest());
      }),
    );
    expect(new Set(results)).toEqual(new Set([ref(data)]));
  });

  // Run as `node --input-type=module -e`, which eval'd worker code would follow (and fail).
  it('an abandoned incremental hash does not keep the process alive', () => {
    const entry = join(process.cwd(), 'dist', 'node.js');
    if (!existsSync(entry)) throw new Error('run `npm run build` first: dist/node.js is missing');
    const script = `
      import { nodeHashProvider } from ${JSON.stringify(entry)};
      const p = nodeHashProvider();
      console.log(Buffer.from(await p.digest(new Uint8Array(3))).toString('hex'));
      const h = await p.create();
      await h.update(new Uint8Array(5_000_000));
      console.log('left without digest');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      timeout: 15_000,
      encoding: 'utf8',
    });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(ref(new Uint8Array(3)));
    expect(r.stdout).toContain('left without digest');
  });

  it('an abandoned incremental hash is collected, its buffers with it', () => {
    // 200 hashes left without a digest (a pull whose client went away): each held a batch
    // buffer of 256 KiB for good when the hash could not be collected.
    const entry = join(process.cwd(), 'dist', 'node.js');
    if (!existsSync(entry)) throw new Error('run `npm run build` first: dist/node.js is missing');
    const script = `
      import { nodeHashProvider } from ${JSON.stringify(entry)};
      import { setTimeout as sleep } from 'node:timers/promises';
      const p = nodeHashProvider();
      const settle = async () => { for (let i = 0; i < 4; i++) { gc(); await sleep(50); } };
      await settle();
      const before = process.memoryUsage().arrayBuffers;
      for (let i = 0; i < 200; i++) {
        const h = await p.create();
        await h.update(new Uint8Array(100_000));
      }
      await settle();
      console.log(JSON.stringify({ grew: process.memoryUsage().arrayBuffers - before }));`;
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
      timeout: 30_000,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const { grew } = JSON.parse(r.stdout);
    // 200 x 256 KiB = 50 MiB when they leak; a few spare buffers when they do not.
    expect(grew).toBeLessThan(8 * 1024 * 1024);
  });
});

describe('worker hashes', () => {
  it('keep about 1 MiB of copies in flight, however much one update adds', async () => {
    const h = await nodeHashProvider().create();
    const data = bytes(64 * 1024 * 1024, 11);
    const before = process.memoryUsage().arrayBuffers;
    await h.update(data);
    // Every copy not yet hashed is still allocated: without the bound, nearly all 64 MiB.
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(grown).toBeLessThan(8 * 1024 * 1024);
    expect(hex(await h.digest())).toBe(ref(data));
  });

  it('stay correct when updates are not awaited one by one', async () => {
    const h = await nodeHashProvider().create();
    const a = bytes(300_000, 5);
    const b = bytes(10, 6);
    const c = bytes(700_000, 7);
    await Promise.all([h.update(a), h.update(b), h.update(c)]);
    expect(hex(await h.digest())).toBe(ref(Buffer.concat([a, b, c])));
  });
});

describe('nodeHashOptionsFor', () => {
  it.runIf(toolsAvailable('zstd', 'gzip'))('hashes zstd layers on the calling thread', () => {
    const data = sampleData(20_000);
    const zstd = (level: string) => nodeHashOptionsFor(zstdCli(data, [level]).subarray(0, 512));
    // Whatever the window: 512 KiB, 2 MiB, 8 MiB.
    expect([zstd('-1'), zstd('-3'), zstd('-19')]).toEqual(Array(3).fill({ worker: false }));
    // A plain tar, gzip: the worker.
    const tar = encodeHeader({ path: 'a', size: 0, mode: 0o644, mtime: 0 });
    expect(nodeHashOptionsFor(tar)).toEqual({ worker: true });
    const gz = execFileSync('gzip', ['-c'], { input: tar });
    expect(nodeHashOptionsFor(new Uint8Array(gz))).toEqual({ worker: true });
  });
});
