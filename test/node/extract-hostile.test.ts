/**
 * Hostile tars: every way an entry could reach outside the target directory. For each, the
 * extraction must fail with the typed error (or, where the tar is merely replacing a link,
 * succeed without following it), and nothing outside the target may be created or modified:
 * the target sits two levels inside a sentinel directory whose listing, file contents and
 * modes are compared before and after.
 */
import { createHash } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UnsafePathError } from '../../src/errors.js';
import { type ExtractReport, extract } from '../../src/node/extract.js';
import { streamOf } from '../helpers/streams.js';
import { buildTar, listAll, type TarSpec } from './extract-helpers.js';

let base: string;
let target: string;
/** A unique name, so a file escaping to `/` or to the temp dir would be found. */
let unique: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'ld-hostile-'));
  mkdirSync(join(base, 'inner/target'), { recursive: true });
  mkdirSync(join(base, 'outside-dir'), { mode: 0o755 });
  writeFileSync(join(base, 'outside.txt'), 'sentinel\n');
  target = join(base, 'inner/target');
  unique = `ld-escape-${process.pid}-${Date.now()}`;
});
afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

/** Everything about the sentinel directory outside the target. */
function outsideState(): string {
  const lines: string[] = [];
  for (const rel of listAll(base)) {
    if (rel === 'inner/target' || rel.startsWith('inner/target/')) continue;
    const full = join(base, rel);
    const st = lstatSync(full);
    const hash = st.isFile() ? createHash('sha256').update(readFileSync(full)).digest('hex') : '';
    lines.push(`${rel} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs} ${hash}`);
  }
  const root = lstatSync(base);
  const targetSt = lstatSync(target);
  lines.push(`. ${root.mode.toString(8)} ${root.mtimeMs}`);
  lines.push(`target ${targetSt.isDirectory()} ${targetSt.isSymbolicLink()}`);
  return lines.join('\n');
}

/** Nothing named `unique` appeared at `/`, in the temp dir or beside the sentinel. */
function expectNoEscape(): void {
  for (const dir of ['/', tmpdir(), base, join(base, 'inner'), join(base, 'outside-dir')]) {
    expect(() => lstatSync(join(dir, unique)), `${dir}/${unique}`).toThrow();
    expect(() => lstatSync(join(dir, 'evil')), `${dir}/evil`).toThrow();
  }
}

/** Extracts `specs` and expects an UnsafePathError for entry `bad` (an index into specs). */
async function expectUnsafe(specs: TarSpec[], bad: number): Promise<UnsafePathError> {
  const before = outsideState();
  const { bytes, offsets } = buildTar(specs);
  const err = await extract(streamOf(bytes, 100), target).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UnsafePathError);
  const unsafe = err as UnsafePathError;
  expect(unsafe.code).toBe('ERR_UNSAFE_PATH');
  expect(unsafe.location).toEqual({ path: specs[bad]!.path, offset: offsets[bad] });
  expect(unsafe.message).toContain(JSON.stringify(specs[bad]!.path));
  expect(outsideState()).toBe(before);
  expect(readFileSync(join(base, 'outside.txt'), 'utf8')).toBe('sentinel\n');
  expectNoEscape();
  return unsafe;
}

/** Extracts `specs`, expecting success and nothing touched outside. */
async function expectContained(specs: TarSpec[]): Promise<ExtractReport> {
  const before = outsideState();
  const report = await extract(streamOf(buildTar(specs).bytes, 100), target);
  expect(outsideState()).toBe(before);
  expect(readFileSync(join(base, 'outside.txt'), 'utf8')).toBe('sentinel\n');
  expectNoEscape();
  return report;
}

describe('extract refuses paths that leave the target', () => {
  it('../x', async () => {
    await expectUnsafe(
      [
        { path: 'ok', body: 'x' },
        { path: '../evil', body: 'x' },
      ],
      1,
    );
  });

  it('a/../../x', async () => {
    await expectUnsafe(
      [
        { path: 'a/', kind: 'directory' },
        { path: 'a/../../evil', body: 'x' },
      ],
      1,
    );
  });

  it('a/../b (no .. anywhere, even when it would stay inside)', async () => {
    await expectUnsafe([{ path: 'a/../b', body: 'x' }], 0);
  });

  it('an absolute path', async () => {
    const err = await expectUnsafe([{ path: join(base, unique), body: 'x' }], 0);
    expect(err.message).toContain('absolute');
  });

  it('a non-directory entry naming the target itself', async () => {
    await expectUnsafe([{ path: './', kind: 'symlink', linkname: '/' }], 0);
  });
});

describe('extract never follows a symbolic link in a parent', () => {
  it('symlink a -> / then file a/<name>', async () => {
    await expectUnsafe(
      [
        { path: 'a', kind: 'symlink', linkname: '/' },
        { path: `a/${unique}`, body: 'x' },
      ],
      1,
    );
  });

  it('symlink a -> ../.. then file a/evil', async () => {
    await expectUnsafe(
      [
        { path: 'a', kind: 'symlink', linkname: '../..' },
        { path: 'a/evil', body: 'x' },
      ],
      1,
    );
  });

  it('symlink to an outside directory then a directory entry under it', async () => {
    await expectUnsafe(
      [
        { path: 'a', kind: 'symlink', linkname: join(base, 'outside-dir') },
        { path: 'a/evil/', kind: 'directory', mode: 0o777 },
      ],
      1,
    );
  });

  it('a symlink nested deeper: d/ then d/l -> ../../.. then d/l/evil', async () => {
    await expectUnsafe(
      [
        { path: 'd/', kind: 'directory' },
        { path: 'd/l', kind: 'symlink', linkname: '../../..' },
        { path: 'd/l/evil', body: 'x' },
      ],
      2,
    );
  });

  it('a symlink already in the target, used as a parent', async () => {
    symlinkSync(join(base, 'outside-dir'), join(target, 'usr'));
    await expectUnsafe([{ path: 'usr/bin/evil', body: 'x' }], 0);
  });

  it('symlink then a hard link through it', async () => {
    await expectUnsafe(
      [
        { path: 'f', body: 'inside' },
        { path: 'a', kind: 'symlink', linkname: '../..' },
        { path: 'a/evil', kind: 'hardlink', linkname: 'f' },
      ],
      2,
    );
  });
});

describe('extract refuses hard links to anything but a file it extracted', () => {
  it('to /etc/passwd', async () => {
    await expectUnsafe([{ path: 'h', kind: 'hardlink', linkname: '/etc/passwd' }], 0);
  });

  it('to ../outside.txt', async () => {
    await expectUnsafe([{ path: 'h', kind: 'hardlink', linkname: '../../outside.txt' }], 0);
  });

  it('to a symlink (pointing outside) extracted from the same tar', async () => {
    await expectUnsafe(
      [
        { path: 'l', kind: 'symlink', linkname: join(base, 'outside.txt') },
        { path: 'h', kind: 'hardlink', linkname: 'l' },
      ],
      1,
    );
  });

  it('through a symlinked parent to a file outside', async () => {
    await expectUnsafe(
      [
        { path: 'a', kind: 'symlink', linkname: base },
        { path: 'h', kind: 'hardlink', linkname: 'a/outside.txt' },
      ],
      1,
    );
  });

  it('to a file that a later entry replaced with a symlink', async () => {
    await expectUnsafe(
      [
        { path: 'f', body: 'x' },
        { path: 'f', kind: 'symlink', linkname: join(base, 'outside.txt') },
        { path: 'h', kind: 'hardlink', linkname: 'f' },
      ],
      2,
    );
  });

  it('to a file that was in the target before (not from this tar)', async () => {
    writeFileSync(join(target, 'pre'), 'pre-existing');
    await expectUnsafe([{ path: 'h', kind: 'hardlink', linkname: 'pre' }], 0);
  });

  it('to a directory', async () => {
    await expectUnsafe(
      [
        { path: 'd/', kind: 'directory' },
        { path: 'h', kind: 'hardlink', linkname: 'd' },
      ],
      1,
    );
  });
});

describe('extract replaces links instead of writing through them', () => {
  it('a file entry over an existing symlink to an outside file', async () => {
    symlinkSync(join(base, 'outside.txt'), join(target, 'victim'));
    await expectContained([{ path: 'victim', body: 'evil', mode: 0o666 }]);
    expect(lstatSync(join(target, 'victim')).isFile()).toBe(true);
    expect(readFileSync(join(target, 'victim'), 'utf8')).toBe('evil');
  });

  it('a file entry over a symlink the same tar made', async () => {
    await expectContained([
      { path: 'victim', kind: 'symlink', linkname: '../../outside.txt' },
      { path: 'victim', body: 'evil', mode: 0o777 },
    ]);
    expect(readFileSync(join(target, 'victim'), 'utf8')).toBe('evil');
  });

  it('a directory entry over a symlink to an outside directory', async () => {
    await expectContained([
      { path: 'd', kind: 'symlink', linkname: join(base, 'outside-dir') },
      { path: 'd/', kind: 'directory', mode: 0o777, mtime: 1 },
      { path: 'd/evil', body: 'x' },
    ]);
    expect(lstatSync(join(target, 'd')).isDirectory()).toBe(true);
    expect(readFileSync(join(target, 'd/evil'), 'utf8')).toBe('x');
  });

  it('a directory replaced by a symlink keeps its deferred metadata off the link target', async () => {
    await expectContained([
      { path: 'd/', kind: 'directory', mode: 0o777, mtime: 1 },
      { path: 'd', kind: 'symlink', linkname: join(base, 'outside-dir') },
    ]);
    expect(lstatSync(join(target, 'd')).isSymbolicLink()).toBe(true);
  });

  it('a symlink, fifo and hard link over existing symlinks', async () => {
    for (const name of ['s', 'p', 'h']) symlinkSync(join(base, 'outside.txt'), join(target, name));
    await expectContained([
      { path: 'f', body: 'x' },
      { path: 's', kind: 'symlink', linkname: 'f' },
      { path: 'p', kind: 'fifo' },
      { path: 'h', kind: 'hardlink', linkname: 'f' },
    ]);
    expect(lstatSync(join(target, 'p')).isFIFO()).toBe(true);
    expect(lstatSync(join(target, 'h')).ino).toBe(lstatSync(join(target, 'f')).ino);
  });

  it('a symlink may point anywhere: it is stored, never followed', async () => {
    await expectContained([
      { path: 'up', kind: 'symlink', linkname: '../../../../../../..' },
      { path: 'abs', kind: 'symlink', linkname: '/etc/passwd' },
    ]);
    expect(lstatSync(join(target, 'abs')).isSymbolicLink()).toBe(true);
  });
});
