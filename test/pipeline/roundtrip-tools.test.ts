/**
 * Byte-identical round trips (convert, then reassemble) of archives written at test time by
 * the real tools: GNU tar, bsdtar, Python's tarfile (via the tar fixtures), npm pack, and
 * umoci (Go's archive/tar, the writer of most OCI layers), plain and gzip/zstd compressed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import { lcgBytes } from '../helpers/bytes.js';
import { convertBytes, reassembleBytes, indexRecords as records } from '../helpers/layers.js';
import { collect, sha256, streamOf } from '../helpers/streams.js';
import { isRoot, toolsAvailable } from '../helpers/tools.js';
import { buildFixtures, type Fixture } from '../tar/fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-rt-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function compress(file: string, tool: 'gzip' | 'zstd'): Uint8Array {
  return new Uint8Array(
    execFileSync(tool, tool === 'zstd' ? ['-q', '-c', '-3', file] : ['-c', '-n', file], {
      maxBuffer: 1 << 30,
    }),
  );
}

/** Converts, checks the diff_id, rebuilds, checks the bytes; returns the index. */
async function roundTrip(tar: Uint8Array, blob: Uint8Array = tar, sizes?: number | number[]) {
  const store = new MemoryStore();
  const { index, result } = await convertBytes(blob, store, { sizes });
  expect(result.diffId).toBe(sha256(tar));
  expect(result.tarSize).toBe(tar.length);
  expect(result.bytesIn).toBe(blob.length);
  if (blob !== tar) expect(result.blobDigest).toBe(sha256(blob));
  const rebuilt = await reassembleBytes(index, store);
  expect(rebuilt.length).toBe(tar.length);
  expect(sha256(rebuilt)).toBe(sha256(tar));
  return { index, result, store };
}

describe('archives written by GNU tar, bsdtar and Python tarfile', () => {
  let fixtures: Fixture[] = [];
  let cleanup = () => {};
  beforeAll(() => {
    if (!toolsAvailable('tar', 'bsdtar', 'python3', 'gzip', 'zstd')) return;
    ({ fixtures, cleanup } = buildFixtures());
  });
  afterAll(() => cleanup());

  it('round-trips every fixture exactly, uncompressed, gzip and zstd', async () => {
    if (!toolsAvailable('tar', 'bsdtar', 'python3', 'gzip', 'zstd')) return;
    expect(fixtures.length).toBeGreaterThan(25);
    for (const f of fixtures) {
      await roundTrip(f.bytes, f.bytes, [1 + (f.bytes.length % 977), 4096, 70_000]);
      await roundTrip(f.bytes, compress(f.file, 'gzip'));
      await roundTrip(f.bytes, compress(f.file, 'zstd'));
    }
  });
});

describe('a multi-chunk layer with sparse, long and duplicate content', () => {
  it('round-trips and dedups repeated files', async () => {
    if (!toolsAvailable('tar', 'gzip', 'zstd')) return;
    const dir = join(work, 'multi');
    mkdirSync(join(dir, 'a'), { recursive: true });
    const big = lcgBytes(3_000_000, 12345);
    writeFileSync(join(dir, 'a', 'big1'), big);
    writeFileSync(join(dir, 'a', 'big2'), big);
    writeFileSync(join(dir, 'zeros'), new Uint8Array(1_000_000));
    const tarFile = join(work, 'multi.tar');
    execFileSync('tar', ['--sort=name', '--format=posix', '-cf', tarFile, '-C', dir, '.']);
    const tar = new Uint8Array(readFileSync(tarFile));
    const { result, store } = await roundTrip(tar);
    // big2 repeats big1 chunk for chunk; only one copy is stored.
    expect(result.chunks).toBeGreaterThan(2 * 11);
    // Stored: big once, plus at most two distinct chunks of zeros (full-size and the remainder).
    expect(store.bytes).toBeLessThan(big.length + 2 * 262_144 + 10_000);
    await roundTrip(tar, compress(tarFile, 'gzip'));
    await roundTrip(tar, compress(tarFile, 'zstd'));
  });
});

describe('npm pack tarballs', () => {
  it('round-trips a package made by npm pack', async () => {
    const dir = join(work, 'pkg');
    mkdirSync(join(dir, 'lib'), { recursive: true });
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'ld-fixture', version: '1.0.0', files: ['lib'] }),
    );
    writeFileSync(join(dir, 'lib', 'index.js'), 'module.exports = 42;\n'.repeat(500));
    writeFileSync(join(dir, 'README.md'), '# fixture\n');
    const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: dir })
      .toString()
      .trim()
      .split('\n')
      .pop()!;
    const tgz = new Uint8Array(readFileSync(join(work, out)));
    const tar = new Uint8Array(execFileSync('gzip', ['-dc', join(work, out)]));
    const { result } = await roundTrip(tar, tgz);
    expect(result.compression).toBe('gzip');
    expect(result.entries).toBeGreaterThanOrEqual(3);
  });
});

describe('Go-written OCI layers (umoci)', () => {
  it('round-trips layers with whiteouts and records the deletions', async () => {
    if (!toolsAvailable('umoci', 'gzip') || !isRoot) return;
    const layout = join(work, 'oci');
    const bundle = join(work, 'bundle');
    const umoci = (...args: string[]) => execFileSync('umoci', args, { stdio: 'pipe' });
    umoci('init', '--layout', layout);
    umoci('new', '--image', `${layout}:t`);
    umoci('unpack', '--image', `${layout}:t`, bundle);
    const rootfs = join(bundle, 'rootfs');
    mkdirSync(join(rootfs, 'etc', 'app'), { recursive: true });
    mkdirSync(join(rootfs, 'usr', 'share', 'doc', 'pkg'), { recursive: true });
    writeFileSync(join(rootfs, 'etc', 'app', 'config'), 'key=value\n');
    writeFileSync(join(rootfs, 'etc', 'app', 'ünïcode-Főtanúsítvány'), 'cert\n');
    writeFileSync(join(rootfs, 'usr', 'share', 'doc', 'pkg', 'README'), 'doc\n'.repeat(1000));
    umoci('repack', '--refresh-bundle', '--image', `${layout}:t`, bundle);
    rmSync(join(rootfs, 'usr', 'share', 'doc'), { recursive: true });
    rmSync(join(rootfs, 'etc', 'app', 'config'));
    writeFileSync(join(rootfs, 'etc', 'app', 'new'), 'new\n');
    umoci('repack', '--image', `${layout}:t`, bundle);

    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    const manifestDigest: string = index.manifests[0].digest;
    const blob = (d: string) => join(layout, 'blobs', 'sha256', d.slice(7));
    const manifest = JSON.parse(readFileSync(blob(manifestDigest), 'utf8'));
    const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8'));
    expect(manifest.layers).toHaveLength(2);
    const deletions: string[] = [];
    for (const [i, layer] of manifest.layers.entries()) {
      const gz = new Uint8Array(readFileSync(blob(layer.digest)));
      const tar = new Uint8Array(execFileSync('gzip', ['-dc', blob(layer.digest)]));
      expect(sha256(tar)).toBe(config.rootfs.diff_ids[i]);
      const { index: idx, result, store } = await roundTrip(tar, gz);
      expect(result.blobDigest).toBe(layer.digest);
      for (const r of await records(idx, store)) if (r.type === 'delete') deletions.push(r.path);
    }
    expect(deletions.sort()).toEqual(['etc/app/config', 'usr/share/doc']);
    expect(readdirSync(layout)).toContain('index.json');
  });
});

describe('index output is independent of the input split and of the kernel', () => {
  it('gives identical index bytes for 1-byte pieces, odd pieces and the JS kernel', async () => {
    if (!toolsAvailable('tar')) return;
    const tar = new Uint8Array(
      execFileSync('tar', [
        '--format=gnu',
        '-cf',
        '-',
        '-C',
        join(process.cwd(), 'src'),
        'tar',
        'cdc',
      ]),
    );
    const a = await convertBytes(tar, new MemoryStore(), { sizes: 65536 });
    const b = await convertBytes(tar, new MemoryStore(), {
      sizes: [1, 7, 513, 4096, 100_000],
      kernel: 'js',
    });
    expect(sha256(b.index)).toBe(sha256(a.index));
    const small = new Uint8Array(
      execFileSync('tar', ['--format=posix', '-cf', '-', '-C', process.cwd(), 'biome.json']),
    );
    const c = await convertBytes(small, new MemoryStore(), { sizes: 1 });
    const d = await convertBytes(small, new MemoryStore(), { sizes: small.length });
    expect(sha256(c.index)).toBe(sha256(d.index));
    expect(await collect(streamOf(a.index))).toEqual(a.index);
  });
});
