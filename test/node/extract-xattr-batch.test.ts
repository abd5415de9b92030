/**
 * An entry's xattrs go to one setfattr run, however many there are: a pax header of 1 MiB can
 * hold some 40,000, and a process each cost about 2 ms. child_process is wrapped to count runs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { extract } from '../../src/node/extract.js';
import { streamOf } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { buildTar } from './extract-helpers.js';

const { runs } = vi.hoisted(() => ({ runs: [] as string[] }));

vi.mock('node:child_process', async (importOriginal) => {
  const cp = await importOriginal<typeof import('node:child_process')>();
  return {
    ...cp,
    execFile: ((file: string, ...rest: unknown[]) => {
      runs.push(file);
      return (cp.execFile as (...a: unknown[]) => unknown)(file, ...rest);
    }) as typeof cp.execFile,
  };
});

const tmp = mkdtempSync(join(tmpdir(), 'layerdiff-xattr-batch-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

it.runIf(toolsAvailable('setfattr', 'getfattr'))(
  'applies 30 xattrs of one entry with one setfattr',
  async () => {
    const xattrs = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [`user.x${i}`, new Uint8Array([i])]),
    );
    const { bytes } = buildTar([{ path: 'f', xattrs, body: 'body' }]);
    const out = join(tmp, 'out');
    const report = await extract(streamOf(bytes), out);
    expect(report.warnings).toEqual([]);
    expect(report.xattrs).toBe(30);
    expect(runs.filter((r) => r === 'setfattr')).toHaveLength(1);
    const dump = execFileSync('getfattr', ['-d', '-e', 'hex', join(out, 'f')], {
      encoding: 'utf8',
    });
    expect(dump).toContain('user.x29=0x1d');
  },
);
