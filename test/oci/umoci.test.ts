/**
 * An image built by umoci (Go's archive/tar, gzip by klauspost/pgzip, with whiteouts for
 * deletions): converted to the chunked form and restored. pgzip's output is reproduced (the
 * pgzip engine), so the layout comes back byte for byte; without that engine the layers come
 * back uncompressed under a new manifest, and the report says so, the config and every
 * diff_id kept, and umoci reads the restored layout, whose rootfs is the original's. Also:
 * `oci flatten` against `flatten`, and dedup of a shared base layer across two tags.
 */
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsStore } from '../../src/node/fs-store.js';
import { convertLayout, flattenImage } from '../../src/node/oci-convert.js';
import { restoreLayout } from '../../src/node/oci-restore.js';
import {
  goDeflateEngine,
  PGZIP_ENGINE,
  PGZIP_UMOCI_ENGINE,
  pakoDeflateEngine,
} from '../../src/oci/gzip-reproduce.js';
import { flatten } from '../../src/pipeline/flatten.js';
import { MemoryStore } from '../../src/store/memory.js';
import { requireDist, runCli } from '../cli/run.js';
import { text } from '../helpers/bytes.js';
import { convertBytes, hash } from '../helpers/layers.js';
import { collect, streamOf } from '../helpers/streams.js';
import { isRoot, toolsAvailable } from '../helpers/tools.js';
import { snapshot } from '../pipeline/flatten-helpers.js';
import { layoutFiles, readJsonBlob } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-oci-umoci-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const umoci = (...args: string[]) => execFileSync('umoci', args, { stdio: 'pipe' });
const layout = join(work, 'oci');
const pick = (files: Record<string, string>, keys: string[]) =>
  Object.fromEntries(keys.map((k) => [k, files[k]]));
const blob = (dir: string, d: string) => readFileSync(join(dir, 'blobs', 'sha256', d.slice(7)));

// umoci without --rootless needs root (CI runs as root).
describe.runIf(isRoot && toolsAvailable('umoci', 'gzip'))('OCI layout built by umoci', () => {
  beforeAll(() => {
    const bundle = join(work, 'bundle');
    umoci('init', '--layout', layout);
    umoci('new', '--image', `${layout}:t`);
    umoci('unpack', '--image', `${layout}:t`, bundle);
    const at = (p: string) => join(bundle, 'rootfs', p);
    for (const d of ['etc/app', 'usr/share/doc', 'bin']) mkdirSync(at(d), { recursive: true });
    writeFileSync(at('etc/app/config'), 'key=value\n');
    writeFileSync(at('usr/share/doc/README'), 'doc\n'.repeat(5000));
    writeFileSync(at('bin/tool'), 'tool v1\n'.repeat(20000), { mode: 0o755 });
    // Over 256 KiB: more than one of the pgzip blocks umoci cuts.
    writeFileSync(at('usr/share/doc/words'), text(600_000, 1));
    symlinkSync('../bin/tool', at('etc/app/tool'));
    umoci('repack', '--refresh-bundle', '--image', `${layout}:t`, bundle);
    umoci('tag', '--image', `${layout}:t`, 'base');
    // Layer 2: deletions (whiteouts) and a change.
    rmSync(at('usr/share/doc'), { recursive: true });
    rmSync(at('etc/app/config'));
    writeFileSync(at('etc/app/new'), 'new\n');
    umoci('repack', '--refresh-bundle', '--image', `${layout}:t`, bundle);
    // Layer 3.
    writeFileSync(at('bin/tool'), 'tool v2\n'.repeat(20000), { mode: 0o755 });
    umoci('repack', '--refresh-bundle', '--image', `${layout}:t`, bundle);
  });

  it('restores the layout byte for byte: pgzip layers are reproduced', async () => {
    const store = await FsStore.open(join(work, 'store-exact'));
    const chunked = join(work, 'chunked-exact');
    const conv = await convertLayout(layout, { store, out: chunked });
    const t = conv.manifests.find((m) => m.ref === 't')!;
    // The first layer, over 256 KiB, needs umoci's blocks; the others are smaller than one
    // block, where pgzip's default blocks give the same bytes and are tried first.
    expect(t.layers.map((l) => [l.reproducible, l.gzip?.engine, l.gzip?.level])).toEqual([
      [true, PGZIP_UMOCI_ENGINE, 5],
      [true, PGZIP_ENGINE, 5],
      [true, PGZIP_ENGINE, 5],
    ]);
    const out = join(work, 'restored-exact');
    const rest = await restoreLayout(chunked, { store, out });
    expect(rest.indexKept).toBe(true);
    for (const m of rest.manifests) {
      expect(m.kept).toBe(true);
      expect(m.layers.map((l) => l.how)).toEqual(Array(m.layers.length).fill('recompressed'));
    }
    // umoci leaves the blobs of earlier repacks in its layout; every file restored is the
    // original's, byte for byte.
    expect(layoutFiles(out)).toEqual(pick(layoutFiles(layout), Object.keys(layoutFiles(out))));
    // index.json, oci-layout, two manifests and configs, three layers (base has t's first).
    expect(Object.keys(layoutFiles(out))).toHaveLength(9);
    await store.close();
  });

  it('without the pgzip engine: config and diff_ids kept, layers uncompressed, reported', async () => {
    const store = await FsStore.open(join(work, 'store'));
    const chunked = join(work, 'chunked');
    const conv = await convertLayout(layout, { store, out: chunked, ref: 't' });
    expect(conv.manifests).toHaveLength(1);
    expect(conv.manifests[0]!.layers).toHaveLength(3);

    const out = join(work, 'restored');
    const engines = [pakoDeflateEngine(), goDeflateEngine()];
    const rest = await restoreLayout(chunked, { store, out, engines });
    const m = rest.manifests[0]!;
    const original = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')).manifests.find(
      (d: { annotations?: Record<string, string> }) =>
        d.annotations?.['org.opencontainers.image.ref.name'] === 't',
    );
    expect(m.originalDigest).toBe(original.digest);
    expect(m.kept).toBe(false);
    expect(m.digest).not.toBe(original.digest);
    expect(rest.indexKept).toBe(false);
    const origManifest = readJsonBlob(layout, original.digest) as {
      config: { digest: string };
      layers: Array<{ digest: string }>;
    };
    // The config comes back byte for byte; every layer is its uncompressed tar (digest = diff_id).
    expect(m.config).toBe(origManifest.config.digest);
    const config = blob(layout, origManifest.config.digest);
    expect(blob(out, m.config)).toEqual(config);
    const diffIds = JSON.parse(config.toString('utf8')).rootfs.diff_ids;
    expect(m.layers.map((l) => l.digest)).toEqual(diffIds);
    for (const [i, l] of m.layers.entries()) {
      expect(l).toMatchObject({
        kept: false,
        how: 'uncompressed',
        originalDigest: origManifest.layers[i]!.digest,
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
      });
      expect(l.reason).toMatch(/^deflate engine klauspost-pgzip-.* is not available here$/);
    }

    // umoci accepts the restored layout and unpacks the same rootfs.
    umoci('stat', '--image', `${out}:t`);
    umoci('unpack', '--image', `${out}:t`, join(work, 'restored-bundle'));
    umoci('unpack', '--image', `${layout}:t`, join(work, 'original-bundle'));
    expect(snapshot(join(work, 'restored-bundle', 'rootfs'))).toEqual(
      snapshot(join(work, 'original-bundle', 'rootfs')),
    );
  });

  it('keeps every tag when two name one manifest and index.json is rewritten', async () => {
    // Restored without the pgzip engine, the layers change, and so does index.json.
    const twoTags = join(work, 'two-tags');
    cpSync(layout, twoTags, { recursive: true });
    umoci('tag', '--image', `${twoTags}:t`, 'also-t');
    const store = await FsStore.open(join(work, 'store-two-tags'));
    const chunked = join(work, 'chunked-two-tags');
    await convertLayout(twoTags, { store, out: chunked });
    const out = join(work, 'restored-two-tags');
    const rest = await restoreLayout(chunked, {
      store,
      out,
      engines: [pakoDeflateEngine(), goDeflateEngine()],
    });
    expect(rest.indexKept).toBe(false);
    const refs = (dir: string) =>
      (
        JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')).manifests as Array<{
          annotations?: Record<string, string>;
        }>
      )
        .map((d) => d.annotations?.['org.opencontainers.image.ref.name'])
        .sort();
    expect(refs(out)).toEqual(refs(twoTags));
    expect(refs(out)).toContain('also-t');
  });

  it('oci flatten equals flatten of the converted layers, from either layout', async () => {
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    const desc = index.manifests.find(
      (d: { annotations?: Record<string, string> }) =>
        d.annotations?.['org.opencontainers.image.ref.name'] === 't',
    );
    const manifest = readJsonBlob(layout, desc.digest) as { layers: Array<{ digest: string }> };
    const mem = new MemoryStore();
    const roots: Uint8Array[] = [];
    for (const l of manifest.layers) {
      roots.push((await convertBytes(new Uint8Array(blob(layout, l.digest)), mem)).index);
    }
    const expected = await collect(
      flatten(
        roots.map((r) => () => streamOf(r)),
        mem,
        { hash },
      ),
    );

    const store = await FsStore.open(join(work, 'store-flatten'));
    expect(await collect(await flattenImage(layout, { store, ref: 't' }))).toEqual(expected);
    const chunked = join(work, 'chunked-flatten');
    await convertLayout(layout, { store, out: chunked });
    expect(await collect(await flattenImage(chunked, { store, ref: 't' }))).toEqual(expected);

    requireDist();
    const outFile = join(work, 'flat.tar');
    const r = await runCli([
      'oci',
      'flatten',
      `${chunked}:t`,
      '--store',
      join(work, 'store-flatten'),
      '--out',
      outFile,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(new Uint8Array(readFileSync(outFile))).toEqual(expected);
  });

  it('stores a base layer shared by two tags once', async () => {
    // Chunk files only: these stores stay open, each holding a lock file of its own name.
    const countStore = (dir: string) =>
      Object.keys(layoutFiles(dir))
        .filter((f) => !f.startsWith('locks/'))
        .sort();
    const alone = join(work, 'store-t');
    await convertLayout(layout, {
      store: await FsStore.open(alone),
      out: join(work, 'c1'),
      ref: 't',
    });
    const both = join(work, 'store-both');
    const s = await FsStore.open(both);
    await convertLayout(layout, { store: s, out: join(work, 'c2'), ref: 'base' });
    const afterBase = countStore(both).length;
    expect(afterBase).toBeGreaterThan(0);
    const report = await convertLayout(layout, { store: s, out: join(work, 'c3'), ref: 't' });
    // t's first layer is base's: nothing new for it; the store ends as t's alone.
    expect(report.manifests[0]!.layers[0]).toMatchObject({ newChunks: 0, newBytes: 0 });
    expect(countStore(both)).toEqual(countStore(alone));
    // Both tags in one run: the same store again, and the base root written once.
    const all = join(work, 'store-all');
    const r = await convertLayout(layout, {
      store: await FsStore.open(all),
      out: join(work, 'c4'),
    });
    expect(r.manifests.map((m) => m.ref).sort()).toEqual(['base', 't']);
    expect(countStore(all)).toEqual(countStore(alone));
  });

  it('layerdiff oci convert and restore on the command line', async () => {
    requireDist();
    const store = join(work, 'store-cli');
    const chunked = join(work, 'chunked-cli');
    let r = await runCli([
      'oci',
      'convert',
      `${layout}:t`,
      '--store',
      store,
      '--out',
      chunked,
      '--jobs',
      '3',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.toString()).manifests[0].layers).toHaveLength(3);
    const out = join(work, 'restored-cli');
    r = await runCli(['oci', 'restore', chunked, '--store', store, '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const text = r.stdout.toString();
    expect(text).toMatch(/manifest kept/);
    expect(text.match(/ kept \(recompressed\)/g)).toHaveLength(3);
    // Only tag t was asked for: index.json loses base.
    expect(text).toMatch(/index.json rewritten/);
    const { 'index.json': _, ...restored } = layoutFiles(out);
    expect(restored).toEqual(pick(layoutFiles(layout), Object.keys(restored)));
    umoci('stat', '--image', `${out}:t`);
  });
});
