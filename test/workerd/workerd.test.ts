/**
 * Runs the platform-neutral build (dist/index.js) inside real workerd: worker.js converts and
 * rebuilds a GNU-tar-made layer (plain, gzip and zstd) and throws on any digest mismatch. Needs
 * `npm run build` first.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { pseudoRandom } from '../helpers/bytes.js';
import { sha256 } from '../helpers/streams.js';
import { GNU_TAR } from '../tar/helpers.js';
import { renderConfig } from './render-config.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const dist = join(root, 'dist');
const fixtures = join(here, '.fixtures');
const workerd = join(root, 'node_modules/.bin/workerd');
const TIMEOUT_MS = 60_000;

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

describe('workerd', () => {
  let config: string;

  beforeAll(() => {
    for (const f of ['index.js', 'cdc.wasm', 'lz4.wasm', 'zstd.wasm']) {
      if (!existsSync(join(dist, f))) {
        throw new Error(`dist/${f} is missing: run \`npm run build\` before this test`);
      }
    }
    rmSync(fixtures, { recursive: true, force: true });
    mkdirSync(fixtures);
    const tree = mkdtempSync(join(tmpdir(), 'layerdiff-workerd-'));
    try {
      makeTree(tree);
      const tarFile = join(fixtures, 'layer.tar');
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
      const tar = new Uint8Array(readFileSync(tarFile));
      execFileSync('gzip', ['-n', '-9', '-k', tarFile]);
      execFileSync('zstd', ['-q', '-3', '-k', '-f', tarFile]);
      const gzip = new Uint8Array(readFileSync(`${tarFile}.gz`));
      const zstd = new Uint8Array(readFileSync(`${tarFile}.zst`));
      writeFileSync(
        join(fixtures, 'expected.json'),
        JSON.stringify({
          tarDigest: sha256(tar),
          tarSize: tar.length,
          gzipDigest: sha256(gzip),
          zstdDigest: sha256(zstd),
        }),
      );
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
    config = renderConfig(join(here, 'config.capnp'), fixtures);
  });

  it(
    'converts and rebuilds a GNU tar layer (plain, gzip, zstd) with dist/index.js, no compat flags',
    () => {
      const r = spawnSync(workerd, ['test', config], {
        cwd: root,
        encoding: 'utf8',
        timeout: TIMEOUT_MS,
      });
      const output = `${r.stdout}\n${r.stderr}`;
      expect(r.error, output).toBeUndefined();
      expect(r.status, output).toBe(0);
      expect(output).toMatch(/\[ PASS \] .*main/);
      expect(output).toContain('LZ4 diff: ');
      expect(output).toContain('layerdiff workerd round trip: ok');
    },
    TIMEOUT_MS + 30_000,
  );
});
