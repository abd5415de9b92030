/**
 * `layerdiff diff` and `layerdiff apply`, run as users run them: a layer's second version
 * travels as a diff against the first and is rebuilt exactly on the receiving side.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pseudoRandom } from '../helpers/bytes.js';
import { sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { makeTar, requireDist, runCli } from './run.js';

describe.runIf(toolsAvailable('tar'))('layerdiff diff / apply', () => {
  let work: string;
  let v1: string;
  let v2: string;
  const big = pseudoRandom(2_000_000, 3);
  const changed = big.slice();
  changed[1_000_000]! ^= 1;

  beforeAll(async () => {
    requireDist();
    work = mkdtempSync(join(tmpdir(), 'layerdiff-cli-diff-'));
    const conf = new TextEncoder().encode('setting = 1\n'.repeat(2000));
    v1 = makeTar(work, 'v1', { 'opt/big.bin': big, 'etc/app.conf': conf });
    v2 = makeTar(work, 'v2', {
      'opt/big.bin': changed,
      'etc/app.conf': conf,
      'etc/extra': new TextEncoder().encode('more\n'),
    });
    const r = await runCli([
      'convert',
      v1,
      '--store',
      join(work, 'sender'),
      '--out',
      join(work, 'v1.idx'),
    ]);
    expect(r.code).toBe(0);
    cpSync(join(work, 'sender'), join(work, 'receiver'), { recursive: true });
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('diff against the base, apply on the receiver, cat gives the exact layer', async () => {
    const diff = join(work, 'v2.diff');
    const d = await runCli([
      'diff',
      v2,
      '--base',
      join(work, 'v1.idx'),
      '--store',
      join(work, 'sender'),
      '--out',
      diff,
      '--json',
    ]);
    expect(d.stderr).toBe('');
    expect(d.code).toBe(0);
    const summary = JSON.parse(d.stdout.toString('utf8'));
    expect(summary.diffBytes).toBe(readFileSync(diff).length);
    expect(summary.diffId).toBe(sha256(readFileSync(v2)));
    expect(readFileSync(diff).length).toBeLessThan(300_000);

    const a = await runCli([
      'apply',
      diff,
      '--store',
      join(work, 'receiver'),
      '--out',
      join(work, 'v2.idx'),
      '--json',
    ]);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(JSON.parse(a.stdout.toString('utf8')).newChunks).toBe(summary.sentChunks);
    const c = await runCli(['cat', join(work, 'v2.idx'), '--store', join(work, 'receiver')]);
    expect(c.code).toBe(0);
    expect(sha256(c.stdout)).toBe(sha256(readFileSync(v2)));
  });

  it('--codec chooses how the diff carries chunks; deflate at level 6 by default', async () => {
    /** The codings of a diff's chunk frames (docs/FORMAT.md §11). */
    const codings = (bytes: Buffer) => {
      const seen = new Set<number>();
      for (let at = 9; bytes[at] === 0x43; at += 42 + bytes.readUInt32BE(at + 38)) {
        seen.add(bytes[at + 33]!);
      }
      return [...seen].sort();
    };
    const receiverOf = (name: string) => {
      const dir = join(work, `codec-${name}`);
      cpSync(join(work, 'sender'), dir, { recursive: true });
      return dir;
    };
    for (const [name, args, expected] of [
      ['default', [], [0, 1]],
      ['lz4', ['--codec', 'lz4'], [0, 2]],
      ['level9', ['--deflate-level', '9'], [0, 1]],
      ['none', ['--codec', 'none'], [0]],
    ] as const) {
      const diff = join(work, `${name}.diff`);
      const d = await runCli(['diff', v2, '--store', join(work, 'sender'), '--out', diff, ...args]);
      expect(d.code, d.stderr.toString()).toBe(0);
      expect(codings(readFileSync(diff))).toEqual(expected);
      const receiver = receiverOf(name);
      const idx = join(work, `${name}.idx`);
      expect((await runCli(['apply', diff, '--store', receiver, '--out', idx])).code).toBe(0);
      const c = await runCli(['cat', idx, '--store', receiver]);
      expect(sha256(c.stdout)).toBe(sha256(readFileSync(v2)));
    }
    // `--codec deflate` alone keeps diff's own level, 6, not the stores' 1.
    const sent = async (...args: string[]) => {
      const out = join(work, 'sent.diff');
      const d = await runCli([
        'diff',
        v2,
        '--store',
        join(work, 'sender'),
        '--out',
        out,
        '--json',
        ...args,
      ]);
      return JSON.parse(d.stdout.toString('utf8')).sentEncodedBytes as number;
    };
    const level6 = await sent('--deflate-level', '6');
    expect(await sent('--codec', 'deflate')).toBe(level6);
    expect(await sent()).toBe(level6);
    expect(await sent('--deflate-level', '1')).not.toBe(level6);
    const bad = await runCli([
      'diff',
      v2,
      '--store',
      join(work, 'sender'),
      '--out',
      join(work, 'bad.diff'),
      '--codec',
      'lz4',
      '--deflate-level',
      '6',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.toString()).toMatch(/--deflate-level 6 does not go with --codec lz4/);
  });

  it('--progress draws progress on stderr; without it, and not on a terminal, nothing', async () => {
    const d = mkdtempSync(join(work, 'progress-'));
    const r = await runCli([
      'convert',
      v2,
      '--store',
      join(d, 's'),
      '--out',
      join(d, 'i'),
      '--progress',
    ]);
    expect(r.code).toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(
      /^done +100\.0% [\d.]+\/[\d.]+ MiB {2}\d+ entries {2}\d+ chunks, \d+ new/,
    );
    const quiet = await runCli(['convert', v2, '--store', join(d, 's'), '--out', join(d, 'j')]);
    expect(quiet.stderr).toBe('');
  });

  it('changes lists what differs and what must move', async () => {
    const v2idx = join(work, 'v2-sender.idx');
    const c = await runCli(['convert', v2, '--store', join(work, 'sender'), '--out', v2idx]);
    expect(c.code).toBe(0);
    const args = ['changes', join(work, 'v1.idx'), v2idx, '--store', join(work, 'sender')];
    const text = await runCli(args);
    expect(text.code).toBe(0);
    const lines = text.stdout.toString('utf8').trimEnd().split('\n');
    expect(lines).toContain('A etc/extra +5 bytes');
    expect(lines.find((l) => l.startsWith('M opt/big.bin [content] +'))).toBeDefined();
    expect(lines.at(-1)).toMatch(
      /^1 added, 0 removed, 1 modified; to move: \d+ bytes in \d+ data chunks/,
    );
    const json = JSON.parse((await runCli([...args, '--json'])).stdout.toString('utf8'));
    expect(json).toMatchObject({ added: 1, removed: 0, modified: 1 });
    expect(json.files.map((f: { path: string }) => f.path).sort()).toEqual([
      'etc/extra',
      'opt/big.bin',
    ]);
    const same = [join(work, 'v1.idx'), join(work, 'v1.idx'), '--store', join(work, 'sender')];
    const none = JSON.parse((await runCli(['changes', ...same, '--json'])).stdout.toString());
    expect(none).toMatchObject({ files: [], added: 0, modified: 0, chunksToMove: 0 });
    const over = await runCli([...args, '--max-entries', '1']);
    expect(over.code).toBe(1);
    expect(over.stdout.length).toBe(0);
    expect(over.stderr.toString()).toMatch(/ERR_INDEX_LIMIT: the old index's paths exceed 1,/);
    const bad = await runCli([...args, '--max-chunks', '1e6']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.toString()).toMatch(/--max-chunks must be a positive integer/);
    const noStore = await runCli(['changes', join(work, 'v1.idx'), v2idx]);
    expect(noStore.code).toBe(2);
    expect(noStore.stderr).toMatch(/needs its store/);
  });

  it('a corrupt diff: exit 1, a typed error, no output index', async () => {
    const diff = readFileSync(join(work, 'v2.diff'));
    const bad = Buffer.from(diff);
    bad[Math.floor(bad.length / 2)]! ^= 0x40;
    const d = mkdtempSync(join(work, 'bad-'));
    writeFileSync(join(d, 'bad.diff'), bad);
    const a = await runCli([
      'apply',
      join(d, 'bad.diff'),
      '--store',
      join(d, 'store'),
      '--out',
      join(d, 'out.idx'),
    ]);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/ERR_(CHUNK_DIGEST|DIFF_FORMAT|DIFF_INCOMPLETE|COMPRESSION)/);
    expect(readdirSync(d).filter((f) => f.startsWith('out'))).toEqual([]);
  });
});
