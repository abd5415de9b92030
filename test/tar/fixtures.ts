/**
 * Builds real tar archives at test time with GNU tar, bsdtar (when installed) and Python's
 * tarfile, into a temporary directory.
 */
import { execFileSync } from 'node:child_process';
import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pseudoRandom } from '../helpers/bytes.js';
import { BSDTAR, GNU_TAR, hasBsdtar, python } from './helpers.js';

export interface Fixture {
  name: string;
  file: string;
  bytes: Uint8Array;
}

const MTIME = '@1600000000';

function touchAll(dir: string): void {
  execFileSync('find', [dir, '-exec', 'touch', '-h', '-d', MTIME, '{}', '+']);
}

function makeTrees(root: string): void {
  const basic = join(root, 'basic');
  mkdirSync(join(basic, 'sub'), { recursive: true });
  writeFileSync(join(basic, 'empty'), '');
  writeFileSync(join(basic, 'hello.txt'), 'hello\n');
  writeFileSync(join(basic, 'b512'), pseudoRandom(512, 1));
  writeFileSync(join(basic, 'b1024'), pseudoRandom(1024, 2));
  writeFileSync(join(basic, 'data.bin'), pseudoRandom(40_000, 3));
  writeFileSync(join(basic, 'sub', 'inner.txt'), 'inner\n');
  symlinkSync('hello.txt', join(basic, 'link-to-hello'));
  linkSync(join(basic, 'hello.txt'), join(basic, 'hard'));

  const special = join(root, 'special');
  mkdirSync(special);
  execFileSync('mkfifo', [join(special, 'fifo')]);
  writeFileSync(join(special, 'x'), 'x');

  const long = join(root, 'long');
  let deep = long;
  for (let i = 0; i < 6; i++) deep = join(deep, `directory-level-${i}-${'d'.repeat(40)}`);
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, `file-${'f'.repeat(120)}.txt`), 'deep\n');
  writeFileSync(join(long, `${'n'.repeat(150)}.txt`), 'long name\n');
  writeFileSync(join(long, 'héllo-世界.txt'), 'unicode\n');
  symlinkSync(`/target/${'t'.repeat(150)}`, join(long, 'long-link'));

  const ustarLong = join(root, 'ustarlong');
  const ud = join(ustarLong, 'a'.repeat(60), 'b'.repeat(60));
  mkdirSync(ud, { recursive: true });
  writeFileSync(join(ud, `c${'c'.repeat(80)}.txt`), 'split\n');

  const sparse = join(root, 'sparse');
  mkdirSync(sparse);
  python(
    `import sys
f = open(sys.argv[1], 'wb')
f.write(b'a' * 4096); f.seek(100 * 1024); f.write(b'b' * 4096); f.seek(180 * 1024); f.write(b'c' * 100)
f.truncate(200 * 1024)`,
    join(sparse, 'holes'),
  );
  python(
    `import sys
f = open(sys.argv[1], 'wb')
for i in range(30):
    f.seek(i * 16384); f.write(b'x' * 100)
f.truncate(30 * 16384 + 8192)`,
    join(sparse, 'many-holes'),
  );
  writeFileSync(join(sparse, 'plain'), 'plain\n');

  const xattr = join(root, 'xattr');
  mkdirSync(xattr);
  writeFileSync(join(xattr, 'attrs'), 'attrs\n');
  python(
    `import os, sys
os.setxattr(sys.argv[1], 'user.comment', b'hello xattr')
os.setxattr(sys.argv[1], 'user.bin', bytes([0, 1, 2, 255, 10, 61]))`,
    join(xattr, 'attrs'),
  );

  for (const d of [basic, special, long, ustarLong, sparse, xattr]) touchAll(d);
}

const PY_PAX = `
import io, sys, tarfile
def add(t, name, data=b'', **kw):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mtime = 1600000000
    for k, v in kw.items(): setattr(ti, k, v)
    t.addfile(ti, io.BytesIO(data) if data else None)
fmt = {'pax': tarfile.PAX_FORMAT, 'gnu': tarfile.GNU_FORMAT, 'ustar': tarfile.USTAR_FORMAT}[sys.argv[2]]
kw = {'pax_headers': {'comment': 'global header'}} if sys.argv[2] == 'pax' else {}
with tarfile.open(sys.argv[1], 'w', format=fmt, **kw) as t:
    add(t, 'plain.txt', b'plain\\n')
    add(t, 'chr', type=tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
    add(t, 'blk', type=tarfile.BLKTYPE, devmajor=8, devminor=1, mode=0o660)
    add(t, 'fifo', type=tarfile.FIFOTYPE)
    add(t, 'dir/', type=tarfile.DIRTYPE, mode=0o755)
    if sys.argv[2] != 'ustar':
        add(t, 'p' * 300, b'long\\n')
        add(t, 'sym', type=tarfile.SYMTYPE, linkname='/l/' + 'k' * 200)
        add(t, 'big-ids', b'ids\\n', uid=2**40, gid=2**33, uname='u' * 40, gname='g')
        add(t, 'big-mtime', b'', mtime=2**40)
    if sys.argv[2] == 'gnu':
        add(t, 'neg-mtime', b'old\\n', mtime=-1000)
    if sys.argv[2] == 'pax':
        add(t, 'frac-mtime', b'f', mtime=1600000000.25)
        add(t, 'neg-frac', b'', mtime=-1.5)
        add(t, 'ünïcödé-名前.txt', b'u\\n')
        ti = tarfile.TarInfo('xattr-file')
        ti.pax_headers = {'SCHILY.xattr.user.k': 'v', 'SCHILY.xattr.security.x': 'yz'}
        ti.size = 1
        t.addfile(ti, io.BytesIO(b'!'))
    add(t, 'mult512', bytes(range(256)) * 4)
`;

function gnuTar(out: string, cwd: string, args: string[]): void {
  execFileSync(GNU_TAR, ['--sort=name', ...args, '-cf', out, '.'], { cwd });
}

/** Creates every fixture archive under a fresh temporary directory. */
export function buildFixtures(): { dir: string; fixtures: Fixture[]; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'layerdiff-tar-'));
  const trees = join(dir, 'trees');
  const out = join(dir, 'out');
  mkdirSync(trees);
  mkdirSync(out);
  makeTrees(trees);
  const files: Array<[string, string]> = [];
  const gnu = (name: string, tree: string, args: string[]) => {
    const file = join(out, `${name}.tar`);
    gnuTar(file, join(trees, tree), args);
    files.push([name, file]);
  };
  for (const fmt of ['gnu', 'oldgnu', 'posix', 'ustar', 'v7']) {
    gnu(`gnu-${fmt}-basic`, 'basic', [`--format=${fmt}`]);
  }
  for (const fmt of ['gnu', 'oldgnu', 'posix', 'ustar']) {
    gnu(`gnu-${fmt}-special`, 'special', [`--format=${fmt}`]);
  }
  for (const fmt of ['gnu', 'oldgnu', 'posix']) {
    gnu(`gnu-${fmt}-long`, 'long', [`--format=${fmt}`]);
  }
  gnu('gnu-ustar-splitpath', 'ustarlong', ['--format=ustar']);
  gnu('gnu-gnu-sparse', 'sparse', ['--format=gnu', '--sparse']);
  gnu('gnu-oldgnu-sparse', 'sparse', ['--format=oldgnu', '--sparse']);
  for (const v of ['0.0', '0.1', '1.0']) {
    gnu(`gnu-posix-sparse-${v}`, 'sparse', ['--format=posix', '--sparse', `--sparse-version=${v}`]);
  }
  gnu('gnu-posix-xattrs', 'xattr', ['--format=posix', '--xattrs', '--xattrs-include=*']);
  gnu('gnu-posix-global', 'basic', ['--format=posix', '--pax-option=comment=a global comment']);

  for (const fmt of ['pax', 'gnu', 'ustar']) {
    const file = join(out, `py-${fmt}.tar`);
    python(PY_PAX, file, fmt);
    files.push([`py-${fmt}`, file]);
  }

  if (hasBsdtar()) {
    for (const fmt of ['pax', 'ustar', 'gnutar']) {
      const file = join(out, `bsd-${fmt}-basic.tar`);
      execFileSync(BSDTAR, ['--format', fmt, '-cf', file, '.'], { cwd: join(trees, 'basic') });
      files.push([`bsd-${fmt}-basic`, file]);
    }
    const file = join(out, 'bsd-pax-xattrs.tar');
    execFileSync(BSDTAR, ['--format', 'pax', '--xattrs', '-cf', file, '.'], {
      cwd: join(trees, 'xattr'),
    });
    files.push(['bsd-pax-xattrs', file]);
  }

  // Trailing garbage after the end-of-archive blocks.
  const base = readFileSync(join(out, 'gnu-gnu-basic.tar'));
  const garbage = join(out, 'garbage.tar');
  writeFileSync(garbage, Buffer.concat([base, Buffer.from(pseudoRandom(1000, 9))]));
  files.push(['gnu-basic-trailing-garbage', garbage]);

  const fixtures = files.map(([name, file]) => ({
    name,
    file,
    bytes: new Uint8Array(readFileSync(file)),
  }));
  return { dir, fixtures, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
