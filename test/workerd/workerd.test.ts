/**
 * Runs the platform-neutral build (dist/index.js) inside real workerd: worker.js converts and
 * rebuilds a GNU-tar-made layer (plain, gzip and zstd; test/web/suite.js) and throws on any
 * digest mismatch. Needs `npm run build` first.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeWebFixtures } from '../web/fixtures.js';
import { renderConfig } from './render-config.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const dist = join(root, 'dist');
const fixtures = join(here, '.fixtures');
const workerd = join(root, 'node_modules/.bin/workerd');
const TIMEOUT_MS = 60_000;

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
    makeWebFixtures(fixtures);
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
