import { execFileSync, spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeader, paddingSize, type TarHeaderInput } from '../../src/tar/index.js';
import {
  BSDTAR,
  concatBytes,
  GNU_TAR,
  gnuTarNames,
  hasBsdtar,
  python,
  pythonMembers,
  summarize,
  tokenize,
} from './helpers.js';

interface Item {
  header: TarHeaderInput;
  body?: string;
}

function buildTar(items: Item[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const { header, body = '' } of items) {
    const b = new TextEncoder().encode(body);
    parts.push(
      encodeHeader({ ...header, size: b.length }),
      b,
      new Uint8Array(paddingSize(b.length)),
    );
  }
  parts.push(new Uint8Array(1024));
  return concatBytes(parts);
}

const longDir = `${'d'.repeat(90)}/${'e'.repeat(90)}/${'f'.repeat(90)}`;
const T = 1700000000;

/** Entries every tar can extract without root privileges beyond ours. */
const extractable: Item[] = [
  { header: { path: 'dir/', kind: 'directory', mode: 0o755, mtime: T } },
  { header: { path: 'dir/hello.txt', mtime: T, uname: 'someone', uid: 1000 }, body: 'hello\n' },
  { header: { path: 'dir/empty', mtime: T } },
  { header: { path: 'dir/block', mtime: T }, body: 'b'.repeat(512) },
  { header: { path: 'frac.txt', mtime: { sec: T, nsec: 123456789 } }, body: 'frac' },
  { header: { path: `${longDir}/`, kind: 'directory', mode: 0o755, mtime: T } },
  { header: { path: `${longDir}/${'g'.repeat(120)}.txt`, mtime: T }, body: 'deep\n' },
  { header: { path: 'ünïcödé-名前.txt', mtime: T }, body: 'unicode\n' },
  { header: { path: 'short-link', kind: 'symlink', linkname: 'dir/hello.txt', mtime: T } },
  {
    header: { path: 'long-link', kind: 'symlink', linkname: `${longDir}/${'g'.repeat(120)}.txt` },
  },
  { header: { path: 'hard', kind: 'hardlink', linkname: 'dir/hello.txt', mtime: T } },
  { header: { path: 'fifo', kind: 'fifo', mode: 0o600, mtime: T } },
  {
    header: {
      path: 'with-xattrs',
      mtime: T,
      xattrs: {
        'user.note': new TextEncoder().encode('hi there'),
        'user.bin': Uint8Array.of(0, 255),
      },
    },
    body: 'x',
  },
];

/** Entries only listed (devices, huge ids, times before 1970). */
const listed: Item[] = [
  { header: { path: 'chr', kind: 'char', devmajor: 1, devminor: 3, mode: 0o666, mtime: T } },
  { header: { path: 'blk', kind: 'block', devmajor: 8, devminor: 1, mode: 0o660, mtime: T } },
  // Beyond the 7-digit octal field (2^21 - 1) but within GNU tar's 32-bit uid_t.
  { header: { path: 'huge-ids', uid: 2 ** 31 + 5, gid: 2 ** 22, gname: 'g'.repeat(40), mtime: T } },
  { header: { path: 'old', mtime: -86400 }, body: 'old' },
  { header: { path: 'future', mtime: 2 ** 34 } },
];

let dir = '';
let extractTar = '';
let listTar = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'layerdiff-enc-'));
  extractTar = join(dir, 'extract.tar');
  listTar = join(dir, 'list.tar');
  writeFileSync(extractTar, buildTar(extractable));
  writeFileSync(listTar, buildTar(listed));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const allPaths = (items: Item[]) => items.map((i) => i.header.path);
const unslash = (p: string) => p.replace(/\/$/, '');

describe('encodeHeader output read by other tars', () => {
  it('Python tarfile reads every field', () => {
    const [ex, li] = pythonMembers([extractTar, listTar]);
    expect(ex!.map((m) => m.name)).toEqual(allPaths(extractable).map(unslash));
    expect(ex!.find((m) => m.name === 'frac.txt')!.mtime).toBeCloseTo(T + 0.123456789, 6);
    expect(ex!.find((m) => m.name === 'long-link')!.linkname).toBe(
      `${longDir}/${'g'.repeat(120)}.txt`,
    );
    expect(li!.map((m) => [m.name, m.type, m.devmajor, m.devminor, m.uid, m.gid, m.mtime])).toEqual(
      [
        ['chr', '3', 1, 3, 0, 0, T],
        ['blk', '4', 8, 1, 0, 0, T],
        ['huge-ids', '0', 0, 0, 2 ** 31 + 5, 2 ** 22, T],
        ['old', '0', 0, 0, 0, 0, -86400],
        ['future', '0', 0, 0, 0, 0, 2 ** 34],
      ],
    );
  });

  it('our tokenizer reads it back', async () => {
    const { entries } = summarize(await tokenize(new Uint8Array(readFileSync(listTar)), 100));
    expect(entries.map((e) => [e.entry.path, e.entry.uid, e.entry.mtime.sec])).toEqual([
      ['chr', 0, T],
      ['blk', 0, T],
      ['huge-ids', 2 ** 31 + 5, T],
      ['old', 0, -86400],
      ['future', 0, 2 ** 34],
    ]);
  });

  it('GNU tar lists and extracts it', () => {
    expect(gnuTarNames(extractTar)).toEqual(allPaths(extractable));
    expect(gnuTarNames(listTar)).toEqual(allPaths(listed));
    const listing = spawnSync(GNU_TAR, ['--numeric-owner', '-tvf', listTar], { encoding: 'utf8' });
    expect(listing.stderr).toBe('');
    const verbose = listing.stdout;
    expect(verbose).toMatch(/^crw-rw-rw- 0\/0 +1,3 .* chr$/m);
    expect(verbose).toMatch(/ 2147483653\/4194304 .* huge-ids$/m);
    const out = join(dir, 'gnu-x');
    mkdirSync(out);
    const r = spawnSync(
      GNU_TAR,
      ['--no-same-owner', '--xattrs', '--xattrs-include=*', '-xf', extractTar, '-C', out],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    checkExtracted(out);
  });

  it.skipIf(!hasBsdtar())('bsdtar lists and extracts it', () => {
    const list = (f: string) =>
      execFileSync(BSDTAR, ['-tf', f], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(list(extractTar)).toEqual(allPaths(extractable));
    expect(list(listTar)).toEqual(allPaths(listed));
    const out = join(dir, 'bsd-x');
    mkdirSync(out);
    const r = spawnSync(BSDTAR, ['--no-same-owner', '--xattrs', '-xf', extractTar, '-C', out], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    checkExtracted(out);
  });
});

function checkExtracted(out: string): void {
  expect(readFileSync(join(out, 'dir/hello.txt'), 'utf8')).toBe('hello\n');
  expect(readFileSync(join(out, 'dir/block'), 'utf8')).toBe('b'.repeat(512));
  expect(readFileSync(join(out, 'dir/empty'), 'utf8')).toBe('');
  expect(readFileSync(join(out, `${longDir}/${'g'.repeat(120)}.txt`), 'utf8')).toBe('deep\n');
  expect(readFileSync(join(out, 'ünïcödé-名前.txt'), 'utf8')).toBe('unicode\n');
  expect(readlinkSync(join(out, 'short-link'))).toBe('dir/hello.txt');
  expect(readlinkSync(join(out, 'long-link'))).toBe(`${longDir}/${'g'.repeat(120)}.txt`);
  expect(statSync(join(out, 'hard')).ino).toBe(statSync(join(out, 'dir/hello.txt')).ino);
  expect(statSync(join(out, 'fifo')).isFIFO()).toBe(true);
  expect(statSync(join(out, 'dir/hello.txt')).mtimeMs).toBe(T * 1000);
  expect(statSync(join(out, 'frac.txt'), { bigint: true }).mtimeNs).toBe(
    BigInt(T) * 1_000_000_000n + 123456789n,
  );
  const xattrs = python(
    `import os, sys, json
p = sys.argv[1]
print(json.dumps({k: list(os.getxattr(p, k)) for k in sorted(os.listxattr(p)) if k.startswith('user.')}))`,
    join(out, 'with-xattrs'),
  );
  expect(JSON.parse(xattrs)).toEqual({
    'user.bin': [0, 255],
    'user.note': [...new TextEncoder().encode('hi there')],
  });
}
