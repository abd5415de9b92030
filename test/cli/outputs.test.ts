/**
 * What a command leaves where it writes: an output that names one of its inputs is refused, a
 * file it replaces keeps its mode and owner, a signal mid-way leaves no partial output, and a
 * full disk is named and leaves nothing that holds the space (so that a retry with room
 * succeeds).
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pseudoRandom } from '../helpers/bytes.js';
import { isRoot, toolsAvailable } from '../helpers/tools.js';
import { CLI, makeTar, requireDist, runCli, runProcess } from './run.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-outputs-'));
let tar: string;
let store: string;
let index: string;
let n = 0;
const fresh = (): string => {
  const d = join(work, `t${n++}`);
  mkdirSync(d);
  return d;
};

beforeAll(async () => {
  requireDist();
  tar = makeTar(work, 'layer', {
    'bin/tool': pseudoRandom(3_000_000, 5),
    'etc/config': new TextEncoder().encode('key = value\n'),
  });
  store = join(work, 'store');
  index = join(work, 'layer.idx');
  const r = await runCli(['convert', tar, '--store', store, '--out', index]);
  expect(r.code, r.stderr).toBe(0);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.runIf(toolsAvailable('tar'))('command outputs', () => {
  it.each([
    ['convert', () => ['convert', tar, '--store', store, '--out', tar]],
    ['cat', () => ['cat', index, '--store', store, '--out', index]],
    ['flatten', () => ['flatten', index, index, '--store', store, '--out', index]],
    ['bundle', () => ['bundle', index, '--store', store, '--out', index]],
  ])('%s refuses an --out that is its input (exit 2), which stays as it was', async (_, args) => {
    const before = { tar: readFileSync(tar), index: readFileSync(index) };
    const r = await runCli(args());
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/cannot write .*: it is .*, which the command reads/);
    expect(readFileSync(tar).equals(before.tar)).toBe(true);
    expect(readFileSync(index).equals(before.index)).toBe(true);
  });

  it('refuses an --out that is its standard input, and a standard output that is its input', async () => {
    const d = fresh();
    const copy = join(d, 'in.tar');
    writeFileSync(copy, readFileSync(tar));
    const fromStdin = await runProcess(
      'sh',
      ['-c', `exec "${process.execPath}" "${CLI}" convert - --store st --out in.tar < in.tar`],
      { cwd: d },
    );
    expect(fromStdin.code, fromStdin.stderr).toBe(2);
    expect(fromStdin.stderr).toMatch(/cannot write in\.tar: it is standard input/);
    const idx = join(d, 'copy.idx');
    writeFileSync(idx, readFileSync(index));
    const toStdout = await runProcess(
      'sh',
      ['-c', `exec "${process.execPath}" "${CLI}" cat copy.idx --store "${store}" >> copy.idx`],
      { cwd: d },
    );
    expect(toStdout.code, toStdout.stderr).toBe(2);
    expect(toStdout.stderr).toMatch(/cannot write standard output: it is copy\.idx/);
    expect(readFileSync(copy).equals(readFileSync(tar))).toBe(true);
    expect(readFileSync(idx).equals(readFileSync(index))).toBe(true);
  });

  it('oci flatten refuses an --out inside the layout it reads', async () => {
    const d = fresh();
    mkdirSync(join(d, 'layout'));
    const r = await runCli(
      ['oci', 'flatten', 'layout', '--store', store, '--out', 'layout/index.json'],
      { cwd: d },
    );
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/cannot write layout\/index\.json: it is inside layout/);
    expect(readdirSync(join(d, 'layout'))).toEqual([]);
  });

  it('a file --out replaces keeps its permission bits and owner', async () => {
    const d = fresh();
    const out = join(d, 'private.tar');
    writeFileSync(out, 'old');
    chmodSync(out, 0o600);
    if (isRoot) chownSync(out, 65534, 65534);
    const r = await runCli(['cat', index, '--store', store, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const st = statSync(out);
    expect(st.size).toBe(statSync(tar).size);
    expect(st.mode & 0o7777).toBe(0o600);
    if (isRoot) expect([st.uid, st.gid]).toEqual([65534, 65534]);
    // A setuid bit stays too (root may set it; anyone else loses it with the first write).
    const tool = join(d, 'tool.tar');
    writeFileSync(tool, 'old');
    chmodSync(tool, 0o4755);
    expect((await runCli(['cat', index, '--store', store, '--out', tool])).code).toBe(0);
    expect(statSync(tool).mode & 0o7777).toBe(0o4755);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s mid-way: the command ends by the signal and leaves no partial output',
    async (signal) => {
      const d = fresh();
      // convert reading stdin, held open: it has made its temporary output, and waits for more.
      const child = spawn(
        process.execPath,
        [CLI, 'convert', '-', '--store', join(d, 'store'), '--out', join(d, 'out.idx')],
        { stdio: ['pipe', 'ignore', 'pipe'] },
      );
      child.stdin.on('error', () => {});
      child.stdin.write(readFileSync(tar).subarray(0, 1_000_000));
      const exited = new Promise<[number | null, string | null]>((resolve) =>
        child.on('exit', (code, sig) => resolve([code, sig])),
      );
      try {
        // Up to 10 s for the temporary output and the store's first pack to appear.
        const packs = join(d, 'store/packs');
        const started = () =>
          readdirSync(d).some((f) => f.startsWith('out.idx.tmp-')) &&
          existsSync(packs) &&
          readdirSync(packs).some((f) => f.endsWith('.pack.tmp'));
        for (let i = 0; !started(); i++) {
          expect(i, 'no temporary output appeared').toBeLessThan(200);
          await new Promise((r) => setTimeout(r, 50));
        }
        child.kill(signal);
        expect(await exited).toEqual([null, signal]);
        expect(readdirSync(d).filter((f) => f.startsWith('out'))).toEqual([]);
        // Nor the pack it was writing.
        expect(readdirSync(packs).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      } finally {
        child.kill('SIGKILL');
      }
    },
    30_000,
  );

  // A small file system of its own: needs root (mount).
  describe.runIf(isRoot)('on a full disk', () => {
    let disk: string;
    beforeAll(() => {
      disk = join(work, 'disk');
      mkdirSync(disk);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', disk]);
    });
    afterAll(() => {
      if (disk && existsSync(disk)) execFileSync('umount', [disk]);
    });

    it('cat names the output it could not write, and leaves none of it', async () => {
      const r = await runCli(['cat', index, '--store', store, '--out', join(disk, 'out.tar')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot write .*out\.tar: no space left on device/);
      expect(readdirSync(disk)).toEqual([]);
    });

    it('a conversion that fills it leaves no pack behind, so a retry with room succeeds', async () => {
      const args = ['convert', tar, '--store', join(disk, 'st'), '--out', join(disk, 'a.idx')];
      const full = await runCli(args);
      expect(full.code).toBe(1);
      expect(full.stderr).toMatch(/no space left on device/);
      expect(readdirSync(join(disk, 'st/packs'))).toEqual([]);
      execFileSync('mount', ['-o', 'remount,size=6m', disk]);
      const retry = await runCli(args);
      expect(retry.code, retry.stderr).toBe(0);
      const rebuilt = await runCli(['cat', join(disk, 'a.idx'), '--store', join(disk, 'st')]);
      expect(rebuilt.stdout.equals(readFileSync(tar))).toBe(true);
    });
  });
});
