/**
 * extract(): trees made by GNU tar and by encodeHeader, extracted by extract() and by GNU tar
 * itself, must come out the same (types, contents, modes, times, owners, link targets, hard
 * link identity); sparse files, xattrs, replacement rules, reports and typed errors.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtractError, TarTruncatedError } from '../../src/errors.js';
import { extract } from '../../src/node/extract.js';
import { fileSource } from '../../src/node/io.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { sha256, streamOf } from '../helpers/streams.js';
import { isRoot, toolsAvailable } from '../helpers/tools.js';
import { buildTar, snapshot, type TarSpec, tempDir } from './extract-helpers.js';

const hasTar = toolsAvailable('tar', 'mkfifo', 'truncate', 'setfattr', 'getfattr');
const T0 = 1_700_000_000;
let tmp: string;

beforeAll(() => {
  tmp = tempDir(tmpdir(), 'ld-extract-');
});
afterAll(() => {
  // Read-only directories do not stop root, but make sure a non-root run can clean up too.
  execFileSync('chmod', ['-R', 'u+rwx', tmp]);
  rmSync(tmp, { recursive: true, force: true });
});

/** Extracts `tarPath` with GNU tar into a fresh directory. */
function gnuExtract(tarPath: string, name: string, extra: string[] = []): string {
  const out = join(tmp, name);
  mkdirSync(out);
  execFileSync('tar', ['-xf', tarPath, '-C', out, ...extra]);
  return out;
}

/** Writes tar bytes to a file and returns its path. */
function writeTar(name: string, bytes: Uint8Array): string {
  const path = join(tmp, `${name}.tar`);
  writeFileSync(path, bytes);
  return path;
}

/** Sets a path's times without following a symbolic link. */
function touch(path: string, sec: number): void {
  execFileSync('touch', ['-h', '-d', `@${sec}`, path]);
}

describe.skipIf(!hasTar)('extract against GNU tar', () => {
  /** A source tree with every type GNU tar archives, made once. */
  function makeSource(): string {
    const src = join(tmp, 'src');
    mkdirSync(join(src, 'usr/bin'), { recursive: true });
    mkdirSync(join(src, 'ro/inner'), { recursive: true });
    mkdirSync(join(src, 'tmp'));
    writeFileSync(join(src, 'usr/bin/tool'), pseudoRandom(200_000, 7));
    writeFileSync(join(src, 'empty'), '');
    writeFileSync(join(src, 'ro/inner/file'), 'inside a read-only dir\n');
    writeFileSync(join(src, 'setuid'), '#!/bin/sh\n');
    linkSync(join(src, 'usr/bin/tool'), join(src, 'usr/bin/tool-link'));
    linkSync(join(src, 'usr/bin/tool'), join(src, 'hard2'));
    symlinkSync('usr/bin/tool', join(src, 'rel-link'));
    symlinkSync('/etc/passwd', join(src, 'abs-link'));
    symlinkSync('nowhere', join(src, 'dangling'));
    execFileSync('mkfifo', [join(src, 'fifo')]);
    const long = join(src, `${'d'.repeat(60)}/${'e'.repeat(60)}`);
    mkdirSync(long, { recursive: true });
    writeFileSync(join(long, `${'f'.repeat(80)}.txt`), 'long name\n');
    writeFileSync(join(src, 'ünïcode.txt'), 'utf-8 name\n');
    if (isRoot) {
      execFileSync('mknod', [join(src, 'null'), 'c', '1', '3']);
      execFileSync('mknod', [join(src, 'loop'), 'b', '7', '200']);
      execFileSync('chown', ['1234:5678', join(src, 'usr/bin/tool')]);
      execFileSync('chown', ['-h', '42:43', join(src, 'rel-link')]);
      execFileSync('chown', ['7:8', join(src, 'ro')]);
    }
    chmodSync(join(src, 'setuid'), 0o4755);
    chmodSync(join(src, 'tmp'), 0o1777);
    chmodSync(join(src, 'usr/bin/tool'), 0o751);
    chmodSync(join(src, 'ro/inner'), 0o500);
    chmodSync(join(src, 'ro'), 0o555);
    let t = T0;
    for (const p of execFileSync('find', [src, '-depth'], { encoding: 'utf8' }).split('\n')) {
      if (p) touch(p, t++);
    }
    return src;
  }

  let src: string;
  beforeAll(() => {
    src = makeSource();
  });

  for (const fmt of ['gnu', 'pax', 'ustar'] as const) {
    it(`extracts a GNU tar --format=${fmt} archive as GNU tar does`, async () => {
      const tarPath = join(tmp, `src-${fmt}.tar`);
      execFileSync('tar', [`--format=${fmt}`, '--sort=name', '-cf', tarPath, '-C', src, '.']);
      const ours = join(tmp, `ours-${fmt}`);
      const report = await extract(fileSource(tarPath), ours);
      const theirs = gnuExtract(tarPath, `gnu-${fmt}`);
      expect(snapshot(ours)).toEqual(snapshot(theirs));
      const mine = snapshot(ours);
      expect(mine['usr/bin/tool-link']?.sameAs).toBe('hard2');
      expect(mine.setuid?.mode).toBe(0o4755);
      expect(mine.tmp?.mode).toBe(0o1777);
      expect(mine.ro?.mode).toBe(0o555);
      expect(mine['.']?.mtimeUs).toBe(snapshot(src)['.']?.mtimeUs);
      expect(report).toMatchObject({
        hardlinks: 2,
        symlinks: 3,
        fifos: 1,
        devices: isRoot ? 2 : 0,
        ownershipNotApplied: 0,
        warningCount: 0,
      });
      if (isRoot) {
        expect(mine['usr/bin/tool']).toMatchObject({ uid: 1234, gid: 5678 });
        expect(mine['rel-link']).toMatchObject({ uid: 42, gid: 43 });
        expect(mine.null).toMatchObject({ type: 'char', rdev: (1 << 8) | 3 });
      }
    });
  }

  it('extracts an incremental archive (GNU dumpdir directories) as GNU tar does', async () => {
    const tarPath = join(tmp, 'incremental.tar');
    execFileSync('tar', ['-g', join(tmp, 'snar'), '--sort=name', '-cf', tarPath, '-C', src, '.']);
    expect(execFileSync('tar', ['-tvf', tarPath], { encoding: 'utf8' })).toMatch(/^d.*usr\/$/m);
    const ours = join(tmp, 'ours-incremental');
    const report = await extract(fileSource(tarPath), ours);
    expect(report.warningCount).toBe(0);
    expect(snapshot(ours)).toEqual(snapshot(gnuExtract(tarPath, 'gnu-incremental')));
    expect(snapshot(ours).ro?.mode).toBe(0o555);
  });

  it('gives the same result whatever the input piece sizes', async () => {
    const tarPath = join(tmp, 'pieces.tar');
    execFileSync('tar', ['--format=pax', '-cf', tarPath, '-C', src, '.']);
    const bytes = readFileSync(tarPath);
    const whole = join(tmp, 'pieces-whole');
    await extract(streamOf(bytes, 1 << 20), whole);
    const tiny = join(tmp, 'pieces-tiny');
    await extract(streamOf(bytes, [1, 7, 511, 513, 4096]), tiny);
    expect(snapshot(tiny)).toEqual(snapshot(whole));
  });

  it('sets sub-second times to the microsecond GNU tar sets, even a hair below the next one', async () => {
    const src = join(tmp, 'times-src');
    mkdirSync(src);
    // Nanoseconds just under a microsecond boundary, where a double's rounding used to tip the
    // time into the next microsecond (one off from GNU tar, in about one run in ten).
    const stamps = ['1795735114.243926999', '1795735114.000000999', '1700000000.999999999'];
    stamps.forEach((t, i) => {
      const f = join(src, `f${i}`);
      writeFileSync(f, `${i}`);
      execFileSync('touch', ['-m', '-d', `@${t}`, f]);
    });
    execFileSync('touch', ['-m', '-d', `@${stamps[0]}`, src]);
    const tarPath = join(tmp, 'times.tar');
    execFileSync('tar', ['--format=pax', '-cf', tarPath, '-C', src, '.']);
    const ours = join(tmp, 'times-ours');
    await extract(fileSource(tarPath), ours);
    stamps.forEach((t, i) => {
      const [sec, frac] = t.split('.') as [string, string];
      const micros = BigInt(sec) * 1_000_000n + BigInt(frac.slice(0, 6));
      expect(statSync(join(ours, `f${i}`), { bigint: true }).mtimeNs / 1000n, t).toBe(micros);
    });
    expect(snapshot(ours)).toEqual(snapshot(gnuExtract(tarPath, 'times-gnu')));
  });

  it('recreates sparse files of every GNU sparse format, holes included', async () => {
    const sp = join(tmp, 'sparse-src');
    mkdirSync(sp);
    const file = join(sp, 'holes');
    writeFileSync(file, '');
    execFileSync('truncate', ['-s', String(64 << 20), file]);
    const data = pseudoRandom(10_000, 3);
    execFileSync('dd', ['of=' + file, 'bs=1', 'seek=12345', 'conv=notrunc', 'status=none'], {
      input: data,
    });
    execFileSync('dd', ['of=' + file, 'bs=1', `seek=${40 << 20}`, 'conv=notrunc', 'status=none'], {
      input: data.subarray(0, 777),
    });
    writeFileSync(join(sp, 'dense'), pseudoRandom(3000, 9));
    const variants: Array<[string, string[]]> = [
      ['gnu-old', ['--format=gnu']],
      ['pax-0.0', ['--format=pax', '--sparse-version=0.0']],
      ['pax-0.1', ['--format=pax', '--sparse-version=0.1']],
      ['pax-1.0', ['--format=pax', '--sparse-version=1.0']],
    ];
    for (const [name, args] of variants) {
      const tarPath = join(tmp, `sparse-${name}.tar`);
      execFileSync('tar', [...args, '-S', '-cf', tarPath, '-C', sp, '.']);
      const ours = join(tmp, `sparse-ours-${name}`);
      await extract(fileSource(tarPath, { readSize: 1000 }), ours);
      expect(snapshot(ours), name).toEqual(snapshot(gnuExtract(tarPath, `sparse-gnu-${name}`)));
      // Holes stay holes: far fewer blocks than the 64 MiB size.
      expect(statSync(join(ours, 'holes')).blocks * 512, name).toBeLessThan(1 << 20);
    }
  });
});

describe.skipIf(!hasTar)('extract: tars built with encodeHeader', () => {
  const body = 'hello\n';
  const specs: TarSpec[] = [
    { path: './', kind: 'directory', mode: 0o750, mtime: T0 },
    { path: 'dir/', kind: 'directory', mode: 0o711, mtime: T0 + 1, uid: 11, gid: 12 },
    { path: 'dir/file', mode: 0o640, mtime: T0 + 2, uid: 13, gid: 14, body },
    { path: 'dir/old', typeflag: '\0', mode: 0o600, mtime: T0 + 3, body: 'old-style\n' },
    { path: 'contig', kind: 'contiguous', mode: 0o644, mtime: T0 + 4, body: 'contiguous\n' },
    { path: 'hard', kind: 'hardlink', linkname: 'dir/file', mtime: T0 + 5 },
    {
      path: 'sym',
      kind: 'symlink',
      linkname: 'dir/file',
      mtime: { sec: T0 + 6, nsec: 250_000_000 },
    },
    { path: 'fifo', kind: 'fifo', mode: 0o620, mtime: T0 + 7 },
    { path: `long/${'x'.repeat(120)}`, kind: 'directory', mode: 0o755, mtime: T0 + 8 },
    { path: `long/${'x'.repeat(120)}/${'y'.repeat(120)}`, mode: 0o444, mtime: T0 + 8, body },
    { path: 'long', kind: 'directory', mode: 0o755, mtime: T0 + 9 },
    { path: 'sub-second', mtime: { sec: T0 + 10, nsec: 123_456_000 }, body },
    { path: 'négatif', mtime: -86_400, body },
    { path: 'big-ids', uid: 3_000_000, gid: 2_000_000, mtime: T0, body },
    { path: 'ro-dir/', kind: 'directory', mode: 0o500, mtime: T0 + 11 },
    { path: 'ro-dir/child', mode: 0o400, mtime: T0 + 12, body },
  ];
  if (isRoot) {
    specs.push(
      { path: 'char', kind: 'char', devmajor: 1, devminor: 5, mode: 0o666, mtime: T0 },
      { path: 'block', kind: 'block', devmajor: 7, devminor: 9, mode: 0o660, mtime: T0 },
    );
  }

  it('extracts every entry type as GNU tar does', async () => {
    const { bytes } = buildTar(specs);
    const tarPath = writeTar('encoded', bytes);
    const ours = join(tmp, 'encoded-ours');
    const report = await extract(streamOf(bytes, 777), ours);
    expect(snapshot(ours)).toEqual(snapshot(gnuExtract(tarPath, 'encoded-gnu')));
    const mine = snapshot(ours);
    expect(mine.hard?.sameAs ?? mine['dir/file']?.sameAs).toBeDefined();
    expect(mine['.']).toMatchObject({ mode: 0o750, mtimeUs: BigInt(T0) * 1_000_000n });
    expect(mine['sub-second']?.mtimeUs).toBe(BigInt(T0 + 10) * 1_000_000n + 123_456n);
    expect(mine.sym).toMatchObject({
      target: 'dir/file',
      mtimeUs: BigInt(T0 + 6) * 1_000_000n + 250_000n,
    });
    expect(mine.négatif?.mtimeUs).toBe(-86_400_000_000n);
    expect(mine['ro-dir']?.mode).toBe(0o500);
    expect(report).toMatchObject({
      entries: specs.length,
      files: 8,
      dirs: 5,
      symlinks: 1,
      hardlinks: 1,
      fifos: 1,
      devices: isRoot ? 2 : 0,
      skipped: 0,
      ownershipNotApplied: 0,
    });
  });

  it.runIf(isRoot)(
    'leaves, with a warning, owners beyond what Linux ids hold, and applies the others',
    async () => {
      const { bytes, offsets } = buildTar([
        { path: 'big-gid', body: 'x', uid: 7, gid: 2 ** 32 },
        { path: 'minus-one', body: 'x', uid: 2 ** 32 - 1, gid: 7 },
        { path: 'fits', body: 'x', uid: 2 ** 32 - 2, gid: 8 },
      ]);
      const out = join(tmp, 'owners');
      const warnings: unknown[] = [];
      const report = await extract(streamOf(bytes), out, { onWarning: (w) => warnings.push(w) });
      expect(warnings).toEqual([
        expect.objectContaining({ code: 'owner-not-applied', path: 'big-gid', offset: 0 }),
        expect.objectContaining({ code: 'owner-not-applied', offset: offsets[1] }),
      ]);
      expect(report.ownershipNotApplied).toBe(2);
      expect(lstatSync(join(out, 'big-gid'))).toMatchObject({ uid: 0, gid: 0 });
      expect(lstatSync(join(out, 'fits'))).toMatchObject({ uid: 2 ** 32 - 2, gid: 8 });
    },
  );

  it.runIf(isRoot)(
    'gives a directory its owner only at the end: another user cannot change the tree mid-run',
    async () => {
      // A user the tar names as a directory's owner, holding it while the rest is written,
      // could put a symbolic link in place of a subdirectory known to be real.
      const first = buildTar([
        { path: 'd/', kind: 'directory', mode: 0o755, uid: 65534, gid: 65534 },
        { path: 'd/sub/', kind: 'directory', mode: 0o755 },
        { path: 'd/sub/first', body: '1', uid: 65534, gid: 65534 },
      ]).bytes;
      const rest = buildTar([{ path: 'd/sub/second', body: '2' }]).bytes;
      let resume = () => {};
      const paused = new Promise<void>((r) => {
        resume = r;
      });
      const source = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(first.subarray(0, first.length - 1024)); // no end blocks yet
          await paused;
          controller.enqueue(rest);
          controller.close();
        },
      });
      const out = join(tmp, 'owner-at-end');
      const done = extract(source, out);
      const firstFile = join(out, 'd', 'sub', 'first');
      for (let i = 0; i < 500 && !existsSync(firstFile); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(existsSync(firstFile)).toBe(true);
      // Mid-run: still the extracting user's, and closed to others.
      expect(lstatSync(join(out, 'd'))).toMatchObject({ uid: 0, gid: 0 });
      expect(lstatSync(join(out, 'd')).mode & 0o777).toBe(0o700);
      resume();
      await done;
      expect(lstatSync(join(out, 'd'))).toMatchObject({ uid: 65534, gid: 65534 });
      expect(lstatSync(join(out, 'd')).mode & 0o7777).toBe(0o755);
      expect(readFileSync(join(out, 'd', 'sub', 'second'), 'utf8')).toBe('2');
    },
  );

  it('skips, with a warning, a symbolic link with an empty target, leaving what was there', async () => {
    const { bytes, offsets } = buildTar([
      { path: 'x', body: 'kept' },
      { path: 'x', kind: 'symlink', linkname: '' },
      { path: 'y', kind: 'symlink', linkname: '' },
    ]);
    const out = join(tmp, 'empty-link');
    const warnings: unknown[] = [];
    const report = await extract(streamOf(bytes), out, { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([
      expect.objectContaining({ code: 'entry-skipped', path: 'x', offset: offsets[1] }),
      expect.objectContaining({ code: 'entry-skipped', path: 'y', offset: offsets[2] }),
    ]);
    expect(report).toMatchObject({ files: 1, symlinks: 0, skipped: 2 });
    expect(readFileSync(join(out, 'x'), 'utf8')).toBe('kept');
    expect(existsSync(join(out, 'y'))).toBe(false);
  });

  it('leaves runs of zeros in a file as holes (a sparse file flattened out stays small)', async () => {
    const size = 8 * 1024 * 1024;
    const content = new Uint8Array(size);
    content.set(pseudoRandom(10_000, 3), 1_000_000);
    content.set(pseudoRandom(5, 4), 4 * 1024 * 1024 + 3);
    const { bytes } = buildTar([{ path: 'zeros', body: content }]);
    const out = join(tmp, 'holes');
    await extract(streamOf(bytes, 65_536), out);
    const file = join(out, 'zeros');
    expect(sha256(readFileSync(file))).toBe(sha256(content));
    const st = lstatSync(file);
    expect(st.size).toBe(size);
    // Written: the two pieces with data, not the 8 MiB around them.
    expect(st.blocks * 512).toBeLessThan(1024 * 1024);
  });

  it.runIf(toolsAvailable('python3'))(
    'skips, with a warning, names that are not UTF-8 instead of merging them',
    async () => {
      // Latin-1 names, as old tars have them: both would decode to "caf\uFFFD".
      const tarPath = join(tmp, 'latin1.tar');
      execFileSync('python3', [
        '-c',
        `import tarfile, io
t = tarfile.open(${JSON.stringify(tarPath)}, 'w', format=tarfile.GNU_FORMAT, encoding='latin-1')
for name, data in [('caf\u00e9', b'e-acute'), ('caf\u00e8', b'e-grave'), ('ok', b'fine')]:
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
l = tarfile.TarInfo('link'); l.type = tarfile.SYMTYPE; l.linkname = 'caf\u00e9'; t.addfile(l)
t.close()`,
      ]);
      const out = join(tmp, 'latin1');
      const report = await extract(fileSource(tarPath), out);
      expect(readdirSync(out)).toEqual(['ok']);
      expect(report.files).toBe(1);
      expect(report.skipped).toBe(3);
      expect(report.warnings.map((w) => w.code)).toEqual([
        'entry-skipped',
        'entry-skipped',
        'entry-skipped',
      ]);
      expect(report.warnings[0]!.message).toMatch(/not UTF-8/);
      // A U+FFFD that the name's bytes spell is a name like any other (ustar, GNU long name).
      const realPath = join(tmp, 'replacement.tar');
      const long = `${'long/'.repeat(25)}x\ufffd`;
      execFileSync('python3', [
        '-c',
        `import tarfile, io
t = tarfile.open(${JSON.stringify(realPath)}, 'w', format=tarfile.GNU_FORMAT)
for name in ['real\ufffd', ${JSON.stringify(long)}]:
    i = tarfile.TarInfo(name); i.size = 1; t.addfile(i, io.BytesIO(b'r'))
l = tarfile.TarInfo('link'); l.type = tarfile.SYMTYPE; l.linkname = 'real\ufffd'; t.addfile(l)
t.close()`,
      ]);
      const real = await extract(fileSource(realPath), join(tmp, 'replacement'));
      expect(real).toMatchObject({ files: 2, symlinks: 1, skipped: 0, warnings: [] });
      expect(readFileSync(join(tmp, 'replacement', 'real\ufffd'), 'utf8')).toBe('r');
      expect(readFileSync(join(tmp, 'replacement', long), 'utf8')).toBe('r');
    },
  );

  it('applies a pax atime, and the mtime as atime when there is none', async () => {
    const { bytes } = buildTar([
      { path: 'a', mtime: T0, atime: { sec: T0 + 100, nsec: 500_000_000 }, body },
      { path: 'b', mtime: T0, body },
    ]);
    const out = join(tmp, 'atime');
    await extract(streamOf(bytes), out);
    expect(lstatSync(join(out, 'a')).atimeMs).toBe((T0 + 100.5) * 1000);
    expect(lstatSync(join(out, 'b')).atimeMs).toBe(T0 * 1000);
  });

  it('applies xattrs, or warns when told not to', async () => {
    const value = new Uint8Array([0, 1, 2, 255]);
    const { bytes } = buildTar([
      { path: 'd/', kind: 'directory', mode: 0o555, xattrs: { 'user.dir': value } },
      {
        path: 'd/f',
        mode: 0o444,
        // An empty value is an empty xattr, as GNU tar writes and restores one.
        xattrs: { 'user.one': value, 'user.two': value, 'user.empty': new Uint8Array(0) },
        body,
      },
    ]);
    const out = join(tmp, 'xattrs');
    const report = await extract(streamOf(bytes), out);
    const get = (p: string, n: string) =>
      execFileSync('getfattr', ['--only-values', '-n', n, join(out, p)]);
    expect(report.warnings).toEqual([]);
    expect(new Uint8Array(get('d/f', 'user.one'))).toEqual(value);
    expect(new Uint8Array(get('d/f', 'user.two'))).toEqual(value);
    expect(new Uint8Array(get('d', 'user.dir'))).toEqual(value);
    expect(get('d/f', 'user.empty').length).toBe(0);
    expect(report.xattrs).toBe(4);
    expect(lstatSync(join(out, 'd/f')).mode & 0o7777).toBe(0o444);

    const off = await extract(streamOf(bytes), join(tmp, 'xattrs-off'), { xattrs: false });
    expect(off.xattrs).toBe(0);
    expect(off.warnings.map((w) => [w.code, w.path])).toEqual([
      ['xattr-not-applied', 'd/'],
      ['xattr-not-applied', 'd/f'],
    ]);
  });

  it('applies xattrs whose names hold any byte, all at once', async () => {
    const names = ['user.a:b', 'user.line\nbreak', 'user.sp ace', 'user.ünï', 'user.back\\slash'];
    const xattrs = Object.fromEntries(names.map((n, i) => [n, new Uint8Array([i, 0, 255])]));
    const { bytes } = buildTar([{ path: 'odd name=\n', xattrs, body }]);
    const out = join(tmp, 'xattr-names');
    const report = await extract(streamOf(bytes), out);
    expect(report.warnings).toEqual([]);
    expect(report.xattrs).toBe(5);
    const dump = execFileSync(
      'getfattr',
      ['-d', '-e', 'hex', '--absolute-names', join(out, 'odd name=\n')],
      {
        encoding: 'utf8',
      },
    );
    // getfattr quotes names as setfattr reads them: newline, space and non-ASCII in octal.
    expect(dump).toContain('user.a:b=0x0000ff');
    expect(dump).toContain('user.line\\012break=0x0100ff');
    expect(dump.match(/^user\./gm)).toHaveLength(5);
  });

  it('skips unknown entry types with a bounded list of warnings', async () => {
    const specs: TarSpec[] = [];
    for (let i = 0; i < 5; i++) specs.push({ path: `v${i}`, typeflag: 'Z', body: 'skipped body' });
    specs.push({ path: 'after', body });
    const seen: string[] = [];
    const out = join(tmp, 'unknown');
    const report = await extract(streamOf(buildTar(specs).bytes), out, {
      maxWarnings: 2,
      onWarning: (w) => seen.push(w.path),
    });
    expect(report.skipped).toBe(5);
    expect(report.warningCount).toBe(5);
    expect(report.warnings.map((w) => [w.code, w.path])).toEqual([
      ['entry-skipped', 'v0'],
      ['entry-skipped', 'v1'],
    ]);
    expect(seen).toHaveLength(5);
    expect(readFileSync(join(out, 'after'), 'utf8')).toBe(body);
    expect(existsSync(join(out, 'v0'))).toBe(false);
  });
});

describe('extract: replacing what is there', () => {
  it('replaces files, keeps directories, removes a directory tree under a non-directory', async () => {
    const out = join(tmp, 'replace');
    mkdirSync(join(out, 'keep/old'), { recursive: true });
    writeFileSync(join(out, 'keep/old/f'), 'old');
    writeFileSync(join(out, 'file'), 'old contents that are longer');
    linkSync(join(out, 'file'), join(out, 'other-name'));
    mkdirSync(join(out, 'tree/deep'), { recursive: true });
    writeFileSync(join(out, 'tree/deep/f'), 'x');
    writeFileSync(join(out, 'was-file'), 'x');
    const { bytes } = buildTar([
      { path: 'keep', kind: 'directory', mode: 0o700, mtime: T0 },
      { path: 'file', body: 'new', mtime: T0 },
      { path: 'tree', kind: 'symlink', linkname: 'keep' },
      { path: 'was-file/', kind: 'directory', mode: 0o755 },
      { path: 'was-file/x', body: 'x' },
      { path: 'twice', body: 'first' },
      { path: 'twice', body: 'second' },
    ]);
    await extract(streamOf(bytes), out);
    expect(readFileSync(join(out, 'keep/old/f'), 'utf8')).toBe('old');
    expect(lstatSync(join(out, 'keep')).mode & 0o7777).toBe(0o700);
    expect(readFileSync(join(out, 'file'), 'utf8')).toBe('new');
    // The old inode (still linked elsewhere) was unlinked, not overwritten.
    expect(readFileSync(join(out, 'other-name'), 'utf8')).toBe('old contents that are longer');
    expect(lstatSync(join(out, 'tree')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(out, 'was-file/x'), 'utf8')).toBe('x');
    expect(readFileSync(join(out, 'twice'), 'utf8')).toBe('second');
  });

  it('applies a later entry for the same directory, after its children', async () => {
    const out = join(tmp, 'dir-twice');
    const { bytes } = buildTar([
      { path: 'd', kind: 'directory', mode: 0o777, mtime: T0 },
      { path: 'd/f', body: 'x', mtime: T0 },
      { path: 'd', kind: 'directory', mode: 0o500, mtime: T0 + 5 },
      { path: 'd/g', body: 'y', mtime: T0 },
    ]);
    await extract(streamOf(bytes), out);
    const st = lstatSync(join(out, 'd'));
    expect(st.mode & 0o7777).toBe(0o500);
    expect(st.mtimeMs).toBe((T0 + 5) * 1000);
    expect(readFileSync(join(out, 'd/g'), 'utf8')).toBe('y');
  });
});

describe('extract: errors', () => {
  it('rejects a truncated tar with the tokenizer error', async () => {
    const { bytes } = buildTar([{ path: 'f', body: 'x'.repeat(2000) }]);
    const err = await extract(streamOf(bytes.subarray(0, 1200)), join(tmp, 'trunc')).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TarTruncatedError);
  });

  it('rejects an entry under a regular file with ExtractError naming the entry', async () => {
    const { bytes, offsets } = buildTar([
      { path: 'f', body: 'x' },
      { path: 'f/g', body: 'y' },
    ]);
    const err = await extract(streamOf(bytes), join(tmp, 'under-file')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExtractError);
    expect(err).toMatchObject({
      code: 'ERR_EXTRACT',
      location: { path: 'f/g', offset: offsets[1] },
    });
  });

  it('rejects a sparse map that does not match the body', async () => {
    const { bytes } = buildTar([
      {
        path: 'sp',
        body: 'abc',
        pax: { 'GNU.sparse.map': '0,2', 'GNU.sparse.size': '100' },
      },
    ]);
    await expect(extract(streamOf(bytes), join(tmp, 'bad-sparse'))).rejects.toMatchObject({
      code: 'ERR_TAR_FORMAT',
    });
  });

  it('rejects with the signal reason when aborted', async () => {
    const controller = new AbortController();
    const { bytes } = buildTar([
      { path: 'a', body: 'x' },
      { path: 'b', body: 'y' },
    ]);
    const out = join(tmp, 'aborted');
    const p = extract(streamOf(bytes, 512), out, {
      signal: controller.signal,
      onWarning: () => {},
    });
    controller.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });
});
