/**
 * extract as an unprivileged user: the built command line run as `nobody` (through `runuser`)
 * must give the same tree as root's extraction, except ownership (left to the user and
 * counted), device nodes (skipped with a warning) and xattrs outside `user.*`, which an
 * include pattern does not change.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExtractReport, extract } from '../../src/node/extract.js';
import { fileSource } from '../../src/node/io.js';
import { CLI, requireDist, runProcess } from '../cli/run.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { isRoot, toolsAvailable } from '../helpers/tools.js';
import { listAll, snapshot } from './extract-helpers.js';

const NOBODY = 65534;
// Switching to another user needs root; CI runs as root, so this runs there.
const canSwitch = isRoot && toolsAvailable('runuser', 'tar', 'mkfifo', 'mknod', 'setfattr');

describe.skipIf(!canSwitch)('extract as nobody (needs root to switch user)', () => {
  let base: string;
  let tarPath: string;

  beforeAll(() => {
    requireDist();
    base = mkdtempSync(join(tmpdir(), 'ld-nobody-'));
    chmodSync(base, 0o777); // reachable by nobody
    const src = join(base, 'src');
    mkdirSync(join(src, 'ro/deeper'), { recursive: true });
    mkdirSync(join(src, 'tmp'));
    writeFileSync(join(src, 'ro/deeper/file'), pseudoRandom(100_000, 5));
    writeFileSync(join(src, 'ro/top'), 'top\n');
    writeFileSync(join(src, 'owned'), 'owned by 1234\n');
    writeFileSync(join(src, 'setuid'), '#!/bin/sh\n');
    linkSync(join(src, 'ro/top'), join(src, 'hard'));
    symlinkSync('ro/top', join(src, 'link'));
    execFileSync('mkfifo', [join(src, 'fifo')]);
    execFileSync('mknod', [join(src, 'null'), 'c', '1', '3']);
    execFileSync('setfattr', ['-n', 'user.note', '-v', 'hello', join(src, 'owned')]);
    execFileSync('setfattr', ['-n', 'trusted.secret', '-v', 'x', join(src, 'owned')]);
    chownSync(join(src, 'owned'), 1234, 5678);
    chmodSync(join(src, 'setuid'), 0o4755);
    chmodSync(join(src, 'tmp'), 0o1777);
    chmodSync(join(src, 'ro/deeper/file'), 0o400);
    chmodSync(join(src, 'ro/deeper'), 0o500);
    chmodSync(join(src, 'ro'), 0o555);
    execFileSync('find', [src, '-exec', 'touch', '-h', '-d', '@1700000000', '{}', '+']);
    tarPath = join(base, 'layer.tar');
    execFileSync('tar', ['--xattrs', '--format=pax', '-cf', tarPath, '-C', src, '.']);
    chmodSync(tarPath, 0o644);
  });
  afterAll(() => {
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('gives root’s tree but for ownership, devices and non-user xattrs', async () => {
    const rootOut = join(base, 'as-root');
    const rootReport = await extract(fileSource(tarPath), rootOut);
    expect(rootReport).toMatchObject({ devices: 1, ownershipNotApplied: 0, xattrs: 2 });

    const target = join(base, 'as-nobody');
    mkdirSync(target);
    chownSync(target, NOBODY, NOBODY);
    const r = await runProcess('runuser', [
      '-u',
      'nobody',
      '--',
      process.execPath,
      CLI,
      'extract-tar',
      tarPath,
      '--dir',
      target,
      '--json',
    ]);
    expect(r.stderr).toMatch(/warning: \.\/null: char device 1,3 not created: not running as root/);
    expect(r.stderr).toMatch(/warning: \.\/owned: xattr trusted\.secret needs root/);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout.toString('utf8')) as ExtractReport;

    // Every entry with an owner of its own (all but the hard link and the skipped device) is
    // owned by root or 1234 in the tar, so none got its ownership.
    expect(report).toMatchObject({
      devices: 0,
      devicesSkipped: 1,
      hardlinks: 1,
      xattrs: 1,
      ownershipNotApplied: report.entries - 2,
    });
    expect(report.warnings.map((w) => w.code).sort()).toEqual([
      'device-skipped',
      'xattr-not-applied',
    ]);

    const expected = snapshot(rootOut, { owners: false });
    delete expected.null;
    expect(snapshot(target, { owners: false })).toEqual(expected);
    for (const rel of ['.', ...listAll(target)]) {
      const st = lstatSync(rel === '.' ? target : join(target, rel));
      expect([st.uid, st.gid], rel).toEqual([NOBODY, NOBODY]);
    }
    expect(lstatSync(join(target, 'setuid')).mode & 0o7777).toBe(0o4755);
    expect(lstatSync(join(target, 'ro/deeper')).mode & 0o7777).toBe(0o500);
    const note = execFileSync('getfattr', [
      '--only-values',
      '-n',
      'user.note',
      join(target, 'owned'),
    ]);
    expect(note.toString()).toBe('hello');
  });

  it('warns, as nobody, of a non-user xattr the filter includes: it needs root', async () => {
    const target = join(base, 'include-trusted');
    mkdirSync(target);
    chownSync(target, NOBODY, NOBODY);
    const r = await runProcess('runuser', [
      '-u',
      'nobody',
      '--',
      process.execPath,
      CLI,
      'extract-tar',
      tarPath,
      '--dir',
      target,
      '--xattrs-include=trusted.*',
      '--json',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: \.\/owned: xattr user\.note not applied \(excluded\)/);
    expect(r.stderr).toMatch(/warning: \.\/owned: xattr trusted\.secret needs root/);
    expect(JSON.parse(r.stdout.toString('utf8'))).toMatchObject({ xattrs: 0 });
  });

  it('fails with a typed error, as nobody, into a directory nobody may not write', async () => {
    const target = join(base, 'root-owned');
    mkdirSync(target, { mode: 0o755 });
    const r = await runProcess('runuser', [
      '-u',
      'nobody',
      '--',
      process.execPath,
      CLI,
      'extract-tar',
      tarPath,
      '--dir',
      target,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^layerdiff extract-tar: ERR_EXTRACT: EACCES: .* in entry "\.\/.*" at tar offset \d+\n$/,
    );
  });
});
