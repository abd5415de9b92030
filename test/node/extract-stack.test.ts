/**
 * Hostile layer stacks through flatten and extract (what `layerdiff extract` runs): symlinks
 * planted by a lower layer to absolute and `../` targets with files written through them by
 * an upper layer, `../` and absolute entry paths, and hardlinks to outside files. Nothing is
 * created or changed outside the target, whatever the outcome.
 */
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { extract } from '../../src/node/extract.js';
import { flatten } from '../../src/pipeline/flatten.js';
import { MemoryStore } from '../../src/store/memory.js';
import { convertBytes, hash } from '../helpers/layers.js';
import { streamOf } from '../helpers/streams.js';
import { buildTar, type TarSpec } from './extract-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-stack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;

/** Lists every path under `dir` with its contents, for before/after comparison. */
function listing(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => {
    const p = join(e.parentPath, e.name);
    return e.isFile() ? `${p}=${readFileSync(p, 'utf8')}` : p;
  });
}

async function extractStack(layers: TarSpec[][]) {
  // sentinel/ holds an outside file and the target, two levels down.
  const sentinel = join(work, `s${n++}`);
  const outside = join(sentinel, 'outside.txt');
  const target = join(sentinel, 'a', 'target');
  mkdirSync(join(sentinel, 'a'), { recursive: true });
  writeFileSync(outside, 'precious\n');
  const store = new MemoryStore();
  const indexes: Uint8Array[] = [];
  for (const specs of layers) {
    const specsHere = specs.map((s) => ({
      ...s,
      linkname: s.linkname?.replace('$OUTSIDE', outside).replace('$SENTINEL', sentinel),
    }));
    indexes.push((await convertBytes(buildTar(specsHere).bytes, store)).index);
  }
  const before = listing(sentinel);
  const tar = flatten(
    indexes.map((i) => () => streamOf(i)),
    store,
    { hash },
  );
  const outcome = await extract(tar, target).catch((e: unknown) => e);
  const after = listing(sentinel).filter((p) => !p.startsWith(target));
  expect(after).toEqual(before);
  expect(readFileSync(outside, 'utf8')).toBe('precious\n');
  return { target, outcome };
}

const file = (path: string, body = 'evil\n'): TarSpec => ({ path, body, mode: 0o644 });

/** The sentinel directory of a target (`<sentinel>/a/target`), as a path below the root. */
const sentinelOf = (target: string) => join(target, '..', '..').slice(1);

describe('hostile stacks: flatten, then extract', () => {
  it('a symlink to an absolute path, then a file written through it', async () => {
    const { target, outcome } = await extractStack([
      [{ path: 'escape', kind: 'symlink', linkname: '$SENTINEL' }],
      [file('escape/outside.txt'), file('escape/new.txt')],
    ]);
    expect(outcome).not.toBeInstanceOf(Error);
    // Flatten followed the link inside the image's own root, as a runtime does: the files
    // are under the link's target path there, and the link is kept (pointing outside the
    // target on this host, which extract writes as data and never follows).
    expect(readFileSync(join(target, sentinelOf(target), 'outside.txt'), 'utf8')).toBe('evil\n');
    expect(lstatSync(join(target, 'escape')).isSymbolicLink()).toBe(true);
  });

  it('a symlink to ../.., then a file written through it', async () => {
    const { target } = await extractStack([
      [{ path: 'up', kind: 'symlink', linkname: '../..' }],
      [file('up/outside.txt'), file('up/a/x')],
    ]);
    // `..` stops at the image's root: the link leads there.
    expect(readFileSync(join(target, 'outside.txt'), 'utf8')).toBe('evil\n');
    expect(readFileSync(join(target, 'a/x'), 'utf8')).toBe('evil\n');
    expect(lstatSync(join(target, 'up')).isSymbolicLink()).toBe(true);
  });

  it('../ and absolute entry paths are clamped inside', async () => {
    const { target } = await extractStack([
      [file('../../outside.txt'), file('/abs.txt'), file('a/../../../b.txt')],
    ]);
    expect(readFileSync(join(target, 'outside.txt'), 'utf8')).toBe('evil\n');
    expect(readFileSync(join(target, 'abs.txt'), 'utf8')).toBe('evil\n');
    expect(readFileSync(join(target, 'b.txt'), 'utf8')).toBe('evil\n');
  });

  it('hardlinks to outside files never link outside', async () => {
    const { target } = await extractStack([
      [file('etc/passwd', 'inside\n')],
      [
        { path: 'l1', kind: 'hardlink', linkname: '$OUTSIDE' },
        { path: 'l2', kind: 'hardlink', linkname: '../../outside.txt' },
        { path: 'l3', kind: 'hardlink', linkname: '/etc/passwd' },
      ],
    ]);
    // Targets are cleaned like entry paths: /etc/passwd is the layer's own etc/passwd.
    expect(readFileSync(join(target, 'l3'), 'utf8')).toBe('inside\n');
  });
});
