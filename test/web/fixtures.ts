/**
 * The layer the runtime tests (workerd, browsers) convert and rebuild: a small root filesystem
 * tarred by GNU tar, gzipped and zstd-compressed by the real tools, with the digests Node
 * computes for each, which the code under test must agree with.
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
import { join, resolve } from 'node:path';
import { pseudoRandom } from '../helpers/bytes.js';
import { sha256 } from '../helpers/streams.js';
import { GNU_TAR } from '../tar/helpers.js';

/** What `expected.json` holds: Node's digests of the fixtures. */
export interface WebFixtureDigests {
  tarDigest: string;
  tarSize: number;
  gzipDigest: string;
  zstdDigest: string;
}

/** A small root filesystem: several chunks per big file, a duplicate file, links, a long path. */
function makeTree(dir: string): void {
  const big = pseudoRandom(600 * 1024, 7);
  const longDir = join(dir, 'usr/share/doc', `package-${'x'.repeat(120)}`);
  for (const d of ['etc', 'usr/bin', 'usr/lib', 'var/empty', longDir]) {
    mkdirSync(resolve(dir, d), { recursive: true });
  }
  writeFileSync(join(dir, 'etc/hostname'), 'layerdiff\n');
  writeFileSync(join(dir, 'etc/empty'), '');
  writeFileSync(join(dir, 'usr/bin/tool'), big);
  writeFileSync(join(dir, 'usr/lib/tool-copy'), big);
  writeFileSync(join(longDir, 'README'), 'a path longer than 100 bytes\n'.repeat(40));
  symlinkSync('tool', join(dir, 'usr/bin/tool-link'));
  linkSync(join(dir, 'usr/bin/tool'), join(dir, 'usr/bin/tool-hard'));
}

/**
 * Writes `layer.tar` (GNU format, reproducible), `layer.tar.gz` (`gzip -9 -n`),
 * `layer.tar.zst` (`zstd -3`) and `expected.json` into `dir`.
 * @param dir - an existing directory.
 * @returns the digests written to `expected.json`.
 */
export function makeWebFixtures(dir: string): WebFixtureDigests {
  const tree = mkdtempSync(join(tmpdir(), 'layerdiff-web-'));
  try {
    makeTree(tree);
    const tarFile = join(dir, 'layer.tar');
    execFileSync(GNU_TAR, [
      '--format=gnu',
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@1600000000',
      '-C',
      tree,
      '-cf',
      tarFile,
      '.',
    ]);
    execFileSync('gzip', ['-n', '-9', '-k', '-f', tarFile]);
    execFileSync('zstd', ['-q', '-3', '-k', '-f', tarFile]);
    const tar = new Uint8Array(readFileSync(tarFile));
    const digests: WebFixtureDigests = {
      tarDigest: sha256(tar),
      tarSize: tar.length,
      gzipDigest: sha256(new Uint8Array(readFileSync(`${tarFile}.gz`))),
      zstdDigest: sha256(new Uint8Array(readFileSync(`${tarFile}.zst`))),
    };
    writeFileSync(join(dir, 'expected.json'), JSON.stringify(digests));
    return digests;
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
}
