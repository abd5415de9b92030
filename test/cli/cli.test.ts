/**
 * The command line, run as users run it: `node dist/cli.js` in a child process, on layers made
 * at test time with GNU tar, gzip and zstd.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pseudoRandom } from '../helpers/bytes.js';
import {
  dropRecord,
  flipStoredBit,
  largestRecord,
  packRecords,
  recordBytes,
} from '../helpers/packs.js';
import { sha256 } from '../helpers/streams.js';
import { tarOf } from '../helpers/tars.js';
import { toolsAvailable } from '../helpers/tools.js';
import { CLI, listFiles, makeTar, type RunResult, requireDist, runCli, runProcess } from './run.js';

const LONG_DIR = `usr/share/${'long-directory-name-'.repeat(6)}`;

/** What `convert --json` prints. */
interface ConvertJson {
  diffId: string;
  bytesIn: number;
  tarSize: number;
  entries: number;
  chunks: number;
  newChunks: number;
  newBytes: number;
  compression: string;
  blobDigest?: string;
  index: {
    indexBytes: number;
    indexChunks: number;
    newIndexChunks: number;
    newIndexBytes: number;
    rootBytes: number;
    levels: number;
  };
}

/** Parses stdout that must hold exactly one JSON object on one line. */
function oneJson<T>(r: RunResult): T {
  const text = r.stdout.toString('utf8');
  expect(text.endsWith('\n'), 'stdout ends with a newline').toBe(true);
  expect(text.trimEnd().split('\n'), 'stdout holds one line').toHaveLength(1);
  const value = JSON.parse(text) as T;
  expect(typeof value).toBe('object');
  expect(Array.isArray(value)).toBe(false);
  return value;
}

/** Expects a clean success. */
function ok(r: RunResult): RunResult {
  expect(r.stderr).toBe('');
  expect(r.signal).toBeNull();
  expect(r.code).toBe(0);
  return r;
}

/** Expects a failure with `exit` whose message on stderr matches `pattern`. */
function fails(r: RunResult, exit: number, pattern: RegExp): RunResult {
  expect(r.signal).toBeNull();
  expect(r.stderr).toMatch(pattern);
  expect(r.code).toBe(exit);
  return r;
}

/** Names in `dir` that start with `base` (the output file, or a temp file beside it). */
function leftovers(dir: string, base: string): string[] {
  return readdirSync(dir).filter((f) => f.startsWith(base));
}

const haveTools = toolsAvailable('tar', 'gzip', 'zstd');

describe.runIf(haveTools)('layerdiff CLI', () => {
  let work: string;
  let tar: string;
  let gz: string;
  let zst: string;
  let tarBytes: Buffer;
  let diffId: string;
  let listing: string[];
  /** A store holding the tar's chunks, and its index, made once. */
  let store: string;
  let index: string;
  /** The same index in flat form. */
  let flatIndex: string;
  let first: ConvertJson;
  let scratch = 0;
  /** A fresh empty directory for one test. */
  const fresh = (): string => {
    const d = join(work, `t${scratch++}`);
    mkdirSync(d);
    return d;
  };

  beforeAll(async () => {
    requireDist();
    work = mkdtempSync(join(tmpdir(), 'layerdiff-cli-'));
    tar = makeTar(
      work,
      'layer',
      {
        'bin/tool': pseudoRandom(1_500_000, 1),
        'etc/config': new TextEncoder().encode('key = value\n'),
        'etc/empty': new Uint8Array(0),
        [`${LONG_DIR}/file.txt`]: pseudoRandom(40_000, 2),
        'var/lib/data': pseudoRandom(300_000, 3),
        'zz-last.txt': new TextEncoder().encode('the last entry\n'),
      },
      { 'etc/link': 'config' },
    );
    tarBytes = readFileSync(tar);
    diffId = sha256(tarBytes);
    gz = `${tar}.gz`;
    writeFileSync(gz, execFileSync('gzip', ['-n', '-c', tar], { maxBuffer: 1 << 28 }));
    zst = `${tar}.zst`;
    writeFileSync(zst, execFileSync('zstd', ['-q', '-c', '-3', tar], { maxBuffer: 1 << 28 }));
    listing = execFileSync('tar', ['-tf', tar], { encoding: 'utf8' }).trimEnd().split('\n');

    store = join(work, 'store');
    index = join(work, 'layer.idx');
    first = oneJson<ConvertJson>(
      ok(await runCli(['convert', tar, '--store', store, '--out', index, '--json'])),
    );
    flatIndex = join(work, 'layer.flat.idx');
    ok(await runCli(['convert', tar, '--store', store, '--out', flatIndex, '--flat']));
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe('convert', () => {
    it('the fixture is what the tests assume', () => {
      expect(listing).toContain(`./${LONG_DIR}/file.txt`);
      expect(listing).toContain('./etc/link');
      expect(listing.at(-1)).toBe('./zz-last.txt');
    });

    it.each([
      ['tar', 'none'],
      ['tar.gz', 'gzip'],
      ['tar.zst', 'zstd'],
    ])(
      'converts a %s; --json prints one object; again, nothing is new',
      async (ext, compression) => {
        const d = fresh();
        const blob = ext === 'tar' ? tar : ext === 'tar.gz' ? gz : zst;
        const blobBytes = readFileSync(blob);
        const args = ['convert', blob, '--store', join(d, 'store'), '--json'];
        const a = oneJson<ConvertJson>(ok(await runCli([...args, '--out', join(d, 'a.idx')])));
        expect(a.diffId).toBe(diffId);
        expect(a.diffId).toMatch(/^sha256:[0-9a-f]{64}$/);
        expect(a.bytesIn).toBe(blobBytes.length);
        expect(a.tarSize).toBe(tarBytes.length);
        expect(a.compression).toBe(compression);
        if (compression !== 'none') expect(a.blobDigest).toBe(sha256(blobBytes));
        expect(a.entries).toBe(listing.length);
        expect(a.chunks).toBeGreaterThanOrEqual(listing.length - 4);
        expect(a.newChunks).toBeGreaterThan(0);
        expect(a.newChunks).toBeLessThanOrEqual(a.chunks);
        expect(a.newBytes).toBeGreaterThan(1_800_000);
        expect(a.newBytes).toBeLessThanOrEqual(tarBytes.length);
        expect(a.index.newIndexChunks).toBe(a.index.indexChunks);
        expect(a.index.rootBytes).toBe(statSync(join(d, 'a.idx')).size);
        expect(packRecords(join(d, 'store'))).toHaveLength(a.newChunks + a.index.newIndexChunks);

        const b = oneJson<ConvertJson>(ok(await runCli([...args, '--out', join(d, 'b.idx')])));
        expect(b).toEqual({
          ...a,
          newChunks: 0,
          newBytes: 0,
          index: { ...a.index, newIndexChunks: 0, newIndexBytes: 0 },
        });
        expect(readFileSync(join(d, 'b.idx')).equals(readFileSync(join(d, 'a.idx')))).toBe(true);
        expect(listFiles(join(d, 'store')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
        expect(readdirSync(d).sort()).toEqual(['a.idx', 'b.idx', 'store']);
      },
    );

    it('--out - writes the root to stdout and the summary to stderr, as cat and diff take -', async () => {
      const d = fresh();
      const r = await runCli(['convert', tar, '--store', join(d, 'store'), '--out', '-'], {
        cwd: d,
      });
      expect(r.code).toBe(0);
      expect(r.stderr.toString()).toMatch(/^sha256:[0-9a-f]{64} {2}\d+ entries/);
      expect(readdirSync(d)).toEqual(['store']);
      const cat = await runCli(['cat', '-', '--store', join(d, 'store')], { stdin: r.stdout });
      expect(sha256(ok(cat).stdout)).toBe(diffId);
    });

    it('a tar.gz padded with zeros after its member: converts whole, blob digest over all of it', async () => {
      const d = fresh();
      const padded = join(d, 'padded.tar.gz');
      const bytes = Buffer.concat([readFileSync(gz), Buffer.alloc(2_000_000)]);
      writeFileSync(padded, bytes);
      const args = ['convert', padded, '--store', join(d, 'store'), '--json'];
      const r = oneJson<ConvertJson>(ok(await runCli([...args, '--out', join(d, 'p.idx')])));
      expect(r.diffId).toBe(diffId);
      expect(r.bytesIn).toBe(bytes.length);
      expect(r.blobDigest).toBe(sha256(bytes));
      const cat = await runCli(['cat', join(d, 'p.idx'), '--store', join(d, 'store')]);
      expect(sha256(ok(cat).stdout)).toBe(diffId);
    });

    it('a compressed layer shares every chunk with its tar', async () => {
      const d = fresh();
      for (const blob of [gz, zst]) {
        const r = oneJson<ConvertJson>(
          ok(
            await runCli(['convert', blob, '--store', store, '--out', join(d, 'x.idx'), '--json']),
          ),
        );
        expect(r.newChunks).toBe(0);
        expect(r.chunks).toBe(first.chunks);
      }
    });

    it('converts from stdin (-)', async () => {
      const d = fresh();
      const gzBytes = readFileSync(gz);
      const out = join(d, 'stdin.idx');
      const r = oneJson<ConvertJson>(
        ok(
          await runCli(['convert', '-', '--store', join(d, 'store'), '--out', out, '--json'], {
            stdin: gzBytes,
          }),
        ),
      );
      expect(r.diffId).toBe(diffId);
      expect(r.bytesIn).toBe(gzBytes.length);
      expect(r.compression).toBe('gzip');
      expect(r.entries).toBe(listing.length);
      const cat = ok(await runCli(['cat', out, '--store', join(d, 'store')]));
      expect(sha256(cat.stdout)).toBe(diffId);
    });

    it('without --json prints one summary line naming the diff_id', async () => {
      const d = fresh();
      const r = ok(await runCli(['convert', tar, '--store', store, '--out', join(d, 'x.idx')]));
      const lines = r.stdout.toString('utf8').trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(diffId);
    });
  });

  it('output that cannot be written (a full disk) fails the command, whichever way it is written', () => {
    for (const args of [
      ['inspect', index, '--store', store],
      ['inspect', index, '--store', store, '--json'],
      ['--help'],
    ]) {
      const r = spawnSync(process.execPath, [CLI, ...args], {
        stdio: ['ignore', openSync('/dev/full', 'w'), 'pipe'],
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(r.status, args.join(' ')).toBe(1);
      if (args[0] !== '--help') expect(r.stderr).toMatch(/ENOSPC/);
    }
  });

  describe('cat', () => {
    it('into a pipe whose reader goes away: stops quietly with status 141, as on SIGPIPE', () => {
      expect(tarBytes.length).toBeGreaterThan(1 << 20);
      const script = `"$NODE" "$CLI" cat "$INDEX" --store "$STORE" 2>"$ERR" | head -c 100 >/dev/null; echo "\${PIPESTATUS[0]}"`;
      const err = join(work, 'cat-epipe.err');
      const status = execFileSync('bash', ['-c', script], {
        env: { ...process.env, NODE: process.execPath, CLI, INDEX: index, STORE: store, ERR: err },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(status.trim()).toBe('141');
      expect(readFileSync(err, 'utf8')).toBe('');
    });

    it('writes the exact tar to stdout', async () => {
      const r = ok(await runCli(['cat', index, '--store', store]));
      expect(r.stdout.length).toBe(tarBytes.length);
      expect(sha256(r.stdout)).toBe(diffId);
    });

    it('runs as an installed bin does, through its shebang line (environment and flags)', async () => {
      const r = ok(await runProcess(CLI, ['cat', index, '--store', store]));
      expect(sha256(r.stdout)).toBe(diffId);
    });

    it('writes the exact tar to --out, leaving no temp file', async () => {
      const d = fresh();
      const out = join(d, 'layer.tar');
      const r = ok(await runCli(['cat', index, '--store', store, '--out', out]));
      expect(r.stdout.length).toBe(0);
      expect(sha256(readFileSync(out))).toBe(diffId);
      expect(readdirSync(d)).toEqual(['layer.tar']);
    });

    it('rebuilds the tar from the index of a gzip or zstd layer', async () => {
      const d = fresh();
      for (const blob of [gz, zst]) {
        const idx = join(d, 'x.idx');
        ok(await runCli(['convert', blob, '--store', join(d, 'store'), '--out', idx]));
        const r = ok(await runCli(['cat', idx, '--store', join(d, 'store')]));
        expect(sha256(r.stdout)).toBe(diffId);
      }
    });
  });

  describe('inspect', () => {
    it('of a root without --store: the totals, and how to list entries', async () => {
      const text = ok(await runCli(['inspect', index])).stdout.toString('utf8');
      expect(text).toContain(diffId);
      expect(text).toContain('pass --store');
      const j = oneJson<{ index: { bytes: number }; end: { diffId: string; entries: number } }>(
        ok(await runCli(['inspect', index, '--json'])),
      );
      expect(j.end).toMatchObject({ diffId, entries: listing.length });
      expect(j.index.bytes).toBe(first.index.indexBytes);
      expect(j.index.bytes).toBe(statSync(flatIndex).size);
    });

    it('escapes text an index carries, such as its chunker name, as it escapes paths', async () => {
      // The same length, so the CBOR stays well formed: a screen clear and a line break.
      const name = new TextEncoder().encode('fastcdc-gear32-v1');
      const evil = new TextEncoder().encode('\x1b[2J\nEVIL-gear-v1');
      for (const file of [index, flatIndex]) {
        const bytes = new Uint8Array(readFileSync(file));
        const at = Buffer.from(bytes).indexOf(name);
        expect(at).toBeGreaterThan(0);
        bytes.set(evil, at);
        const bad = join(fresh(), 'bad.idx');
        writeFileSync(bad, bytes);
        const text = ok(await runCli(['inspect', bad])).stdout.toString('utf8');
        expect(text).not.toContain('\x1b');
        expect(text).toContain('\\x1b[2J\\nEVIL-gear-v1');
      }
    });

    it('a flat index lists its entries without a store', async () => {
      const text = ok(await runCli(['inspect', flatIndex])).stdout.toString('utf8');
      for (const path of listing) expect(text).toContain(path);
    });

    it('lists every entry', async () => {
      const r = ok(await runCli(['inspect', index, '--store', store]));
      const text = r.stdout.toString('utf8');
      for (const path of listing) expect(text).toContain(path);
      expect(text).toContain(diffId);
      expect(text).toContain('./etc/link -> config');
    });

    it('--json prints one object whose entries match `tar -tf`', async () => {
      const r = ok(await runCli(['inspect', index, '--store', store, '--json']));
      const j = oneJson<{
        layer: { version: number; compression: string };
        entries: Array<{ path: string; typeflag: string; size: number; chunks: number }>;
        deletions: unknown[];
        end: { diffId: string; size: number; entries: number; chunks: number };
      }>(r);
      expect(j.entries.map((e) => e.path)).toEqual(listing);
      expect(j.deletions).toEqual([]);
      expect(j.layer.compression).toBe('none');
      expect(j.end).toMatchObject({
        diffId,
        size: tarBytes.length,
        entries: listing.length,
        chunks: first.chunks,
      });
      const byPath = new Map(j.entries.map((e) => [e.path, e]));
      expect(byPath.get('./bin/tool')).toMatchObject({ typeflag: '0', size: 1_500_000 });
      expect(byPath.get('./bin/tool')!.chunks).toBeGreaterThan(1);
      expect(byPath.get('./etc/empty')).toMatchObject({ size: 0, chunks: 0 });
      expect(byPath.get('./etc/link')).toMatchObject({ typeflag: '2', chunks: 0 });
      expect(byPath.get('./etc/')).toMatchObject({ typeflag: '5', chunks: 0 });
      // The end-of-archive blocks are not counted as the last entry's body.
      expect(byPath.get('./zz-last.txt')).toMatchObject({ size: 15, chunks: 1 });
      const bodyChunks = j.entries.reduce((n, e) => n + e.chunks, 0);
      expect(bodyChunks).toBeLessThanOrEqual(first.chunks);
    });
    it('escapes control and bidi characters in names, so one entry is one line', async () => {
      const d = fresh();
      const names = ['evil\ndiff_id sha256:0000\x1b[8m', 'x\u202ey.txt', 'back\\slash', 'plain'];
      const layer = tarOf(names.map((n) => [n, new TextEncoder().encode(n)]));
      writeFileSync(join(d, 'l.tar'), layer);
      const idx = join(d, 'l.idx');
      ok(
        await runCli([
          'convert',
          join(d, 'l.tar'),
          '--store',
          join(d, 's'),
          '--flat',
          '--out',
          idx,
        ]),
      );
      const lines = ok(await runCli(['inspect', idx]))
        .stdout.toString('utf8')
        .trimEnd()
        .split('\n');
      // The layer line, one line per entry, the diff_id line.
      expect(lines).toHaveLength(names.length + 2);
      expect(lines[1]).toMatch(/ evil\\ndiff_id sha256:0000\\x1b\[8m$/);
      expect(lines[2]).toMatch(/ x\\u202ey\.txt$/);
      expect(lines[3]).toMatch(/ back\\\\slash$/);
      expect(lines[4]).toMatch(/ plain$/);
      // JSON keeps names as they are.
      const j = oneJson<{ entries: Array<{ path: string }> }>(
        ok(await runCli(['inspect', idx, '--json'])),
      );
      expect(j.entries.map((e) => e.path)).toEqual(names);
    });

    it('--json lists deletions and the chunks of every entry, from a file (two passes) or a pipe', async () => {
      const d = fresh();
      const body = pseudoRandom(300_000, 5);
      const layer = tarOf([
        ['a/.wh..wh..opq', new Uint8Array(0)],
        ['big.bin', body],
        ['.wh.gone', new Uint8Array(0)],
        ['small.txt', new TextEncoder().encode('hi\n')],
      ]);
      writeFileSync(join(d, 'w.tar'), layer);
      const idx = join(d, 'w.idx');
      const s = join(d, 's');
      ok(await runCli(['convert', join(d, 'w.tar'), '--store', s, '--out', idx]));
      const j = oneJson<{
        entries: Array<{ path: string; chunks: number }>;
        deletions: Array<{ path: string; opaque: boolean; whiteout: string; chunks: number }>;
        end: { entries: number; deletions: number };
      }>(ok(await runCli(['inspect', idx, '--store', s, '--json'])));
      expect(j.entries.map((e) => [e.path, e.chunks > 1])).toEqual([
        ['big.bin', true],
        ['small.txt', false],
      ]);
      expect(j.deletions).toEqual([
        { path: 'a', opaque: true, whiteout: 'a/.wh..wh..opq', chunks: 0 },
        { path: 'gone', opaque: false, whiteout: '.wh.gone', chunks: 0 },
      ]);
      expect(j.end).toMatchObject({ entries: 2, deletions: 2 });
      // From a pipe, which can be read only once: the same object.
      const piped = ok(
        await runCli(['inspect', '-', '--store', s, '--json'], { stdin: readFileSync(idx) }),
      );
      expect(oneJson(piped)).toEqual(j);
      // And a root from a pipe without --store: its totals.
      const root = ok(await runCli(['inspect', '-', '--json'], { stdin: readFileSync(idx) }));
      expect(oneJson<{ end: unknown }>(root).end).toEqual(j.end);
    });

    it('a root-like file over the root size limit: ERR_RECORD_FORMAT, not read whole', async () => {
      const d = fresh();
      const head = readFileSync(index).subarray(0, 8);
      writeFileSync(join(d, 'big'), Buffer.concat([head, Buffer.alloc(17 << 20)]));
      fails(await runCli(['inspect', join(d, 'big')]), 1, /ERR_RECORD_FORMAT: index root exceeds/);
    });
  });

  describe('failures', () => {
    const USAGE = /usage: layerdiff <command>/;

    it('no command: exit 2, usage on stderr', async () => {
      const r = fails(await runCli([]), 2, USAGE);
      expect(r.stdout.length).toBe(0);
    });

    it('--help: exit 0, usage on stdout', async () => {
      const r = ok(await runCli(['--help']));
      expect(r.stdout.toString()).toMatch(USAGE);
    });

    it.each([
      [['cat', '--help'], /^usage: layerdiff\n {2}cat <index> --store/],
      [['extract', '-h'], /^usage: layerdiff\n {2}extract <index>\.\.\./],
      [['oci', 'pull', '--help'], /^usage: layerdiff\n {2}oci pull <host/],
    ])('%j: exit 0, the usage of that command alone on stdout', async (args, start) => {
      const text = ok(await runCli(args)).stdout.toString();
      expect(text).toMatch(start);
      expect(text).not.toContain('convert <layer|->');
      expect(text).not.toContain('  extract-tar <tar');
    });

    it.each([
      [['convert'], /expected one layer path/],
      [['convert', 'x.tar', '--out', 'x.idx'], /--store is required/],
      [['convert', 'x.tar', '--store', 's'], /--out is required/],
      [['convert', 'a.tar', 'b.tar', '--store', 's', '--out', 'x.idx'], /expected one layer/],
      [['convert', 'x.tar', '--store', 's', '--out', 'x.idx', '--bogus'], /bogus/],
      [['cat'], /expected one index path/],
      [['cat', 'x.idx'], /--store is required/],
      [['inspect'], /expected one index path/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['__proto__'], /unknown command "__proto__"/],
      [['toString'], /unknown command "toString"/],
    ])('%j: exit 2, message and usage on stderr', async (args, message) => {
      const d = fresh();
      const r = fails(await runCli(args, { cwd: d }), 2, message);
      expect(r.stderr).toMatch(USAGE);
      expect(r.stdout.length).toBe(0);
      expect(readdirSync(d)).toEqual([]);
    });

    it('a hashing command that fails at once exits at once: the worker started early does not keep it alive', async () => {
      for (const args of [['convert'], ['cat', 'x.idx'], ['oci']]) {
        const started = performance.now();
        const r = await runCli(args, { cwd: fresh(), timeoutMs: 10_000 });
        expect(r.signal).toBeNull();
        expect(r.code).toBe(2);
        expect(performance.now() - started).toBeLessThan(5_000);
      }
    });

    it('convert of a nonexistent input: exit 2, no output file', async () => {
      const d = fresh();
      const missing = join(d, 'missing.tar');
      const r = fails(
        await runCli([
          'convert',
          missing,
          '--store',
          join(d, 'store'),
          '--out',
          join(d, 'out.idx'),
        ]),
        2,
        /^layerdiff convert: cannot read .*: no such file or directory\n$/,
      );
      expect(r.stderr).toContain(missing);
      expect(r.stdout.length).toBe(0);
      expect(leftovers(d, 'out')).toEqual([]);
    });

    it('cat of a nonexistent index: exit 2, no output file', async () => {
      const d = fresh();
      const r = fails(
        await runCli(['cat', join(d, 'missing.idx'), '--store', store, '--out', join(d, 'out')]),
        2,
        /^layerdiff cat: cannot read .*: no such file or directory\n$/,
      );
      expect(r.stderr).toContain('missing.idx');
      expect(leftovers(d, 'out')).toEqual([]);
    });

    /** Converts `bytes` as a layer, expecting failure with `code` and no index left behind. */
    async function convertFails(bytes: Uint8Array, code: string): Promise<RunResult> {
      const d = fresh();
      writeFileSync(join(d, 'in'), bytes);
      const r = fails(
        await runCli([
          'convert',
          join(d, 'in'),
          '--store',
          join(d, 'store'),
          '--out',
          join(d, 'out'),
        ]),
        1,
        new RegExp(code),
      );
      expect(leftovers(d, 'out')).toEqual([]);
      expect(listFiles(join(d, 'store', 'tmp'))).toEqual([]);
      return r;
    }

    it('corrupt gzip (bad CRC): ERR_COMPRESSION, no index', async () => {
      const bad = Buffer.from(readFileSync(gz));
      bad[bad.length - 8]! ^= 0xff; // the CRC-32 of the trailer
      await convertFails(bad, 'ERR_COMPRESSION');
    });

    it('corrupt gzip (bad deflate data): ERR_COMPRESSION, no index', async () => {
      const good = readFileSync(gz);
      const bad = Buffer.concat([good.subarray(0, 10), Buffer.from(pseudoRandom(5000, 9))]);
      await convertFails(bad, 'ERR_COMPRESSION');
    });

    it('corrupt zstd (bad content checksum): ERR_COMPRESSION naming the frame, no index', async () => {
      const bad = Buffer.from(readFileSync(zst));
      bad[bad.length - 1]! ^= 0x01; // the last byte of the frame's XXH64 checksum
      const r = await convertFails(bad, 'ERR_COMPRESSION');
      expect(r.stderr).toMatch(/frame at compressed offset 0 fails its content checksum/);
    });

    it('truncated gzip: exit 1, no index', async () => {
      const good = readFileSync(gz);
      await convertFails(good.subarray(0, good.length >> 1), 'ERR_COMPRESSION|ERR_TAR_TRUNCATED');
    });

    it('truncated tar: ERR_TAR_TRUNCATED, no index', async () => {
      const r = await convertFails(tarBytes.subarray(0, 700_000), 'ERR_TAR_TRUNCATED');
      expect(r.stderr).toContain('./bin/tool');
    });

    /** A private copy of the main store, to damage. */
    function copyStore(): { dir: string; store: string } {
      const dir = fresh();
      const copy = join(dir, 'store');
      for (const f of listFiles(store)) {
        mkdirSync(join(copy, f, '..'), { recursive: true });
        copyFileSync(join(store, f), join(copy, f));
      }
      return { dir, store: copy };
    }

    it('cat with a chunk missing: ERR_CHUNK_NOT_FOUND naming it, no output file', async () => {
      const { dir, store: s } = copyStore();
      // The largest record is a body chunk of bin/tool, whatever the CDC cuts.
      const victim = largestRecord(s);
      dropRecord(victim);
      const r = fails(
        await runCli(['cat', index, '--store', s, '--out', join(dir, 'out.tar')]),
        1,
        /ERR_CHUNK_NOT_FOUND/,
      );
      expect(r.stderr).toContain(victim.digest);
      expect(leftovers(dir, 'out')).toEqual([]);
    });

    it('cat with a chunk corrupted: ERR_CHUNK_DIGEST, no output file', async () => {
      const { dir, store: s } = copyStore();
      const victim = largestRecord(s);
      flipStoredBit(victim);
      const r = fails(
        await runCli(['cat', index, '--store', s, '--out', join(dir, 'out.tar')]),
        1,
        /ERR_CHUNK_DIGEST/,
      );
      expect(r.stderr).toContain(victim.digest);
      expect(leftovers(dir, 'out')).toEqual([]);
    });

    it('cat with a pack cut short: ERR_PACK_FORMAT naming the pack, no output file', async () => {
      const { dir, store: s } = copyStore();
      const victim = largestRecord(s);
      truncateSync(victim.pack, victim.entry.offset + 100);
      const r = fails(
        await runCli(['cat', index, '--store', s, '--out', join(dir, 'out.tar')]),
        1,
        /ERR_PACK_FORMAT/,
      );
      expect(r.stderr).toContain(victim.pack);
      expect(leftovers(dir, 'out')).toEqual([]);
    });

    /**
     * Offset in the index file of the path of `./etc/config` in its entry record's metadata:
     * version 2 rebuilds a header from that metadata and a patch of what differs.
     */
    function pathOffset(idx: Buffer): number {
      const at = idx.indexOf(Buffer.from('./etc/config'));
      if (at < 0) throw new Error('no ./etc/config in the index');
      return at;
    }

    it.each([
      [
        'its mtime a second later',
        (idx: Buffer, p: number) => {
          // The `mt` key after the path, then a 4-byte CBOR uint.
          const mt = idx.indexOf(Buffer.from('626d741a', 'hex'), p);
          idx[mt + 7]! ^= 0x01;
        },
      ],
      [
        'a bit flipped in the name',
        (idx: Buffer, p: number) => {
          idx[p + 2]! ^= 0x01;
        },
      ],
    ])('cat of a tampered index (%s): non-zero exit, no output file', async (_, tamper) => {
      const d = fresh();
      const idx = Buffer.from(readFileSync(flatIndex));
      tamper(idx, pathOffset(idx));
      expect(idx.equals(readFileSync(flatIndex))).toBe(false);
      const bad = join(d, 'bad.idx');
      writeFileSync(bad, idx);
      fails(
        await runCli(['cat', bad, '--store', store, '--out', join(d, 'out.tar')]),
        1,
        /ERR_LAYER_DIGEST|ERR_RECORD_FORMAT/,
      );
      expect(leftovers(d, 'out')).toEqual([]);
      // To stdout the bytes have already gone, but the exit status still says they are bad.
      fails(await runCli(['cat', bad, '--store', store]), 1, /ERR_LAYER_DIGEST|ERR_RECORD_FORMAT/);
    });

    it('cat with a corrupt index chunk in the store: ERR_CHUNK_DIGEST, no output file', async () => {
      const d = fresh();
      const copy = join(d, 'store');
      cpSync(store, copy, { recursive: true });
      // The first index chunk starts with the flat index's first bytes (the magic).
      const flatBytes = readFileSync(flatIndex);
      const victim = packRecords(copy).find((r) =>
        recordBytes(r).subarray(0, 64).equals(flatBytes.subarray(0, 64)),
      );
      expect(victim).toBeDefined();
      flipStoredBit(victim!, 10);
      fails(
        await runCli(['cat', index, '--store', copy, '--out', join(d, 'out.tar')]),
        1,
        /ERR_CHUNK_DIGEST/,
      );
      expect(leftovers(d, 'out')).toEqual([]);
    });

    it('cat of a truncated index: ERR_RECORD_FORMAT, no output file', async () => {
      const d = fresh();
      const bytes = readFileSync(index);
      writeFileSync(join(d, 'short.idx'), bytes.subarray(0, bytes.length >> 1));
      fails(
        await runCli(['cat', join(d, 'short.idx'), '--store', store, '--out', join(d, 'out.tar')]),
        1,
        /ERR_RECORD_FORMAT/,
      );
      expect(leftovers(d, 'out')).toEqual([]);
    });

    it.each([
      ['a tar', () => tarBytes],
      ['an empty file', () => new Uint8Array(0)],
      ['a truncated index', () => readFileSync(index).subarray(0, 40)],
    ])('inspect of %s: ERR_RECORD_FORMAT', async (_, bytes) => {
      const d = fresh();
      writeFileSync(join(d, 'x'), bytes());
      fails(await runCli(['inspect', join(d, 'x')]), 1, /ERR_RECORD_FORMAT/);
      fails(await runCli(['inspect', '--json', join(d, 'x')]), 1, /ERR_RECORD_FORMAT/);
    });
  });
});
