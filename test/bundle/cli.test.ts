/**
 * `layerdiff bundle` and `layerdiff unbundle`, run as users run them (`node dist/cli.js`), on a
 * layer made by GNU tar: convert → bundle → unbundle into a fresh store → cat gives the
 * original tar; failures leave no output file and no bad chunk.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFiles, makeTar, requireDist, runCli } from '../cli/run.js';
import { pseudoRandom } from '../helpers/bytes.js';
import {
  dropRecord,
  flipStoredBit,
  largestRecord,
  packRecords,
  recordBytes,
} from '../helpers/packs.js';
import { sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { entriesOf, textBytes, zipOf } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'layerdiff-bundle-cli-'));
let tarPath: string;
let root: string;
let store: string;

beforeAll(async () => {
  requireDist();
  tarPath = makeTar(
    dir,
    'layer',
    {
      'etc/motd': new TextEncoder().encode('bundled\n'),
      'usr/lib/libx.so': pseudoRandom(700_000, 31),
      'usr/share/doc/README': textBytes(150_000, 32),
    },
    { 'usr/lib/libx.so.1': 'libx.so' },
  );
  store = join(dir, 'store');
  root = join(dir, 'layer.ldr');
  const r = await runCli(['convert', tarPath, '--store', store, '--out', root]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every chunk a pack store lists holds the bytes its digest promises. */
function expectCleanStore(storeDir: string) {
  for (const r of packRecords(storeDir)) expect(sha256(recordBytes(r))).toBe(r.digest);
}

describe('layerdiff bundle / unbundle', () => {
  it('round trip: convert, bundle, unbundle into a fresh store, cat gives the tar', async () => {
    const zip = join(dir, 'layer.zip');
    const b = await runCli(['bundle', root, '--store', store, '--out', zip]);
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    expect(b.stdout.toString()).toMatch(
      /layer\.zip: \d+ entries \(index, \d+ index chunks, \d+ data chunks\)/,
    );
    if (toolsAvailable('unzip')) {
      expect(execFileSync('unzip', ['-l', zip], { encoding: 'utf8' })).toContain('index.ldr');
      expect(execFileSync('unzip', ['-t', zip], { encoding: 'utf8' })).toContain('No errors');
    }
    const fresh = join(dir, 'fresh');
    const out = join(dir, 'unbundled.ldr');
    const u = await runCli(['unbundle', zip, '--store', fresh, '--out', out, '--json']);
    expect(u.stderr).toBe('');
    expect(u.code).toBe(0);
    const json = JSON.parse(u.stdout.toString()) as Record<string, number | string>;
    expect(json.diffId).toBe(sha256(readFileSync(tarPath)));
    expect(json.newChunks).toBe(json.chunks);
    expect(readFileSync(out)).toEqual(readFileSync(root));
    const c = await runCli(['cat', out, '--store', fresh]);
    expect(c.code).toBe(0);
    expect(sha256(c.stdout)).toBe(sha256(readFileSync(tarPath)));
    expectCleanStore(fresh);
    // A second unbundle writes nothing new.
    const again = await runCli(['unbundle', zip, '--store', fresh, '--out', out]);
    expect(again.code).toBe(0);
    expect(again.stdout.toString()).toMatch(
      /^sha256:[0-9a-f]{64} {2}\d+ chunks \(0 new, 0 bytes\)\n$/,
    );
    // A bit flipped in the store: cat fails; unbundling again replaces the bad copy.
    flipStoredBit(largestRecord(fresh));
    expect((await runCli(['cat', out, '--store', fresh, '--out', '/dev/null'])).code).toBe(1);
    const repair = await runCli(['unbundle', zip, '--store', fresh, '--out', out, '--json']);
    expect(repair.code).toBe(0);
    expect(JSON.parse(repair.stdout.toString()).newChunks).toBe(1);
    const fixed = await runCli(['cat', out, '--store', fresh]);
    expect(fixed.code).toBe(0);
    expect(sha256(fixed.stdout)).toBe(sha256(readFileSync(tarPath)));
  });

  it('bundle --json reports totals that match the zip', async () => {
    const zip = join(dir, 'json.zip');
    const r = await runCli([
      'bundle',
      root,
      '--store',
      store,
      '--out',
      zip,
      '--json',
      '--compression',
      'store',
    ]);
    expect(r.code).toBe(0);
    const totals = JSON.parse(r.stdout.toString()) as Record<string, number>;
    expect(totals.zipBytes).toBe(readFileSync(zip).length);
    expect(totals.entries).toBe(1 + totals.indexChunks! + totals.dataChunks!);
    expect((await entriesOf(new Uint8Array(readFileSync(zip)))).length).toBe(totals.entries);
  });

  it('a tampered bundle fails with ERR_CHUNK_DIGEST, writes no index and no bad chunk', async () => {
    const zip = new Uint8Array(readFileSync(join(dir, 'layer.zip')));
    const entries = await entriesOf(zip);
    const last = entries[entries.length - 1]!;
    const bad = last[1].slice();
    bad[0]! ^= 0xff;
    const badZip = join(dir, 'bad.zip');
    writeFileSync(badZip, await zipOf([...entries.slice(0, -1), [last[0], bad]]));
    const fresh = join(dir, 'fresh-bad');
    const out = join(dir, 'bad.ldr');
    const r = await runCli(['unbundle', badZip, '--store', fresh, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^layerdiff unbundle: ERR_CHUNK_DIGEST: /);
    expect(existsSync(out)).toBe(false);
    expect(listFiles(dir).filter((f) => f.startsWith('bad.ldr'))).toEqual([]);
    expectCleanStore(fresh);
  });

  it('a store missing a chunk fails the bundle, and leaves no zip', async () => {
    const partial = join(dir, 'partial');
    execFileSync('cp', ['-r', store, partial]);
    dropRecord(largestRecord(partial));
    const zip = join(dir, 'partial.zip');
    const r = await runCli(['bundle', root, '--store', partial, '--out', zip]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^layerdiff bundle: ERR_CHUNK_NOT_FOUND: /);
    expect(existsSync(zip)).toBe(false);
    expect(listFiles(dir).filter((f) => f.startsWith('partial.zip'))).toEqual([]);
  });

  it('usage errors exit 2; a file that is not a zip exits 1 with ERR_BUNDLE', async () => {
    expect((await runCli(['bundle', root, '--store', store])).code).toBe(2);
    expect((await runCli(['unbundle', '--store', store, '--out', 'x'])).code).toBe(2);
    const bad = await runCli([
      'bundle',
      root,
      '--store',
      store,
      '--out',
      join(dir, 'z.zip'),
      '--compression',
      'zstd',
    ]);
    expect(bad.code).toBe(2);
    const r = await runCli([
      'unbundle',
      tarPath,
      '--store',
      join(dir, 's2'),
      '--out',
      join(dir, 'n.ldr'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^layerdiff unbundle: ERR_BUNDLE: /);
  });
});
