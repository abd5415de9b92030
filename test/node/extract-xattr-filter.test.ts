/**
 * Which xattrs extract applies: overlayfs's own names left out by default, include and exclude
 * patterns (exclude wins), the root check after the filter, and the flags of the command line.
 * Real xattrs, read back with getfattr: `user.*` names need only a filesystem that takes them;
 * `trusted.*` and `security.*` need root (CI runs as root).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { type ExtractOptions, extract } from '../../src/node/extract.js';
import { DEFAULT_XATTRS_EXCLUDE } from '../../src/node/xattr-filter.js';
import { requireDist, runCli } from '../cli/run.js';
import { streamOf } from '../helpers/streams.js';
import { isRoot, toolsAvailable } from '../helpers/tools.js';
import { buildTar } from './extract-helpers.js';

const hasTools = toolsAvailable('setfattr', 'getfattr');
const v = (text: string) => new TextEncoder().encode(text);

let tmp: string;
let n = 0;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ld-xattr-filter-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The names of every xattr of `path` (all namespaces getfattr may list), sorted. */
function xattrNames(path: string): string[] {
  const dump = execFileSync('getfattr', ['-d', '-m', '-', '-e', 'hex', '--absolute-names', path], {
    encoding: 'utf8',
  });
  return dump
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.slice(0, line.indexOf('=')))
    .sort();
}

/** Extracts a one-directory, one-file tar whose entries both carry `xattrs`. */
async function run(xattrs: Record<string, Uint8Array>, options: ExtractOptions = {}) {
  const { bytes } = buildTar([
    { path: 'd/', kind: 'directory', mode: 0o755, xattrs },
    { path: 'd/f', body: 'body', xattrs },
  ]);
  const out = join(tmp, `out-${n++}`);
  const report = await extract(streamOf(bytes), out, options);
  return { report, out, file: xattrNames(join(out, 'd/f')), dir: xattrNames(join(out, 'd')) };
}

describe.skipIf(!hasTools)('extract: which user.* xattrs', () => {
  const xattrs = {
    'user.keep': v('1'),
    'user.overlay.opaque': v('y'),
    'user.overlay.redirect': v('/elsewhere'),
    'user.drop.me': v('2'),
  };

  it('leaves out user.overlay.* by default, one warning an entry', async () => {
    const { report, file, dir } = await run(xattrs);
    expect(file).toEqual(['user.drop.me', 'user.keep']);
    expect(dir).toEqual(['user.drop.me', 'user.keep']);
    expect(report.xattrs).toBe(4);
    expect(report.warnings.map((w) => [w.code, w.path, w.message])).toEqual([
      ['xattr-not-applied', 'd/', '2 xattrs not applied (excluded)'],
      ['xattr-not-applied', 'd/f', '2 xattrs not applied (excluded)'],
    ]);
  });

  it('leaves out a name with a NUL byte, which setfattr would cut short past the filter', async () => {
    const { report, file } = await run(
      { 'user.keep': v('1'), 'user.secret\0x': v('s'), '': v('e') },
      { xattrs: { exclude: ['user.secret'] } },
    );
    // Before, the name went to setfattr, which set user.secret: the exclude did nothing.
    expect(file).toEqual(['user.keep']);
    expect(report.xattrs).toBe(2);
    expect(report.warnings.filter((w) => w.path === 'd/f').map((w) => w.message)).toEqual([
      '2 xattrs not applied: NUL bytes in their names, or empty names',
    ]);
    // Alone, each is named.
    const one = await run({ 'user.secret\0x': v('s') });
    expect(one.report.warnings.map((w) => w.message)).toEqual([
      'xattr "user.secret\\u0000x" not applied: a NUL byte in its name',
      'xattr "user.secret\\u0000x" not applied: a NUL byte in its name',
    ]);
    const empty = await run({ '': v('e') });
    expect(empty.report.warnings.map((w) => w.message)).toEqual([
      'xattr "" not applied: an empty name',
      'xattr "" not applied: an empty name',
    ]);
  });

  it('applies what include names and the default excludes do not', async () => {
    const { report, file } = await run(xattrs, {
      xattrs: { include: ['user.keep', 'user.overlay.*'] },
    });
    expect(file).toEqual(['user.keep']);
    expect(report.warnings.map((w) => w.message)).toEqual([
      '3 xattrs not applied (excluded)',
      '3 xattrs not applied (excluded)',
    ]);
  });

  it('applies overlayfs’s names when the excludes given leave them in', async () => {
    const { report, file } = await run(xattrs, { xattrs: { exclude: ['user.drop.me'] } });
    expect(file).toEqual(['user.keep', 'user.overlay.opaque', 'user.overlay.redirect']);
    expect(report.warnings.map((w) => w.message)).toEqual([
      'xattr user.drop.me not applied (excluded)',
      'xattr user.drop.me not applied (excluded)',
    ]);
  });

  it('cuts a long name in its warning, saying how long it was', async () => {
    const long = `user.${'x'.repeat(70_000)}`;
    const { report, file } = await run(
      { 'user.keep': v('1'), [long]: v('2') },
      { xattrs: { exclude: ['user.x*'] } },
    );
    expect(file).toEqual(['user.keep']);
    expect(report.warnings.map((w) => w.message)).toEqual([
      `xattr ${long.slice(0, 256)}… (70005 characters) not applied (excluded)`,
      `xattr ${long.slice(0, 256)}… (70005 characters) not applied (excluded)`,
    ]);
  });

  it('checks the filter before anything is made', async () => {
    const out = join(tmp, 'refused');
    await expect(
      extract(streamOf(buildTar([]).bytes), out, { xattrs: { include: ['user.*', ''] } }),
    ).rejects.toThrow(new UsageError('extract: xattrs.include[1] must be a non-empty string'));
    await expect(
      extract(streamOf(buildTar([]).bytes), out, { xattrs: 'user.*' as never }),
    ).rejects.toThrow(new UsageError('extract: xattrs must be a boolean or { include, exclude }'));
    expect(existsSync(out)).toBe(false);
  });
});

describe.skipIf(!hasTools || !isRoot)('extract as root: which xattrs of every namespace', () => {
  // A security.capability value (v2, cap_net_raw permitted) the kernel accepts.
  const cap = Uint8Array.from([1, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const xattrs = {
    'user.a': v('1'),
    'trusted.overlay.opaque': v('y'),
    'trusted.overlay.redirect': v('/etc'),
    'trusted.other': v('3'),
    'security.capability': cap,
  };

  it('leaves out trusted.overlay.* by default and applies the rest', async () => {
    const { report, file, dir } = await run(xattrs);
    expect(file).toEqual(['security.capability', 'trusted.other', 'user.a']);
    expect(dir).toEqual(['security.capability', 'trusted.other', 'user.a']);
    expect(report.xattrs).toBe(6);
    expect(report.warningCount).toBe(2);
  });

  it('applies trusted.overlay.* only when the excludes given leave them in', async () => {
    const { file } = await run(xattrs, { xattrs: { exclude: [] } });
    expect(file).toEqual([
      'security.capability',
      'trusted.other',
      'trusted.overlay.opaque',
      'trusted.overlay.redirect',
      'user.a',
    ]);
    const kept = await run(xattrs, {
      xattrs: { exclude: ['security.*', ...DEFAULT_XATTRS_EXCLUDE] },
    });
    expect(kept.file).toEqual(['trusted.other', 'user.a']);
  });

  it('lets exclude win over an include of the same name', async () => {
    const { file } = await run(xattrs, {
      xattrs: { include: ['trusted.overlay.opaque', 'security.capability'] },
    });
    expect(file).toEqual(['security.capability']);
  });

  it('applies none with xattrs: false', async () => {
    const { report, file } = await run(xattrs, { xattrs: false });
    expect(file).toEqual([]);
    expect(report.warnings.map((w) => w.message)).toEqual([
      '5 xattrs not applied (off)',
      '5 xattrs not applied (off)',
    ]);
  });
});

describe.skipIf(!hasTools)('layerdiff extract-tar: the xattr flags', () => {
  let tarPath: string;
  beforeAll(() => {
    requireDist();
    const { bytes } = buildTar([
      {
        path: 'f',
        body: 'body',
        xattrs: { 'user.a': v('1'), 'user.b': v('2'), 'user.overlay.opaque': v('y') },
      },
    ]);
    tarPath = join(tmp, 'flags.tar');
    writeFileSync(tarPath, bytes);
  });

  const cli = (out: string, ...flags: string[]) =>
    runCli(['extract-tar', tarPath, '--dir', join(tmp, out), '--json', ...flags]);

  it('takes repeated --xattrs-include and --xattrs-exclude', async () => {
    const r = await cli(
      'cli-filter',
      '--xattrs-include=user.a',
      '--xattrs-include',
      'user.overlay.*',
      '--xattrs-exclude=user.b',
    );
    expect(r.code).toBe(0);
    // The excludes given replace the default: user.overlay.opaque is applied.
    expect(xattrNames(join(tmp, 'cli-filter/f'))).toEqual(['user.a', 'user.overlay.opaque']);
    expect(r.stderr).toMatch(
      /^layerdiff extract-tar: warning: f: xattr user\.b not applied \(excluded\)\nextracted/,
    );
  });

  it('leaves out overlayfs’s names by default, with a warning', async () => {
    const r = await cli('cli-default');
    expect(r.code).toBe(0);
    expect(xattrNames(join(tmp, 'cli-default/f'))).toEqual(['user.a', 'user.b']);
    expect(r.stderr).toMatch(
      /^layerdiff extract-tar: warning: f: xattr user\.overlay\.opaque not applied \(excluded\)\n/,
    );
  });

  it('applies none with --no-xattrs', async () => {
    const r = await cli('cli-none', '--no-xattrs');
    expect(r.code).toBe(0);
    expect(xattrNames(join(tmp, 'cli-none/f'))).toEqual([]);
    expect(JSON.parse(r.stdout.toString('utf8'))).toMatchObject({ xattrs: 0, warningCount: 1 });
  });

  it('takes them on extract of a stack too', async () => {
    const store = join(tmp, 'cli-store');
    const idx = join(tmp, 'flags.idx');
    expect((await runCli(['convert', tarPath, '--store', store, '--out', idx])).code).toBe(0);
    const out = join(tmp, 'cli-stack');
    const r = await runCli([
      'extract',
      idx,
      '--store',
      store,
      '--dir',
      out,
      '--xattrs-exclude=user.a',
    ]);
    expect(r.code).toBe(0);
    expect(xattrNames(join(out, 'f'))).toEqual(['user.b', 'user.overlay.opaque']);
  });

  it.each([
    [['--no-xattrs', '--xattrs-exclude=user.b'], '--no-xattrs cannot be given with'],
    [['--xattrs-include='], '--xattrs-include needs a pattern, got ""'],
    [['--xattrs-exclude', ''], '--xattrs-exclude needs a pattern, got ""'],
  ])('%j is a usage error', async (flags, message) => {
    const r = await cli('cli-usage', ...flags);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`layerdiff extract-tar: ${message}`);
    expect(existsSync(join(tmp, 'cli-usage'))).toBe(false);
  });
});
