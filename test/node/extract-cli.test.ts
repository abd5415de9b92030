/**
 * `layerdiff extract-tar`, run as users run it (`node dist/cli.js`).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireDist, runCli } from '../cli/run.js';
import { buildTar } from './extract-helpers.js';

describe('layerdiff extract-tar', () => {
  let tmp: string;
  const good = buildTar([
    { path: 'd/', kind: 'directory', mode: 0o755 },
    { path: 'd/f', body: 'hello\n', mode: 0o600 },
    { path: 'l', kind: 'symlink', linkname: 'd/f' },
  ]);
  beforeAll(() => {
    requireDist();
    tmp = mkdtempSync(join(tmpdir(), 'ld-extract-cli-'));
    writeFileSync(join(tmp, 'good.tar'), good.bytes);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('extracts a tar file and prints a summary, and the report with --json', async () => {
    const out = join(tmp, 'out');
    const r = await runCli(['extract-tar', join(tmp, 'good.tar'), '--dir', out, '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      `extracted 3 entries into ${out}: 1 files, 1 dirs, 1 symlinks, 0 hardlinks, 0 fifos, 0 devices; 0 skipped; ownership not applied to 0\n`,
    );
    const lines = r.stdout.toString('utf8').split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toMatchObject({ entries: 3, files: 1, dirs: 1, symlinks: 1 });
    expect(readFileSync(join(out, 'l'), 'utf8')).toBe('hello\n');
  });

  it('reads the tar from stdin with -', async () => {
    const out = join(tmp, 'stdin');
    const r = await runCli(['extract-tar', '-', '--dir', out], { stdin: good.bytes });
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(0);
    expect(readFileSync(join(out, 'd/f'), 'utf8')).toBe('hello\n');
  });

  it('fails with exit 1 and the typed error on a hostile tar', async () => {
    const bad = buildTar([
      { path: 'ok', body: 'x' },
      { path: '../evil', body: 'x' },
    ]);
    const r = await runCli(['extract-tar', '-', '--dir', join(tmp, 'bad')], { stdin: bad.bytes });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `layerdiff extract-tar: ERR_UNSAFE_PATH: refusing entry: path has a ".." component in entry "../evil" at tar offset ${bad.offsets[1]}\n`,
    );
    expect(() => readFileSync(join(tmp, 'evil'))).toThrow();
  });

  it('is a usage error without --dir', async () => {
    const r = await runCli(['extract-tar', join(tmp, 'good.tar')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^layerdiff extract-tar: --dir is required\n/);
  });
});
