/**
 * `layerdiff gc`: keeps what the given indexes need, removes the rest, reports it (text or
 * JSON), refuses without an index or with one that is not there, and while a store of the
 * directory is open; a dry run runs while stores are open, and on a store it cannot write.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PackStore } from '../../src/node/pack-store.js';
import { lockExclusive } from '../../src/node/store-lock.js';
import { sha256 } from '../helpers/streams.js';
import { isRoot, toolsAvailable } from '../helpers/tools.js';
import { buildTar } from '../node/extract-helpers.js';
import { buildLayout, layoutFiles } from '../oci/helpers.js';
import { CLI, type RunResult, requireDist, runCli, runProcess } from './run.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-gc-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const at = (name: string) => join(work, name);

const bytesOf = (seed: string, size: number) => {
  const out = new Uint8Array(size);
  for (let i = 0; i * 32 < size; i++) {
    out.set(
      createHash('sha256')
        .update(`${seed}/${i}`)
        .digest()
        .subarray(0, size - i * 32),
      i * 32,
    );
  }
  return out;
};
const tars = {
  a: buildTar([{ path: 'a.bin', mode: 0o644, body: bytesOf('a', 400_000) }]).bytes,
  b: buildTar([{ path: 'b.bin', mode: 0o644, body: bytesOf('b', 400_000) }]).bytes,
};
const store = at('store');
const packFiles = () => readdirSync(join(store, 'packs')).sort();

describe('layerdiff gc', () => {
  beforeAll(async () => {
    requireDist();
    for (const [name, bytes] of Object.entries(tars)) {
      writeFileSync(at(`${name}.tar`), bytes);
      const r = await runCli([
        'convert',
        at(`${name}.tar`),
        '--store',
        store,
        '--out',
        at(`${name}.idx`),
      ]);
      expect(r.code).toBe(0);
    }
  });

  it('refuses without an index, with one that is not there, and while the store is open', async () => {
    const before = packFiles();
    const none = await runCli(['gc', '--store', store]);
    expect(none.code).toBe(2);
    const gone = await runCli(['gc', at('a.idx'), at('nope.idx'), '--store', store]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toBe(
      `layerdiff gc: cannot read ${at('nope.idx')}: no such file or directory\n`,
    );
    const open = await PackStore.open(store);
    try {
      const locked = await runCli(['gc', at('a.idx'), '--store', store]);
      expect(locked.code).toBe(1);
      expect(locked.stderr).toContain('ERR_STORE_LOCKED');
      expect(locked.stderr).toContain(`pid ${process.pid}`);
      // A dry run removes nothing: open stores do not stop it.
      const dry = await runCli(['gc', at('a.idx'), '--store', store, '--dry-run']);
      expect(dry.code).toBe(0);
      expect(dry.stdout.toString()).not.toContain('not locked');
    } finally {
      await open.close();
    }
    expect(packFiles()).toEqual(before);
  });

  it('LAYERDIFF_LOCK_WAIT: a command waits that many seconds for a collection to end', async () => {
    const gc = await lockExclusive(store);
    try {
      const refused = await runCli(['inspect', at('a.idx'), '--store', store]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('ERR_STORE_LOCKED');
      process.env.LAYERDIFF_LOCK_WAIT = 'soon';
      expect((await runCli(['inspect', at('a.idx'), '--store', store])).code).toBe(2);
      process.env.LAYERDIFF_LOCK_WAIT = '20';
      setTimeout(() => void gc.release(), 500);
      const waited = await runCli(['inspect', at('a.idx'), '--store', store]);
      expect(waited.code).toBe(0);
    } finally {
      delete process.env.LAYERDIFF_LOCK_WAIT;
      await gc.release();
    }
  });

  it('a dry run, then the collection: b goes, a rebuilds byte for byte', async () => {
    const before = packFiles();
    const dry = await runCli(['gc', at('a.idx'), '--store', store, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout.toString()).toMatch(/would remove \d+ of \d+ chunks/);
    expect(packFiles()).toEqual(before);
    // Told to wait, the collection waits for an open store to close.
    const open = await PackStore.open(store);
    setTimeout(() => void open.close(), 500);
    const r = await runCli(['gc', at('a.idx'), '--store', store, '--json'], {
      env: { LAYERDIFF_LOCK_WAIT: '20' },
    });
    await open.close();
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout.toString());
    expect(report).toMatchObject({ layout: 'pack', dryRun: false, indexes: 1, missing: 0 });
    expect(report.chunksRemoved).toBeGreaterThan(0);
    expect(report.packs.removed).toBe(1);
    const cat = await runCli(['cat', at('a.idx'), '--store', store]);
    expect(cat.code).toBe(0);
    expect(sha256(cat.stdout)).toBe(sha256(tars.a));
    const catB = await runCli(['cat', at('b.idx'), '--store', store]);
    expect(catB.code).toBe(1);
    expect(catB.stderr).toContain('ERR_CHUNK_NOT_FOUND');
  });

  // As root, chmod does not stop writes: the store is root's, and the dry run runs as nobody
  // (skipped as root without runuser, which switches user).
  const asNobody = isRoot && toolsAvailable('runuser');
  it.skipIf(isRoot && !asNobody)(
    'a dry run on a store this user can only read: no lock, nothing removed, stale locks included',
    async () => {
      const ro = at('read-only');
      mkdirSync(ro);
      for (const name of ['a', 'b']) {
        const c = await runCli(['convert', at(`${name}.tar`), '--store', ro, '--out', at('x.idx')]);
        expect(c.code).toBe(0);
      }
      const kept = at('read-only-a.idx');
      const k = await runCli(['convert', at('a.tar'), '--store', ro, '--out', kept]);
      expect(k.code).toBe(0);
      const dead = Number(execFileSync(process.execPath, ['-p', 'process.pid']).toString());
      const stale = join(ro, 'locks', `${dead}-0123456789abcdef.lock`);
      writeFileSync(stale, `${JSON.stringify({ pid: dead, host: hostname(), since: '' })}\n`);
      const files = () =>
        readdirSync(ro, { recursive: true })
          .map(String)
          .sort()
          .map((f) => `${f} ${statSync(join(ro, f)).mtimeMs}`);
      const before = files();
      let run: (args: string[]) => Promise<RunResult>;
      if (asNobody) {
        // Readable by all (the test's directory too), writable by root only.
        chmodSync(work, 0o755);
        run = (args) =>
          runProcess('runuser', ['-u', 'nobody', '--', process.execPath, CLI, ...args]);
      } else {
        for (const d of [ro, join(ro, 'locks'), join(ro, 'packs')]) chmodSync(d, 0o555);
        run = (args) => runCli(args);
      }
      try {
        const json = await run(['gc', kept, '--store', ro, '--dry-run', '--json']);
        expect(json.stderr).toBe('');
        expect(json.code).toBe(0);
        const report = JSON.parse(json.stdout.toString());
        expect(report).toMatchObject({ dryRun: true, locked: false, indexes: 1, missing: 0 });
        expect(report.chunksRemoved).toBeGreaterThan(0);
        const text = await run(['gc', kept, '--store', ro, '--dry-run']);
        expect(text.code).toBe(0);
        expect(text.stdout.toString()).toContain('not locked');
        // What a real collection needs, it cannot have.
        const real = await run(['gc', kept, '--store', ro]);
        expect(real.code).toBe(1);
        expect(real.stderr).toMatch(/EACCES|EPERM|EROFS/);
      } finally {
        for (const d of [ro, join(ro, 'locks'), join(ro, 'packs')]) chmodSync(d, 0o755);
      }
      expect(files()).toEqual(before);
      expect(existsSync(stale)).toBe(true);
    },
  );

  it('--oci keeps every layer of a chunked layout', async () => {
    const src = at('image');
    buildLayout(src, [{ tag: 't', layers: [{ tar: tars.b, compress: 'none' }] }]);
    const ociStore = at('oci-store');
    const conv = await runCli(['oci', 'convert', src, '--store', ociStore, '--out', at('chunked')]);
    expect(conv.code).toBe(0);
    const c = await runCli(['convert', at('a.tar'), '--store', ociStore, '--out', at('a2.idx')]);
    expect(c.code).toBe(0);
    // The plain layout holds no chunked layers: refused, nothing removed.
    const plain = await runCli(['gc', '--oci', src, '--store', ociStore]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain('holds no chunked layers');
    expect((await runCli(['cat', at('a2.idx'), '--store', ociStore])).code).toBe(0);
    const r = await runCli(['gc', '--oci', at('chunked'), '--store', ociStore, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ indexes: 1, missing: 0 });
    // The image comes back whole; the other layer does not.
    const back = await runCli([
      'oci',
      'restore',
      at('chunked'),
      '--store',
      ociStore,
      '--out',
      at('restored'),
    ]);
    expect(back.code).toBe(0);
    expect(layoutFiles(at('restored'))).toEqual(layoutFiles(src));
    expect((await runCli(['cat', at('a2.idx'), '--store', ociStore])).code).toBe(1);
  });
});
