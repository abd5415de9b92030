/**
 * Paths a command cannot use (missing, a directory where a file is wanted, a file where a
 * directory is): for every command, one line on stderr naming the path and the problem, the
 * exit status of a bad argument, and nothing made or changed (no store, output or temporary
 * file).
 */
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolsAvailable } from '../helpers/tools.js';
import { makeTar, requireDist, runCli } from './run.js';

/** Every name under `dir`, directories included, with each file's size and mtime. */
function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((d) => {
      const path = join(d.parentPath ?? d.path, d.name);
      const st = lstatSync(path);
      return `${path.slice(dir.length + 1)} ${d.isDirectory() ? 'dir' : `${st.size} ${st.mtimeMs}`}`;
    })
    .sort();
}

describe.runIf(toolsAvailable('tar'))('paths a command cannot use', () => {
  let work: string;
  /** A path in the work directory. */
  const at = (name: string) => join(work, name);

  beforeAll(async () => {
    requireDist();
    work = mkdtempSync(join(tmpdir(), 'layerdiff-paths-'));
    const tar = makeTar(work, 'layer', { 'a.txt': new TextEncoder().encode('hello\n') });
    const made = [
      ['convert', tar, '--store', at('store'), '--out', at('layer.idx')],
      ['diff', tar, '--store', at('store'), '--out', at('layer.diff')],
      ['bundle', at('layer.idx'), '--store', at('store'), '--out', at('layer.zip')],
    ];
    for (const args of made) {
      const r = await runCli(args);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    mkdirSync(at('a-dir'));
    writeFileSync(at('a-file'), 'not a directory');
  }, 60_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /**
   * Runs `args` (a function of the path names, so that they are absolute), expecting exit 2,
   * exactly `layerdiff <command>: <message>` on stderr, nothing on stdout and the work
   * directory as it was.
   */
  async function refused(command: string, args: string[], message: string): Promise<void> {
    const before = snapshot(work);
    const r = await runCli(args, { cwd: work });
    expect(r.stderr, args.join(' ')).toBe(`layerdiff ${command}: ${message}\n`);
    expect(r.signal).toBeNull();
    expect(r.code, args.join(' ')).toBe(2);
    expect(r.stdout.length).toBe(0);
    expect(snapshot(work), args.join(' ')).toEqual(before);
  }

  const MISSING = 'no such file or directory';

  /** Each case: the command, its arguments, and what it must say. */
  const cases: Array<[string, string[], string]> = [
    // convert: layer missing, a directory; output a directory, in a missing directory; store a file
    [
      'convert',
      ['convert', 'none.tar', '--store', 'new-store', '--out', 'o.idx'],
      `cannot read none.tar: ${MISSING}`,
    ],
    [
      'convert',
      ['convert', 'a-dir', '--store', 'new-store', '--out', 'o.idx'],
      'cannot read a-dir: is a directory',
    ],
    [
      'convert',
      ['convert', 'layer.tar', '--store', 'new-store', '--out', 'a-dir'],
      'cannot write a-dir: is a directory',
    ],
    [
      'convert',
      ['convert', 'layer.tar', '--store', 'new-store', '--out', 'none/o.idx'],
      `cannot write none/o.idx: ${MISSING}`,
    ],
    [
      'convert',
      ['convert', 'layer.tar', '--store', 'a-file', '--out', 'o.idx'],
      'cannot write a-file: not a directory',
    ],
    ['cat', ['cat', 'none.idx', '--store', 'store'], `cannot read none.idx: ${MISSING}`],
    ['cat', ['cat', 'a-dir', '--store', 'store'], 'cannot read a-dir: is a directory'],
    [
      'cat',
      ['cat', 'layer.idx', '--store', 'store', '--out', 'a-dir'],
      'cannot write a-dir: is a directory',
    ],
    [
      'cat',
      ['cat', 'layer.idx', '--store', 'store', '--out', 'a-file/x'],
      'cannot write a-file/x: not a directory',
    ],
    ['inspect', ['inspect', 'none.idx'], `cannot read none.idx: ${MISSING}`],
    ['inspect', ['inspect', 'a-dir', '--store', 'store'], 'cannot read a-dir: is a directory'],
    [
      'diff',
      ['diff', 'none.tar', '--store', 'store', '--out', 'o.diff'],
      `cannot read none.tar: ${MISSING}`,
    ],
    [
      'diff',
      ['diff', 'a-dir', '--store', 'store', '--out', 'o.diff'],
      'cannot read a-dir: is a directory',
    ],
    [
      'diff',
      ['diff', 'layer.tar', '--base', 'none.idx', '--store', 'store', '--out', 'o.diff'],
      `cannot read none.idx: ${MISSING}`,
    ],
    [
      'diff',
      ['diff', 'layer.tar', '--base', 'a-dir', '--store', 'store', '--out', 'o.diff'],
      'cannot read a-dir: is a directory',
    ],
    [
      'diff',
      ['diff', 'layer.tar', '--store', 'store', '--out', 'a-dir'],
      'cannot write a-dir: is a directory',
    ],
    [
      'apply',
      ['apply', 'none.diff', '--store', 'new-store', '--out', 'o.idx'],
      `cannot read none.diff: ${MISSING}`,
    ],
    [
      'apply',
      ['apply', 'a-dir', '--store', 'new-store', '--out', 'o.idx'],
      'cannot read a-dir: is a directory',
    ],
    // Refused before a chunk of the diff is stored.
    [
      'apply',
      ['apply', 'layer.diff', '--store', 'new-store', '--out', 'a-dir'],
      'cannot write a-dir: is a directory',
    ],
    [
      'bundle',
      ['bundle', 'none.idx', '--store', 'store', '--out', 'o.zip'],
      `cannot read none.idx: ${MISSING}`,
    ],
    [
      'bundle',
      ['bundle', 'a-dir', '--store', 'store', '--out', 'o.zip'],
      'cannot read a-dir: is a directory',
    ],
    [
      'bundle',
      ['bundle', 'layer.idx', '--store', 'store', '--out', 'a-dir'],
      'cannot write a-dir: is a directory',
    ],
    [
      'unbundle',
      ['unbundle', 'none.zip', '--store', 'new-store', '--out', 'o.idx'],
      `cannot read none.zip: ${MISSING}`,
    ],
    [
      'unbundle',
      ['unbundle', 'a-dir', '--store', 'new-store', '--out', 'o.idx'],
      'cannot read a-dir: is a directory',
    ],
    [
      'unbundle',
      ['unbundle', '-', '--store', 'new-store', '--out', 'o.idx'],
      'cannot read -: this command reads a file, not standard input',
    ],
    [
      'unbundle',
      ['unbundle', 'layer.zip', '--store', 'new-store', '--out', 'a-dir'],
      'cannot write a-dir: is a directory',
    ],
    [
      'changes',
      ['changes', 'none.idx', 'layer.idx', '--store', 'store'],
      `cannot read none.idx: ${MISSING}`,
    ],
    [
      'changes',
      ['changes', 'layer.idx', 'a-dir', '--store', 'store'],
      'cannot read a-dir: is a directory',
    ],
    [
      'flatten',
      ['flatten', 'layer.idx', 'none.idx', '--store', 'store'],
      `cannot read none.idx: ${MISSING}`,
    ],
    ['flatten', ['flatten', 'a-dir', '--store', 'store'], 'cannot read a-dir: is a directory'],
    [
      'flatten',
      ['flatten', 'layer.idx', '--store', 'store', '--out', 'a-dir'],
      'cannot write a-dir: is a directory',
    ],
    // extract makes its target: not even that is left.
    [
      'extract',
      ['extract', 'none.idx', '--store', 'store', '--dir', 'target'],
      `cannot read none.idx: ${MISSING}`,
    ],
    [
      'extract',
      ['extract', 'a-dir', '--store', 'store', '--dir', 'target'],
      'cannot read a-dir: is a directory',
    ],
    [
      'extract',
      ['extract', 'layer.idx', '--store', 'store', '--dir', 'a-file'],
      'cannot write a-file: not a directory',
    ],
    [
      'extract-tar',
      ['extract-tar', 'none.tar', '--dir', 'target'],
      `cannot read none.tar: ${MISSING}`,
    ],
    [
      'extract-tar',
      ['extract-tar', 'a-dir', '--dir', 'target'],
      'cannot read a-dir: is a directory',
    ],
    [
      'extract-tar',
      ['extract-tar', 'layer.tar', '--dir', 'a-file/x'],
      'cannot write a-file/x: not a directory',
    ],
    ['gc', ['gc', 'none.idx', '--store', 'store', '--dry-run'], `cannot read none.idx: ${MISSING}`],
    ['gc', ['gc', 'a-dir', '--store', 'store'], 'cannot read a-dir: is a directory'],
    ['gc', ['gc', '--oci', 'none', '--store', 'store'], `cannot read none: ${MISSING}`],
    ['gc', ['gc', '--oci', 'a-file', '--store', 'store'], 'cannot read a-file: not a directory'],
    // The layouts oci reads are directories; those it writes must not exist yet.
    [
      'oci',
      ['oci', 'convert', 'none', '--store', 'new-store', '--out', 'o'],
      `cannot read none: ${MISSING}`,
    ],
    [
      'oci',
      ['oci', 'convert', 'a-file', '--store', 'new-store', '--out', 'o'],
      'cannot read a-file: not a directory',
    ],
    [
      'oci',
      ['oci', 'convert', 'a-dir', '--store', 'new-store', '--out', 'a-dir'],
      'cannot write a-dir: already exists (name a new directory)',
    ],
    [
      'oci',
      ['oci', 'convert', 'a-dir', '--store', 'new-store', '--out', 'a-file/o'],
      'cannot write a-file/o: not a directory',
    ],
    [
      'oci',
      ['oci', 'restore', 'none', '--store', 'store', '--out', 'o'],
      `cannot read none: ${MISSING}`,
    ],
    [
      'oci',
      ['oci', 'restore', 'a-file', '--store', 'store', '--out', 'o'],
      'cannot read a-file: not a directory',
    ],
    [
      'oci',
      ['oci', 'restore', 'a-dir', '--store', 'store', '--out', 'a-dir'],
      'cannot write a-dir: already exists (name a new directory)',
    ],
    ['oci', ['oci', 'flatten', 'none', '--store', 'new-store'], `cannot read none: ${MISSING}`],
    [
      'oci',
      ['oci', 'flatten', 'a-dir', '--store', 'new-store', '--out', 'a-dir'],
      'cannot write a-dir: is a directory',
    ],
    [
      'oci',
      ['oci', 'push', 'none', '127.0.0.1:1/r', '--store', 'store', '--plain-http'],
      `cannot read none: ${MISSING}`,
    ],
    [
      'oci',
      ['oci', 'push', 'a-file', '127.0.0.1:1/r', '--store', 'store', '--plain-http'],
      'cannot read a-file: not a directory',
    ],
    // Refused before the registry (none listens on port 1) is asked anything.
    [
      'oci',
      ['oci', 'pull', '127.0.0.1:1/r', '--store', 'new-store', '--out', 'a-dir', '--plain-http'],
      'cannot write a-dir: already exists (name a new directory)',
    ],
    [
      'serve',
      ['serve', 'none', '--store', 'store', '--listen', '127.0.0.1:0'],
      `cannot read none: ${MISSING}`,
    ],
    [
      'serve',
      ['serve', 'r=a-file', '--store', 'store', '--listen', '127.0.0.1:0'],
      'cannot read a-file: not a directory',
    ],
  ];

  it.each(cases)('%s: %j', async (command, args, message) => {
    await refused(command, args, message);
  });

  it('an absolute path is named as given', async () => {
    await refused(
      'cat',
      ['cat', at('none.idx'), '--store', at('store')],
      `cannot read ${at('none.idx')}: ${MISSING}`,
    );
  });

  it('an output that is a symbolic link into a missing directory', async () => {
    // Its target is taken relative to the link's directory (here a-dir, which exists), as the
    // writer takes it: the missing directory is a-dir/none.
    symlinkSync('none/o.idx', at('a-dir/dangling'));
    try {
      await refused(
        'convert',
        ['convert', 'layer.tar', '--store', 'new-store', '--out', 'a-dir/dangling'],
        `cannot write a-dir/dangling: ${MISSING}`,
      );
    } finally {
      rmSync(at('a-dir/dangling'));
    }
  });

  it.skipIf(userInfo().uid === 0)('a file that may not be read', async () => {
    writeFileSync(at('secret.idx'), 'x', { mode: 0o000 });
    try {
      await refused(
        'cat',
        ['cat', 'secret.idx', '--store', 'store'],
        'cannot read secret.idx: permission denied',
      );
    } finally {
      rmSync(at('secret.idx'));
    }
  });
});
