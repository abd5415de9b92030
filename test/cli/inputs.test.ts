/**
 * What commands take as input and say about it: `extract-tar` reads a layer compressed as
 * registries hold it, a stack of indexes names the one that is bad, and a command that reads
 * only files says so of `-`, and a zstd layer (hashed without the worker thread) converts and
 * diffs as any other.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFrames } from '../compress/frames.js';
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

  it('convert and diff hash a zstd layer without the worker, from a file and from stdin', async () => {
    const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const bytes = readFileSync(tar);
    // Through a pipe, zstd -19 keeps its 8 MiB window.
    const zst = join(work, 'layer.19.zst');
    writeFileSync(zst, execFileSync('zstd', ['-q', '-19', '-c'], { input: bytes }));
    expect(parseFrames(readFileSync(zst))[0]!.window).toBe(8 * 1024 * 1024);
    // Every worker thread the CLI starts says so on stderr, and when it ends.
    const hook = join(work, 'worker-hook.cjs');
    writeFileSync(
      hook,
      `const wt = require('node:worker_threads');
const W = wt.Worker;
wt.Worker = class extends W {
  constructor(...args) {
    super(...args);
    process.stderr.write('@@worker-start\\n');
    this.on('exit', () => process.stderr.write('@@worker-exit\\n'));
  }
};
require('node:module').syncBuiltinESMExports();
`,
    );
    const env = { NODE_OPTIONS: `--require ${hook}` };
    const workers = (stderr: string) => stderr.match(/@@worker-\w+/g) ?? [];
    const wide = join(work, 'wide-store');
    const ids: string[] = [];
    for (const [name, input, stdin] of [
      ['file', zst, undefined],
      ['stdin', '-', readFileSync(zst)],
    ] as const) {
      const idx = join(work, `wide-${name}.idx`);
      const r = await runCli(['convert', input, '--store', wide, '--out', idx, '--json'], {
        stdin,
        env,
      });
      expect(r.code, r.stderr).toBe(0);
      // The hashing worker, started early, is stopped once the window is known.
      expect(workers(r.stderr)).toEqual(['@@worker-start', '@@worker-exit']);
      ids.push(JSON.parse(r.stdout.toString('utf8')).diffId);
      const c = await runCli(['cat', idx, '--store', wide]);
      expect(sha256(c.stdout)).toBe(sha256(bytes));
    }
    expect(ids).toEqual([`sha256:${sha256(bytes)}`, `sha256:${sha256(bytes)}`]);
    const diff = join(work, 'wide.diff');
    const d = await runCli(['diff', zst, '--store', wide, '--out', diff], { env });
    expect(d.code, d.stderr).toBe(0);
    expect(workers(d.stderr)).toEqual(['@@worker-start', '@@worker-exit']);
    const receiver = join(work, 'wide-receiver');
    const idx = join(work, 'wide-applied.idx');
    const a = await runCli(['apply', diff, '--store', receiver, '--out', idx]);
    expect(a.code, a.stderr).toBe(0);
    expect(sha256((await runCli(['cat', idx, '--store', receiver])).stdout)).toBe(sha256(bytes));
    // A small window (zstd -1: 512 KiB) stops it too; a gzip layer keeps it to the end.
    const small = join(work, 'layer.1.zst');
    writeFileSync(small, execFileSync('zstd', ['-q', '-1', '-c'], { input: bytes }));
    expect(parseFrames(readFileSync(small))[0]!.window).toBe(512 * 1024);
    for (const [input, seen] of [
      [small, ['@@worker-start', '@@worker-exit']],
      [`${tar}.gz`, ['@@worker-start']],
    ] as const) {
      const out = join(work, 'n.idx');
      const n = await runCli(['convert', input, '--store', wide, '--out', out], { env });
      expect(n.code, n.stderr).toBe(0);
      expect(workers(n.stderr), input).toEqual(seen);
    }
  });

  it('bundle says it reads a file, not standard input', async () => {
    const d = join(work, 'b');
    mkdirSync(d);
    const r = await runCli(['bundle', '-', '--store', store, '--out', join(d, 'b.zip')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read -: this command reads a file, not standard input/);
  });
});
