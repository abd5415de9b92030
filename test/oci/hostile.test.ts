/**
 * Hostile image layouts: each fails with a typed error, and nothing appears at --out (nor a
 * temporary directory beside it).
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { streamOfBytes } from '../../src/bytes-stream.js';
import { FsStore } from '../../src/node/fs-store.js';
import { convertLayout } from '../../src/node/oci-convert.js';
import { LayoutWriter, OciLayout } from '../../src/node/oci-layout.js';
import { restoreLayout } from '../../src/node/oci-restore.js';
import { requireDist, runCli } from '../cli/run.js';
import { sha256 } from '../helpers/streams.js';
import { layerTar } from '../pipeline/flatten-helpers.js';
import { buildLayout, putJson } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-oci-hostile-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const tar = layerTar([{ type: 'file', path: 'a', body: 'a\n' }]);
let n = 0;
let src: string;
let manifest: { digest: string; size: number };

beforeEach(() => {
  src = join(work, `src-${++n}`);
  manifest = buildLayout(src, [{ tag: 't', layers: [{ tar, compress: 'none' }] }])[0]!;
});

const blobFile = (digest: string) => join(src, 'blobs', 'sha256', digest.slice(7));
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const writeJson = (path: string, v: unknown) => writeFileSync(path, JSON.stringify(v));

/** Replaces index.json's single manifest descriptor. */
function pointIndexAt(desc: Record<string, unknown>): void {
  const index = readJson(join(src, 'index.json'));
  index.manifests = [{ ...desc, annotations: { 'org.opencontainers.image.ref.name': 't' } }];
  writeJson(join(src, 'index.json'), index);
}

/** Rewrites the manifest (as a new blob) and points index.json at it. */
// biome-ignore lint/suspicious/noExplicitAny: the tests edit arbitrary JSON
function editManifest(edit: (m: Record<string, any>) => void): void {
  const m = readJson(blobFile(manifest.digest));
  edit(m);
  const d = putJson(src, m);
  pointIndexAt({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...d });
}

async function expectFailure(code: string): Promise<void> {
  const store = await FsStore.open(join(work, 'store'));
  const out = join(work, `out-${n}`);
  await expect(convertLayout(src, { store, out })).rejects.toMatchObject({ code });
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(work).filter((f) => f.startsWith(`.out-${n}.`))).toEqual([]);
}

describe('hostile OCI layouts', () => {
  it('a missing layer blob', async () => {
    const m = readJson(blobFile(manifest.digest));
    rmSync(blobFile(m.layers[0].digest));
    await expectFailure('ERR_OCI_BLOB_NOT_FOUND');
  });

  it('a missing manifest blob', async () => {
    rmSync(blobFile(manifest.digest));
    await expectFailure('ERR_OCI_BLOB_NOT_FOUND');
  });

  it('a layer whose bytes do not match its digest', async () => {
    const m = readJson(blobFile(manifest.digest));
    const file = blobFile(m.layers[0].digest);
    const bytes = readFileSync(file);
    bytes[600] = bytes[600]! ^ 1; // same size, other bytes
    writeFileSync(file, bytes);
    await expectFailure('ERR_OCI_DIGEST');
  });

  it('a config whose bytes do not match its digest', async () => {
    const m = readJson(blobFile(manifest.digest));
    const file = blobFile(m.config.digest);
    writeFileSync(file, readFileSync(file, 'utf8').replace('amd64', 'arm64'));
    await expectFailure('ERR_OCI_DIGEST');
  });

  it('a layer whose size differs from its descriptor', async () => {
    editManifest((m) => {
      m.layers[0].size += 1;
    });
    await expectFailure('ERR_OCI_DIGEST');
  });

  it('digests with path tricks', async () => {
    for (const digest of [
      `sha256:../../../../etc/passwd`,
      `sha256:${'a'.repeat(62)}/..`,
      `sha256:${'A'.repeat(64)}`,
      `../sha256:${'a'.repeat(64)}`,
    ]) {
      pointIndexAt({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 10 });
      await expectFailure('ERR_OCI_FORMAT');
      editManifest((m) => {
        m.layers[0].digest = digest;
      });
      await expectFailure('ERR_OCI_FORMAT');
    }
  });

  it('a digest algorithm other than sha256', async () => {
    pointIndexAt({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha512:${'a'.repeat(128)}`,
      size: 10,
    });
    await expectFailure('ERR_OCI_FORMAT');
  });

  it('a manifest over the size limit', async () => {
    editManifest((m) => {
      m.annotations = { padding: 'x'.repeat(4 * 1024 * 1024) };
    });
    await expectFailure('ERR_OCI_LIMIT');
  });

  it('an index of manifests that together pass the total limit: refused before converting', async () => {
    // Two images of one config; the limit holds one image's manifest and config, not two.
    const first = readJson(blobFile(manifest.digest));
    const second = putJson(src, { ...first, annotations: { second: 'yes' } });
    const config = first.config as { size: number };
    const index = readJson(join(src, 'index.json'));
    index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...second });
    writeJson(join(src, 'index.json'), index);
    const total = manifest.size + config.size + 10;
    const store = await FsStore.open(join(work, 'store'));
    const out = join(work, `out-total-${n}`);
    await expect(convertLayout(src, { store, out, limits: { total } })).rejects.toMatchObject({
      code: 'ERR_OCI_LIMIT',
      message: expect.stringMatching(/indexes, manifests and configs of this conversion pass/),
    });
    expect(existsSync(out)).toBe(false);
    // Within the default limit: converted.
    await convertLayout(src, { store, out });
    expect(existsSync(out)).toBe(true);
  });

  it('an index.json over the size limit', async () => {
    const index = readJson(join(src, 'index.json'));
    index.annotations = { padding: 'x'.repeat(4 * 1024 * 1024) };
    writeJson(join(src, 'index.json'), index);
    await expectFailure('ERR_OCI_LIMIT');
  });

  it('an index.json within the limit whose chunked form would not be: refused at convert', async () => {
    // The chunked index.json annotates every descriptor: restore would refuse what was written.
    const limit = readFileSync(join(src, 'index.json')).length + 10;
    const store = await FsStore.open(join(work, 'store'));
    const out = join(work, `out-limit-${n}`);
    await expect(
      convertLayout(src, { store, out, limits: { index: limit } }),
    ).rejects.toMatchObject({ code: 'ERR_OCI_LIMIT' });
    expect(existsSync(out)).toBe(false);
  });

  it('an index.json listing one manifest many times: convert and restore read it once', async () => {
    const index = readJson(join(src, 'index.json'));
    const d = index.manifests[0];
    index.manifests = Array.from({ length: 200 }, (_, i) => ({
      ...d,
      annotations: { 'org.opencontainers.image.ref.name': `t${i}` },
    }));
    writeJson(join(src, 'index.json'), index);
    const reads = vi.spyOn(OciLayout.prototype, 'readImage');
    try {
      const store = await FsStore.open(join(work, 'store'));
      const chunked = join(work, `out-many-${n}`);
      const r = await convertLayout(src, { store, out: chunked });
      expect(r.manifests).toHaveLength(200);
      expect(reads).toHaveBeenCalledTimes(1);
      // So does restore, which keeps every tag.
      const back = await restoreLayout(chunked, { store, out: join(work, `back-many-${n}`) });
      expect(back.manifests.map((m) => m.ref)).toEqual(
        index.manifests.map((_: unknown, i: number) => `t${i}`),
      );
      expect(new Set(back.manifests.map((m) => m.digest)).size).toBe(1);
      expect(reads).toHaveBeenCalledTimes(2);
    } finally {
      reads.mockRestore();
    }
  });

  it('an unknown layer media type of an image layer family', async () => {
    editManifest((m) => {
      m.layers[0].mediaType = 'application/vnd.docker.image.rootfs.diff.tar.lz4';
    });
    await expectFailure('ERR_OCI_MEDIA_TYPE');
  });

  it('a layer blob that is not what its media type says', async () => {
    editManifest((m) => {
      m.layers[0].mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip';
    });
    await expectFailure('ERR_OCI_FORMAT');
  });

  it('a layer blob a second manifest names with another compression', async () => {
    // The same blob in two manifests: the second's media type must agree with it as well.
    const first = readJson(join(src, 'index.json')).manifests[0];
    const m = readJson(blobFile(manifest.digest));
    m.layers[0].mediaType = 'application/vnd.oci.image.layer.v1.tar+zstd';
    const d = putJson(src, m);
    const index = readJson(join(src, 'index.json'));
    index.manifests = [first, { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...d }];
    writeJson(join(src, 'index.json'), index);
    await expectFailure('ERR_OCI_FORMAT');
  });

  it('a diff_id that does not match the layer', async () => {
    const m = readJson(blobFile(manifest.digest));
    const config = readJson(blobFile(m.config.digest));
    config.rootfs.diff_ids = [sha256(new Uint8Array(1))];
    const c = putJson(src, config);
    editManifest((x) => {
      x.config = { ...x.config, ...c };
    });
    await expectFailure('ERR_OCI_DIGEST');
  });

  it('a manifest pointing to itself', async () => {
    // A blob cannot contain its own digest, so a manifest "pointing to itself" is one stored
    // under a digest it names: the digest check stops it before anything follows the loop.
    const m = readJson(blobFile(manifest.digest));
    m.layers[0].digest = manifest.digest;
    writeFileSync(blobFile(manifest.digest), JSON.stringify(m));
    await expectFailure('ERR_OCI_DIGEST');
  });

  it('not JSON, wrong schema, a missing oci-layout', async () => {
    writeFileSync(join(src, 'index.json'), '{"schemaVersion": 2, "manifests": [');
    await expectFailure('ERR_OCI_FORMAT');
    writeFileSync(join(src, 'index.json'), '{"schemaVersion": 1, "manifests": []}');
    await expectFailure('ERR_OCI_FORMAT');
    rmSync(join(src, 'oci-layout'));
    await expectFailure('ERR_OCI_FORMAT');
  });

  it("a top-level file that is not JSON: the error does not quote the file's content", async () => {
    // index.json may be a symbolic link to any file: its content must not reach the message.
    writeFileSync(join(src, 'index.json'), 'root:$6$SECRET-HASH:19000:0:99999:7:::\n');
    const store = await FsStore.open(join(work, 'store'));
    const err = await convertLayout(src, { store, out: join(work, `out-leak-${n}`) }).catch(
      (e: Error) => e,
    );
    expect(err).toMatchObject({ code: 'ERR_OCI_FORMAT' });
    expect((err as Error).message).toMatch(/not JSON/);
    expect((err as Error).message).not.toMatch(/SECRET|root:/);
  });

  it('symbolic-link loops: typed errors naming the file or blob', async () => {
    rmSync(join(src, 'index.json'));
    symlinkSync('index.json', join(src, 'index.json'));
    await expectFailure('ERR_OCI_FORMAT');
  });

  it('a layer blob that is a symbolic-link loop', async () => {
    const layer = readJson(blobFile(manifest.digest)).layers[0].digest;
    rmSync(blobFile(layer));
    symlinkSync(blobFile(layer), blobFile(layer));
    await expectFailure('ERR_OCI_DIGEST');
  });

  it('an unknown tag', async () => {
    const store = await FsStore.open(join(work, 'store'));
    const out = join(work, 'out-tag');
    await expect(convertLayout(src, { store, out, ref: 'nope' })).rejects.toMatchObject({
      code: 'ERR_OCI_REF_NOT_FOUND',
    });
    expect(existsSync(out)).toBe(false);
  });

  it('restore with chunks missing from the store leaves nothing at --out', async () => {
    const store = await FsStore.open(join(work, `store-${n}`));
    const chunked = join(work, `chunked-${n}`);
    await convertLayout(src, { store, out: chunked });
    const empty = await FsStore.open(join(work, `empty-${n}`));
    const out = join(work, `restored-${n}`);
    await expect(restoreLayout(chunked, { store: empty, out })).rejects.toMatchObject({
      code: 'ERR_CHUNK_NOT_FOUND',
    });
    expect(existsSync(out)).toBe(false);
  });

  it('the command line: a typed error on stderr, exit 1, no output', async () => {
    requireDist();
    const m = readJson(blobFile(manifest.digest));
    rmSync(blobFile(m.layers[0].digest));
    const out = join(work, 'out-cli');
    const r = await runCli(['oci', 'convert', src, '--store', join(work, 'store'), '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^layerdiff oci: ERR_OCI_BLOB_NOT_FOUND: /);
    expect(existsSync(out)).toBe(false);
    const usage = await runCli(['oci', 'convert', src, '--out', out]);
    expect(usage.code).toBe(2);
  });

  it('index.json or oci-layout that is a FIFO or a directory: a typed error, no hang', async () => {
    for (const name of ['index.json', 'oci-layout']) {
      src = join(work, `src-${++n}`);
      buildLayout(src, [{ tag: 't', layers: [{ tar, compress: 'none' }] }]);
      rmSync(join(src, name));
      execFileSync('mkfifo', [join(src, name)]);
      await expectFailure('ERR_OCI_FORMAT');
      rmSync(join(src, name));
      mkdirSync(join(src, name));
      await expectFailure('ERR_OCI_FORMAT');
    }
  });

  it('--out that is a dangling symlink: a usage error before any work', async () => {
    const store = await FsStore.open(join(work, 'store'));
    const out = join(work, `dangling-${n}`);
    symlinkSync(join(work, 'nowhere'), out);
    await expect(convertLayout(src, { store, out })).rejects.toMatchObject({ code: 'ERR_USAGE' });
    expect(existsSync(join(work, 'nowhere'))).toBe(false);
  });

  it('an unwanted blob never removes an earlier blob of the same digest', async () => {
    const out = join(work, `writer-${n}`);
    const writer = await LayoutWriter.create(out);
    const bytes = new TextEncoder().encode('the same bytes twice\n');
    const first = await writer.writeBlob(bytes);
    const second = await writer.writeBlobStream(streamOfBytes(bytes), () => false);
    expect(second).toEqual({ ...first, kept: false });
    await writer.commit();
    expect(readFileSync(join(out, 'blobs', 'sha256', first.digest.slice(7)))).toEqual(
      Buffer.from(bytes),
    );
  });
});
