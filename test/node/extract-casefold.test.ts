/**
 * Extraction onto a case-insensitive filesystem (macOS's default, ext4 casefold, NTFS), where
 * `A` and `a` name one entry. node:fs/promises is wrapped so that every path below the target
 * is folded to lower case before it reaches the real filesystem: names that differ only in
 * case then alias, as they would there. A directory known under one spelling must not be
 * trusted after a symbolic link replaced it under another.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UnsafePathError } from '../../src/errors.js';
import { extract } from '../../src/node/extract.js';
import { streamOf } from '../helpers/streams.js';
import { buildTar } from './extract-helpers.js';

const { folding } = vi.hoisted(() => ({ folding: { root: '' } }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  /** The path as a case-insensitive filesystem under `folding.root` resolves it. */
  const fold = (p: unknown) => {
    const root = folding.root;
    if (typeof p !== 'string' || root === '' || !p.startsWith(`${root}/`)) return p;
    return `${root}/${p.slice(root.length + 1).toLowerCase()}`;
  };
  type Fn = (...args: unknown[]) => unknown;
  const wrap =
    (f: Fn, paths: number[]) =>
    (...args: unknown[]) =>
      f(...args.map((a, i) => (paths.includes(i) ? fold(a) : a)));
  const pick = (name: keyof typeof fs) => fs[name] as unknown as Fn;
  return {
    ...fs,
    chmod: wrap(pick('chmod'), [0]),
    lchown: wrap(pick('lchown'), [0]),
    link: wrap(pick('link'), [0, 1]),
    lstat: wrap(pick('lstat'), [0]),
    lutimes: wrap(pick('lutimes'), [0]),
    mkdir: wrap(pick('mkdir'), [0]),
    open: wrap(pick('open'), [0]),
    realpath: wrap(pick('realpath'), [0]),
    rm: wrap(pick('rm'), [0]),
    // The link's own path folds; the text it points to is stored as it is.
    symlink: wrap(pick('symlink'), [1]),
    unlink: wrap(pick('unlink'), [0]),
  };
});

let base: string;
let target: string;
let outside: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'ld-casefold-'));
  target = join(base, 'target');
  outside = join(base, 'outside');
  mkdirSync(target);
  mkdirSync(outside);
  writeFileSync(join(outside, 'passwd'), 'outside\n');
  folding.root = target;
});

afterEach(() => {
  folding.root = '';
  rmSync(base, { recursive: true, force: true });
});

describe('extract onto a case-insensitive filesystem', () => {
  it('control: names differing in case are one entry there', async () => {
    const tar = buildTar([
      { path: 'A/one', body: '1' },
      { path: 'a/two', body: '2' },
    ]);
    await extract(streamOf(tar.bytes), target);
    expect(readdirSync(target)).toEqual(['a']);
    expect(readdirSync(join(target, 'a')).sort()).toEqual(['one', 'two']);
  });

  it('refuses a file under a directory that a symbolic link replaced under another spelling', async () => {
    const tar = buildTar([
      { path: 'A/seed', body: 'seed\n' },
      { path: 'a', kind: 'symlink', linkname: outside },
      { path: 'A/evil', body: 'escaped\n' },
    ]);
    await expect(extract(streamOf(tar.bytes), target)).rejects.toThrow(UnsafePathError);
    expect(existsSync(join(outside, 'evil'))).toBe(false);
    expect(readdirSync(outside)).toEqual(['passwd']);
  });

  it("gives a directory's mode to that directory only, not to one a link under another spelling leads to", async () => {
    // `A` and `A/b` are made, then removed by a symbolic link named `a`: their modes, applied
    // at the end, must not reach `outside/b` through it.
    mkdirSync(join(outside, 'b'), { mode: 0o755 });
    const tar = buildTar([
      { path: 'A/', kind: 'directory', mode: 0o700 },
      { path: 'A/b/', kind: 'directory', mode: 0o777 },
      { path: 'a', kind: 'symlink', linkname: outside },
    ]);
    const outcome = await extract(streamOf(tar.bytes), target).then(
      () => 'extracted',
      (err: unknown) => err,
    );
    expect(statSync(join(outside, 'b')).mode & 0o7777).toBe(0o755);
    expect(outcome).toBe('extracted');
    expect(readlinkSync(join(target, 'a'))).toBe(outside);
  });

  it('refuses a hard link through such a directory to a file outside', async () => {
    const tar = buildTar([
      { path: 'X/passwd', body: 'inside\n' },
      { path: 'x', kind: 'symlink', linkname: outside },
      { path: 'y', kind: 'hardlink', linkname: 'X/passwd' },
    ]);
    await expect(extract(streamOf(tar.bytes), target)).rejects.toThrow(UnsafePathError);
    expect(existsSync(join(target, 'y'))).toBe(false);
  });
});
