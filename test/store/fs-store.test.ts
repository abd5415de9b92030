import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkDigestError } from '../../src/errors.js';
import { nodeChunkCodec } from '../../src/node/chunk-codec.js';
import {
  CORRUPT_SUFFIX,
  DEFLATE_SUFFIX,
  FsStore,
  LZ4_SUFFIX,
  TMP_SUFFIX,
} from '../../src/node/fs-store.js';
import { listFiles, makeTar, NODE_ENTRY, requireDist, runCli, runProcess } from '../cli/run.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { chunk, expectBytes, storeConformance } from './conformance.js';

const fresh = () => mkdtemp(join(tmpdir(), 'layerdiff-fs-'));
/** Temporary files left anywhere in a store. */
const tempFiles = (root: string) => listFiles(root).filter((f) => f.endsWith(TMP_SUFFIX));

storeConformance('FsStore', async () => {
  const root = await fresh();
  const store = await FsStore.open(root);
  return {
    store,
    cleanup: async () => {
      // Every put, new or not, must leave no temporary file behind.
      expect(tempFiles(root)).toEqual([]);
      await rm(root, { recursive: true, force: true });
    },
  };
});

describe('FsStore', () => {
  let root: string;
  let store: FsStore;
  beforeAll(async () => {
    root = await fresh();
    store = await FsStore.open(root);
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('verifies reads', () => {
    expect(store.verifiesReads).toBe(true);
  });

  it('lays chunks out as sha256/<2 hex>/<64 hex>', async () => {
    const { digest, bytes } = chunk(1234, 1);
    await store.put(digest, bytes);
    const hex = digest.slice(7);
    expect(store.pathOf(digest)).toBe(join(root, 'sha256', hex.slice(0, 2), hex));
    expect(new Uint8Array(await readFile(store.pathOf(digest)))).toEqual(bytes);
  });

  it('throws ChunkDigestError for a chunk file corrupted on disk', async () => {
    const { digest, bytes } = chunk(5000, 2);
    await store.put(digest, bytes);
    const bad = bytes.slice();
    bad[2500]! ^= 1;
    await writeFile(store.pathOf(digest), bad);
    const err = await store.get(digest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChunkDigestError);
    expect(err).toMatchObject({ code: 'ERR_CHUNK_DIGEST', digest });
    expect((err as Error).message).toContain(digest);
  });

  it('throws ChunkDigestError for a truncated chunk file', async () => {
    const { digest, bytes } = chunk(5000, 3);
    await store.put(digest, bytes);
    await truncate(store.pathOf(digest), 4096);
    await expect(store.get(digest)).rejects.toMatchObject({ code: 'ERR_CHUNK_DIGEST', digest });
    // The bad file was set aside; put writes the chunk again.
    expect(await store.put(digest, bytes)).toBe(true);
    await truncate(store.pathOf(digest), 0);
    await expect(store.get(digest)).rejects.toMatchObject({ code: 'ERR_CHUNK_DIGEST', digest });
  });

  it('throws ChunkDigestError, without hanging, for a FIFO in place of a chunk file', async () => {
    const { digest, bytes } = chunk(3000, 31);
    await store.put(digest, bytes);
    const path = store.pathOf(digest);
    await unlink(path);
    execFileSync('mkfifo', [path]);
    // A blocking open of a FIFO waits for a writer that never comes.
    await expect(store.get(digest)).rejects.toMatchObject({ code: 'ERR_CHUNK_DIGEST', digest });
    expect(await store.put(digest, bytes)).toBe(true);
    expectBytes(await store.get(digest), bytes);
  });

  it('reports a chunk file deleted from disk as not found', async () => {
    const { digest, bytes } = chunk(100, 4);
    await store.put(digest, bytes);
    await unlink(store.pathOf(digest));
    expect(await store.has(digest)).toBe(false);
    await expect(store.get(digest)).rejects.toMatchObject({ code: 'ERR_CHUNK_NOT_FOUND', digest });
  });

  it('writes nothing anywhere for a traversal digest', async () => {
    const before = listFiles(root);
    const name = `escaped-${process.pid}-${Date.now()}`;
    for (const digest of [`sha256:../../${name}`, `sha256:../${name}`, `sha256:${name}`]) {
      await expect(store.put(digest, new Uint8Array(1))).rejects.toMatchObject({
        code: 'ERR_USAGE',
      });
    }
    expect(listFiles(root)).toEqual(before);
    for (const dir of [root, join(root, '..'), join(root, '../..'), join(root, 'sha256')]) {
      expect(existsSync(join(dir, name))).toBe(false);
    }
  });

  it('leaves no temp file when linking into place fails', async () => {
    const r = await fresh();
    try {
      const s = await FsStore.open(r);
      const a = chunk(100, 5);
      await s.put(a.digest, a.bytes);
      // Find a second chunk in the same fan-out directory, then make that directory a file.
      let b = chunk(100, 6);
      for (let seed = 7; b.digest.slice(7, 9) !== a.digest.slice(7, 9); seed++) {
        b = chunk(100, seed);
      }
      const dir = join(r, 'sha256', a.digest.slice(7, 9));
      await rm(dir, { recursive: true });
      await writeFile(dir, 'not a directory');
      await expect(s.put(b.digest, b.bytes)).rejects.toMatchObject({
        code: 'ERR_STORE',
        cause: { code: 'ENOTDIR' },
      });
      expect(tempFiles(r)).toEqual([]);
    } finally {
      await rm(r, { recursive: true, force: true });
    }
  });

  it('leaves no temp file when writing the chunk fails (file size limit)', async () => {
    requireDist();
    const r = await fresh();
    try {
      // Node ignores SIGXFSZ, so a write past `ulimit -f` fails with EFBIG part-way through.
      const script = `
        import { FsStore } from ${JSON.stringify(NODE_ENTRY)};
        import { createHash, randomBytes } from 'node:crypto';
        const store = await FsStore.open(${JSON.stringify(r)});
        const bytes = new Uint8Array(randomBytes(1 << 20)); // incompressible: stored as it is
        const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
        const code = await store.put(digest, bytes).then(() => 'stored', (e) => e.code + ' ' + e.cause?.code);
        process.stdout.write(String(code) + ' ' + (await store.has(digest)));
      `;
      const { code, stdout, stderr } = await runProcess('sh', [
        '-c',
        'ulimit -f 64 && exec "$0" --input-type=module -e "$1"',
        process.execPath,
        script,
      ]);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout.toString()).toBe('ERR_STORE EFBIG false');
      expect(tempFiles(r)).toEqual([]);
    } finally {
      await rm(r, { recursive: true, force: true });
    }
  });
});

describe.runIf(toolsAvailable('tar'))('FsStore shared by two processes', () => {
  let dir: string;
  beforeAll(async () => {
    requireDist();
    dir = await fresh();
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('two concurrent `convert`s into one store both succeed and rebuild exactly', async () => {
    // Two layers sharing most of their content, so both processes put the same chunks at once.
    const shared = pseudoRandom(3 << 20, 21);
    const a = makeTar(dir, 'a', {
      'usr/lib/shared.bin': shared,
      'etc/a.conf': pseudoRandom(70_000, 22),
    });
    const b = makeTar(dir, 'b', {
      'usr/lib/shared.bin': shared,
      'etc/b.conf': pseudoRandom(90_000, 23),
      'opt/b/data': pseudoRandom(400_000, 24),
    });
    const store = join(dir, 'store');
    const [ra, rb] = await Promise.all([
      runCli([
        'convert',
        a,
        ...['--store', store, '--store-layout', 'loose'],
        '--out',
        join(dir, 'a.idx'),
        '--json',
      ]),
      runCli([
        'convert',
        b,
        ...['--store', store, '--store-layout', 'loose'],
        '--out',
        join(dir, 'b.idx'),
        '--json',
      ]),
    ]);
    expect(ra.stderr).toBe('');
    expect(rb.stderr).toBe('');
    expect([ra.code, rb.code]).toEqual([0, 0]);
    const ja = JSON.parse(ra.stdout.toString());
    const jb = JSON.parse(rb.stdout.toString());
    // Each shared chunk was stored by exactly one of them.
    expect(ja.newChunks + jb.newChunks).toBeLessThan(ja.chunks + jb.chunks);
    expect(tempFiles(store)).toEqual([]);

    for (const [layer, index] of [
      [a, 'a.idx'],
      [b, 'b.idx'],
    ] as const) {
      const out = join(dir, `${index}.tar`);
      const cat = await runCli(['cat', join(dir, index), '--store', store, '--out', out]);
      expect(cat.stderr).toBe('');
      expect(cat.code).toBe(0);
      expect(sha256(await readFile(out))).toBe(sha256(await readFile(layer)));
    }
  });
});

/** A 65 KB LZ4 block that would decode to 16 MiB of one byte. */
const lz4Bomb = Buffer.concat([
  Buffer.of(0x1f, 0x61, 1, 0),
  Buffer.alloc(65_793, 255),
  Buffer.of(0, 0),
]);

describe.each([
  [
    'deflate',
    { codec: nodeChunkCodec({ level: 1 }) },
    DEFLATE_SUFFIX,
    deflateRawSync(Buffer.alloc(1 << 30)),
  ],
  ['LZ4 (the default)', {}, LZ4_SUFFIX, lz4Bomb],
] as const)('FsStore chunk compression, %s', (_, options, suffix, bomb) => {
  const text = (n: number, seed: number) => {
    const words = ['layer', 'chunk', 'store', 'tar', 'index', 'root', 'diff', `w${seed}`];
    let s = '';
    for (let i = 0; s.length < n; i++) s += `${words[(i * 7 + seed) % words.length]} `;
    const bytes = new TextEncoder().encode(s.slice(0, n));
    return { digest: sha256(bytes), bytes };
  };
  let root: string;
  beforeAll(async () => {
    root = await fresh();
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('keeps compressible chunks compressed (<hex> and a suffix), random ones as they are', async () => {
    const store = await FsStore.open(join(root, 'a'), options);
    const t = text(60_000, 1);
    const r = chunk(60_000, 9);
    expect(await store.put(t.digest, t.bytes)).toBe(true);
    expect(await store.put(r.digest, r.bytes)).toBe(true);
    const packed = store.pathOf(t.digest) + suffix;
    expect(existsSync(packed)).toBe(true);
    expect(existsSync(store.pathOf(t.digest))).toBe(false);
    expect((await readFile(packed)).length).toBeLessThan(t.bytes.length / 4);
    expect(existsSync(store.pathOf(r.digest))).toBe(true);
    expect(await store.has(t.digest)).toBe(true);
    expect(await store.put(t.digest, t.bytes)).toBe(false);
    expect(new Uint8Array(await store.get(t.digest))).toEqual(t.bytes);
    expect(new Uint8Array(await store.get(r.digest))).toEqual(r.bytes);
    // A store that does not compress reads what one that does wrote, and the reverse.
    const plain = await FsStore.open(join(root, 'a'), { codec: false });
    expect(new Uint8Array(await plain.get(t.digest))).toEqual(t.bytes);
    const t2 = text(10_000, 2);
    await plain.put(t2.digest, t2.bytes);
    expect(existsSync(plain.pathOf(t2.digest))).toBe(true);
    expect(new Uint8Array(await store.get(t2.digest))).toEqual(t2.bytes);
  });

  it('a corrupt or bomb-like compressed file: ChunkDigestError, bounded', async () => {
    const store = await FsStore.open(join(root, 'b'), options);
    const t = text(50_000, 3);
    await store.put(t.digest, t.bytes);
    const file = store.pathOf(t.digest) + suffix;
    const good = await readFile(file);
    for (const bad of [
      good.subarray(0, good.length >> 1),
      Buffer.from(good.map((b, i) => (i === 40 ? b ^ 0x55 : b))),
      // Decodes to more than 16 MiB: refused at 16 MiB of output.
      bomb,
    ]) {
      await writeFile(file, bad);
      const err = await store.get(t.digest).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChunkDigestError);
      expect(err).toMatchObject({ digest: t.digest });
    }
  });

  it('a corrupt file does not hide a good one, and is set aside so that put repairs it', async () => {
    const store = await FsStore.open(join(root, 'c'), options);
    const t = text(30_000, 5);
    await store.put(t.digest, t.bytes);
    const deflated = store.pathOf(t.digest) + suffix;
    // A good raw copy beside a corrupt deflated one: the good one is returned.
    await writeFile(store.pathOf(t.digest), t.bytes);
    await writeFile(deflated, Uint8Array.of(1, 2, 3));
    expect(new Uint8Array(await store.get(t.digest))).toEqual(t.bytes);
    expect(existsSync(deflated)).toBe(false);
    expect(existsSync(deflated + CORRUPT_SUFFIX)).toBe(true);
    // Only a corrupt copy: the read fails, the copy is set aside, and the next put repairs it.
    await unlink(store.pathOf(t.digest));
    await writeFile(deflated, Uint8Array.of(4, 5, 6));
    await expect(store.get(t.digest)).rejects.toBeInstanceOf(ChunkDigestError);
    expect(await store.has(t.digest)).toBe(false);
    expect(await store.put(t.digest, t.bytes)).toBe(true);
    expect(new Uint8Array(await store.get(t.digest))).toEqual(t.bytes);
  });
});
