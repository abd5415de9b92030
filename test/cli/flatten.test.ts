/**
 * `layerdiff flatten`, run as users run it (`node dist/cli.js`), on two layers made with GNU
 * tar, the upper one deleting a file of the lower one through a whiteout.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeader } from '../../src/tar/header.js';
import { concat, pseudoRandom } from '../helpers/bytes.js';
import { dropRecord, packRecords } from '../helpers/packs.js';
import { sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { listFiles, makeTar, requireDist, runCli } from './run.js';

describe.runIf(toolsAvailable('tar'))('layerdiff flatten', () => {
  let work: string;
  let store: string;
  let indexes: string[];
  const big = pseudoRandom(400_000, 5);

  beforeAll(async () => {
    requireDist();
    work = mkdtempSync(join(tmpdir(), 'layerdiff-cli-flatten-'));
    store = join(work, 'store');
    const lower = makeTar(work, 'lower', {
      'bin/tool': big,
      'etc/gone': new TextEncoder().encode('deleted above\n'),
      'etc/kept': new TextEncoder().encode('kept\n'),
    });
    const upper = makeTar(work, 'upper', {
      'etc/.wh.gone': new Uint8Array(0),
      'etc/new': new TextEncoder().encode('new\n'),
    });
    indexes = [];
    for (const [name, tar] of [
      ['lower', lower],
      ['upper', upper],
    ] as const) {
      const index = join(work, `${name}.idx`);
      const r = await runCli(['convert', tar, '--store', store, '--out', index]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      indexes.push(index);
    }
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const names = (tar: string) =>
    execFileSync('tar', ['-tf', tar], { encoding: 'utf8' }).split('\n').filter(Boolean);

  it('writes the merged tree to --out, and the same bytes to stdout', async () => {
    const out = join(work, 'flat.tar');
    const r = await runCli(['flatten', ...indexes, '--store', store, '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(names(out)).toEqual(['bin/', 'bin/tool', 'etc/', 'etc/kept', 'etc/new']);
    const dir = join(work, 'unpacked');
    mkdirSync(dir);
    execFileSync('tar', ['-xf', out, '-C', dir]);
    expect(listFiles(dir)).toEqual(['bin/tool', 'etc/kept', 'etc/new']);
    expect(sha256(readFileSync(join(dir, 'bin/tool')))).toBe(sha256(big));

    const stdout = await runCli(['flatten', ...indexes, '--store', store]);
    expect(stdout.code).toBe(0);
    expect(sha256(stdout.stdout)).toBe(sha256(readFileSync(out)));
  });

  it('fails with exit 1 and leaves no output when a chunk is missing', async () => {
    const copy = join(work, 'store-copy');
    execFileSync('cp', ['-r', store, copy]);
    for (const r of packRecords(copy)) if (r.entry.stored > 1000) dropRecord(r);
    const outDir = join(work, 'failed');
    mkdirSync(outDir);
    const r = await runCli([
      'flatten',
      ...indexes,
      '--store',
      copy,
      '--out',
      join(outDir, 'o.tar'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^layerdiff flatten: ERR_CHUNK_NOT_FOUND/);
    expect(readdirSync(outDir)).toEqual([]);
  });

  it('refuses a tree over --max-entries (exit 1, no output), and a bad count (exit 2)', async () => {
    const outDir = join(work, 'over');
    mkdirSync(outDir);
    const out = join(outDir, 'o.tar');
    const flattenAtMost = (max: string) =>
      runCli(['flatten', ...indexes, '--store', store, '--out', out, '--max-entries', max]);
    const over = await flattenAtMost('5');
    expect(over.code).toBe(1);
    expect(over.stderr.toString()).toMatch(/^layerdiff flatten: ERR_INDEX_LIMIT: .* exceed 5, /);
    expect(readdirSync(outDir)).toEqual([]);
    // The lower layer has six entries (./ among them); the merged tree, five paths.
    const fits = await flattenAtMost('6');
    expect(fits.code).toBe(0);
    const dir = join(work, 'over-extract');
    const extract = await runCli([
      'extract',
      ...indexes,
      '--store',
      store,
      '--dir',
      dir,
      '--max-entries',
      '4',
    ]);
    expect(extract.code).toBe(1);
    expect(extract.stderr.toString()).toMatch(/ERR_INDEX_LIMIT/);
    const bad = await runCli(['flatten', ...indexes, '--store', store, '--max-entries=0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.toString()).toMatch(/--max-entries must be a positive integer: "0"/);
  });

  it('extract writes the same tree as flatten | tar -x', async () => {
    const dir = join(work, 'extracted');
    const r = await runCli(['extract', ...indexes, '--store', store, '--dir', dir, '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^extracted 5 entries into /);
    expect(JSON.parse(r.stdout.toString('utf8'))).toMatchObject({ files: 3, dirs: 2 });
    expect(listFiles(dir)).toEqual(['bin/tool', 'etc/kept', 'etc/new']);
    expect(sha256(readFileSync(join(dir, 'bin/tool')))).toBe(sha256(big));
  });

  it('extract never writes through a symlink planted by a lower layer', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'layerdiff-outside-'));
    try {
      const d = join(work, 'hostile');
      mkdirSync(d);
      const lower = makeTar(d, 'lower', {}, { escape: outside, up: '../../../../..' });
      const upper = makeTar(d, 'upper', {
        'escape/evil': new TextEncoder().encode('owned\n'),
        'up/tmp/evil': new TextEncoder().encode('owned\n'),
      });
      const idx: string[] = [];
      for (const [name, tar] of [
        ['lower', lower],
        ['upper', upper],
      ] as const) {
        idx.push(join(d, `${name}.idx`));
        expect((await runCli(['convert', tar, '--store', store, '--out', idx.at(-1)!])).code).toBe(
          0,
        );
      }
      const target = join(d, 'target');
      const r = await runCli(['extract', ...idx, '--store', store, '--dir', target]);
      expect(readdirSync(outside)).toEqual([]);
      expect(r.code).toBe(0);
      // The upper layer's directories replaced the symlinks, inside the target.
      expect(listFiles(target)).toEqual(['escape/evil', 'up/tmp/evil']);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('prints warnings with control and bidi characters escaped', async () => {
    const name = 'evil\u202etxt.exe\x1b[8m';
    const layer = concat([
      encodeHeader({ path: name, typeflag: '1', linkname: 'missing', size: 0 }),
      new Uint8Array(1024),
    ]);
    writeFileSync(join(work, 'warn.tar'), layer);
    const index = join(work, 'warn.idx');
    expect(
      (await runCli(['convert', join(work, 'warn.tar'), '--store', store, '--out', index])).code,
    ).toBe(0);
    const r = await runCli([
      'flatten',
      index,
      '--store',
      store,
      '--out',
      join(work, 'warn-out.tar'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('WARN_LINK_TARGET_MISSING: evil\\u202etxt.exe\\x1b[8m: ');
    expect(r.stderr).not.toMatch(/[\u202e\x1b]/);
  });

  it('is a usage error (exit 2) without an index', async () => {
    const r = await runCli(['flatten', '--store', store]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/expected one or more index paths/);
  });
});
