/**
 * What commands take as input and say about it: `extract-tar` reads a layer compressed as
 * registries hold it, a stack of indexes names the one that is bad, and a command that reads
 * only files says so of `-`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pseudoRandom } from '../helpers/bytes.js';
import { toolsAvailable } from '../helpers/tools.js';
import { listFiles, makeTar, requireDist, runCli } from './run.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-inputs-'));
let tar: string;
let store: string;
let index: string;

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.runIf(toolsAvailable('tar', 'gzip', 'zstd'))('command inputs', () => {
  beforeAll(async () => {
    requireDist();
    tar = makeTar(work, 'layer', {
      'usr/bin/tool': pseudoRandom(200_000, 8),
      'etc/motd': new TextEncoder().encode('hello\n'),
    });
    execFileSync('gzip', ['-k', '-n', tar]);
    execFileSync('zstd', ['-q', '-k', tar]);
    store = join(work, 'store');
    index = join(work, 'layer.idx');
    const r = await runCli(['convert', tar, '--store', store, '--out', index]);
    expect(r.code, r.stderr).toBe(0);
  });

  it.each(['', '.gz', '.zst'])('extract-tar reads the layer%s into the same files', async (ext) => {
    const dir = join(work, `x${ext || '.tar'}`);
    const r = await runCli(['extract-tar', `${tar}${ext}`, '--dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(listFiles(dir)).toEqual(['etc/motd', 'usr/bin/tool']);
    expect(
      readFileSync(join(dir, 'usr/bin/tool')).equals(
        readFileSync(join(work, 'src-layer/usr/bin/tool')),
      ),
    ).toBe(true);
  });

  it('flatten of several indexes names the place of the one that is bad', async () => {
    const bad = join(work, 'bad.idx');
    writeFileSync(bad, 'not an index');
    const r = await runCli(['flatten', index, bad, '--store', store, '--out', join(work, 'f.tar')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/layer 2 of 2 \(bottom first\): not a layerdiff index/);
  });

  it('bundle says it reads a file, not standard input', async () => {
    const d = join(work, 'b');
    mkdirSync(d);
    const r = await runCli(['bundle', '-', '--store', store, '--out', join(d, 'b.zip')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read -: this command reads a file, not standard input/);
  });
});
