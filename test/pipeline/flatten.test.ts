/**
 * flatten: hand-built layer stacks, each checked against an independent reference (GNU tar
 * applying the layers one by one, whiteouts done by the test) after unpacking the flattened tar
 * with GNU tar, with bsdtar and with layerdiff's own extract; plus warnings, path cleaning, sparse files, pull-driven fetches
 * and errors.
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChunkNotFoundError, RecordFormatError } from '../../src/errors.js';
import { extract as extractTo } from '../../src/node/extract.js';
import { flatten } from '../../src/pipeline/flatten.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { ChunkReader } from '../../src/store/types.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { convertBytes, hash } from '../helpers/layers.js';
import { collect, sha256, streamOf } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { GNU_TAR, python, pythonMembers } from '../tar/helpers.js';
import {
  checkStructure,
  extract,
  flattenTars,
  layerTar,
  referenceApply,
  type Spec,
  snapshot,
} from './flatten-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-flatten-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const haveTools = toolsAvailable('tar', 'bsdtar', 'python3');
let n = 0;

/**
 * Flattens the stack, unpacks the result with GNU tar and bsdtar, applies the layers with the
 * reference, and expects all three trees to be equal. Returns the tree and the warnings.
 */
async function againstReference(layers: Spec[][]) {
  const dir = join(work, `case-${n++}`);
  mkdirSync(dir);
  const tars = layers.map(layerTar);
  const files = tars.map((t, i) => {
    const f = join(dir, `layer-${i}.tar`);
    writeFileSync(f, t);
    return f;
  });
  const { tar, warnings } = await flattenTars(tars);
  extract(tar, join(dir, 'flat.tar'), join(dir, 'gnu'));
  extract(tar, join(dir, 'flat.tar'), join(dir, 'bsd'), 'bsd');
  referenceApply(files, join(dir, 'ref'));
  const tree = snapshot(join(dir, 'gnu'));
  expect(tree).toEqual(snapshot(join(dir, 'ref')));
  expect(snapshot(join(dir, 'bsd'))).toEqual(tree);
  // layerdiff's own extract (what `layerdiff extract` runs on flatten's output) gives the same.
  await extractTo(streamOf(tar, 5000), join(dir, 'ours'));
  expect(snapshot(join(dir, 'ours'))).toEqual(tree);
  expect(checkStructure(join(dir, 'flat.tar'))).toEqual([]);
  return { tree, warnings, tar, dir };
}

const content = (s: string) => `${s.length}:${sha256(new TextEncoder().encode(s))}`;

describe.skipIf(!haveTools)('flatten against the layer-by-layer reference', () => {
  it('later layers win; directories merge with the upper attributes', async () => {
    const { tree, warnings } = await againstReference([
      [
        { type: 'dir', path: 'd', mode: 0o700 },
        { type: 'file', path: 'd/x', body: 'x1' },
        { type: 'file', path: 'a', body: 'one' },
        { type: 'file', path: 'keep', body: 'keep' },
      ],
      [
        { type: 'file', path: 'a', body: 'two', mode: 0o600 },
        { type: 'dir', path: 'd', mode: 0o750 },
        { type: 'file', path: 'd/y', body: 'y2' },
      ],
    ]);
    expect(warnings).toEqual([]);
    expect(tree.a).toMatchObject({ type: 'file', mode: 0o600, content: content('two') });
    expect(tree.d).toMatchObject({ type: 'dir', mode: 0o750 });
    expect(Object.keys(tree).sort()).toEqual(['a', 'd', 'd/x', 'd/y', 'keep']);
  });

  it('whiteouts delete a file and a whole directory, only from lower layers', async () => {
    const { tree } = await againstReference([
      [
        { type: 'file', path: 'a', body: 'a' },
        { type: 'file', path: 'b', body: 'b' },
        { type: 'dir', path: 'd' },
        { type: 'dir', path: 'd/sub' },
        { type: 'file', path: 'd/sub/y', body: 'y' },
        { type: 'file', path: 'd/x', body: 'x' },
      ],
      [
        // The same layer re-creates b before its own whiteout: b survives with the new body.
        { type: 'file', path: 'b', body: 'b2' },
        { type: 'whiteout', path: 'a' },
        { type: 'whiteout', path: 'b' },
        { type: 'whiteout', path: 'd' },
        { type: 'whiteout', path: 'never-existed' },
      ],
    ]);
    expect(Object.keys(tree)).toEqual(['b']);
    expect(tree.b!.content).toBe(content('b2'));
  });

  it('an opaque directory hides its lower contents, not its own layer', async () => {
    const { tree } = await againstReference([
      [
        { type: 'dir', path: 'd' },
        { type: 'file', path: 'd/x', body: 'x' },
        { type: 'dir', path: 'd/sub' },
        { type: 'file', path: 'd/sub/y', body: 'y' },
        { type: 'file', path: 'e', body: 'e' },
      ],
      [
        { type: 'dir', path: 'd', mode: 0o711 },
        { type: 'file', path: 'd/z', body: 'z' },
        { type: 'opaque', path: 'd' },
      ],
    ]);
    expect(Object.keys(tree)).toEqual(['d', 'd/z', 'e']);
    expect(tree.d!.mode).toBe(0o711);
  });

  it('replaces a file by a directory, and a directory by a file and by a symlink', async () => {
    const { tree } = await againstReference([
      [
        { type: 'file', path: 'p', body: 'p' },
        { type: 'dir', path: 'd' },
        { type: 'file', path: 'd/x', body: 'x' },
        { type: 'dir', path: 'e' },
        { type: 'dir', path: 'e/f' },
        { type: 'file', path: 'e/f/x', body: 'x' },
      ],
      [
        { type: 'dir', path: 'p', mode: 0o700 },
        { type: 'file', path: 'p/q', body: 'q' },
        { type: 'file', path: 'd', body: 'now a file' },
        { type: 'symlink', path: 'e', target: '/somewhere/else' },
      ],
    ]);
    expect(Object.keys(tree)).toEqual(['d', 'e', 'p', 'p/q']);
    expect(tree.d).toMatchObject({ type: 'file', content: content('now a file') });
    expect(tree.e).toMatchObject({ type: 'symlink', content: '/somewhere/else' });
    expect(tree.p).toMatchObject({ type: 'dir', mode: 0o700 });
  });

  it('keeps the content of a hardlink group whose target is deleted later', async () => {
    const { tree, tar } = await againstReference([
      [
        { type: 'file', path: 'a', body: 'A content', mode: 0o640 },
        { type: 'hardlink', path: 'b', target: 'a' },
        { type: 'hardlink', path: 'c', target: './a' },
      ],
      [{ type: 'whiteout', path: 'a' }],
    ]);
    expect(Object.keys(tree)).toEqual(['b', 'c']);
    expect(tree.b).toMatchObject({ content: content('A content'), mode: 0o640, group: 'b' });
    expect(tree.c!.group).toBe('b');
    // b carries the body, c links to it.
    const file = join(work, 'hl-deleted.tar');
    writeFileSync(file, tar);
    const members = pythonMembers([file])[0]!;
    expect(members.map((m) => [m.name, m.type, m.linkname])).toEqual([
      ['b', '0', ''],
      ['c', '1', 'b'],
    ]);
  });

  it('follows a symlink in a parent path inside the root, as runtimes do (usrmerge)', async () => {
    const { tree, warnings } = await againstReference([
      [
        { type: 'dir', path: 'usr/lib' },
        { type: 'file', path: 'usr/lib/libc.so', body: 'c' },
        { type: 'file', path: 'usr/lib/old.so', body: 'o' },
        { type: 'dir', path: 'usr/share' },
        { type: 'file', path: 'usr/share/doc', body: 'd' },
        { type: 'symlink', path: 'lib', target: 'usr/lib' },
        { type: 'symlink', path: 'share', target: '/usr/share' },
        { type: 'symlink', path: 'up', target: '../../..' },
      ],
      [
        { type: 'file', path: 'lib/libfoo.so', body: 'f' },
        { type: 'whiteout', path: 'lib/old.so' },
        { type: 'hardlink', path: 'libc-link', target: 'lib/libc.so' },
        { type: 'opaque', path: 'share' },
        { type: 'file', path: 'up/top.txt', body: 't' },
      ],
    ]);
    expect(tree.lib).toMatchObject({ type: 'symlink', content: 'usr/lib' });
    expect(tree['usr/lib/libfoo.so']).toMatchObject({ content: content('f') });
    expect(tree['usr/lib/old.so']).toBeUndefined();
    expect(tree['libc-link']).toMatchObject({ group: 'libc-link' });
    expect(tree['usr/share/doc']).toBeUndefined();
    expect(tree['top.txt']).toMatchObject({ content: content('t') });
    expect(warnings).toEqual([]);
  });

  it('leaves out an entry below a symlink loop, and a symlink to nothing, with warnings', async () => {
    const { tree, warnings } = await againstReference([
      [
        { type: 'symlink', path: 'a', target: 'b' },
        { type: 'symlink', path: 'b', target: 'a' },
      ],
      [
        { type: 'file', path: 'a/x', body: 'x' },
        { type: 'symlink', path: 'empty', target: '' },
      ],
    ]);
    expect(Object.keys(tree).sort()).toEqual(['a', 'b']);
    expect(warnings.map((w) => [w.code, w.path])).toEqual([
      ['WARN_SYMLINK_LOOP', 'a/x'],
      ['WARN_UNSUPPORTED_TYPE', 'empty'],
    ]);
  });

  it('keeps the old content of a hardlink whose target is replaced later', async () => {
    const { tree } = await againstReference([
      [{ type: 'file', path: 'a', body: 'old' }],
      [{ type: 'hardlink', path: 'b', target: 'a' }],
      [{ type: 'file', path: 'a', body: 'new' }],
    ]);
    expect(tree.a).toMatchObject({ content: content('new') });
    expect(tree.b).toMatchObject({ content: content('old') });
    expect(tree.a!.group).toBeUndefined();
    expect(tree.b!.group).toBeUndefined();
  });

  it('writes hard links to a symlink as copies of it, which every extractor takes', async () => {
    // Docker and GNU tar write any inode with several names as a hard link: busybox's applets.
    const { tar } = await flattenTars([
      layerTar([
        { type: 'dir', path: 'bin' },
        { type: 'file', path: 'bin/busybox', body: 'bb', mode: 0o755 },
        { type: 'symlink', path: 'bin/sh', target: 'busybox' },
        { type: 'hardlink', path: 'bin/ash', target: 'bin/sh' },
      ]),
    ]);
    const dir = join(work, `case-${n++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'flat.tar'), tar);
    const members = pythonMembers([join(dir, 'flat.tar')])[0]!;
    expect(members.map((m) => [m.name, m.type, m.linkname])).toEqual([
      ['bin', '5', ''],
      ['bin/ash', '2', 'busybox'],
      ['bin/busybox', '0', ''],
      ['bin/sh', '2', 'busybox'],
    ]);
    // Refused before: our extract takes hard links to regular files only.
    await extractTo(streamOf(tar, 5000), join(dir, 'ours'));
    extract(tar, join(dir, 'flat.tar'), join(dir, 'gnu'));
    expect(snapshot(join(dir, 'ours'))).toEqual(snapshot(join(dir, 'gnu')));
    expect(snapshot(join(dir, 'ours'))['bin/ash']).toMatchObject({
      type: 'symlink',
      content: 'busybox',
    });
  });

  it('leaves out names that are not UTF-8, with a warning, instead of merging them', async () => {
    const file = join(work, `latin1-${n++}.tar`);
    python(
      `import tarfile, io
t = tarfile.open(${JSON.stringify(file)}, 'w', format=tarfile.GNU_FORMAT, encoding='latin-1')
for name, data in [('caf\u00e9', b'e-acute'), ('caf\u00e8', b'e-grave'), ('ok', b'fine')]:
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
w = tarfile.TarInfo('.wh.caf\u00e9'); t.addfile(w)
t.close()`,
    );
    const { tar, warnings } = await flattenTars([new Uint8Array(readFileSync(file))]);
    writeFileSync(`${file}.flat`, tar);
    expect(pythonMembers([`${file}.flat`])[0]!.map((m) => m.name)).toEqual(['ok']);
    expect(warnings.map((w) => w.code)).toEqual([
      'WARN_UNENCODABLE',
      'WARN_UNENCODABLE',
      'WARN_UNENCODABLE',
    ]);
  });

  it('holds at most maxEntries paths, in the tree and in a layer, and fails beyond', async () => {
    const files = (names: string[]) =>
      layerTar(names.map((path) => ({ type: 'file' as const, path, body: path })));
    const same = files(['d/a', 'd/b']); // d (implicit), d/a, d/b: three paths
    // Two layers writing the same files: four entries applied, never more than three held.
    await expect(flattenTars([same, same], { maxEntries: 3 })).resolves.toMatchObject({
      warnings: [],
    });
    await expect(flattenTars([same, files(['e'])], { maxEntries: 3 })).rejects.toMatchObject({
      code: 'ERR_INDEX_LIMIT',
      message: expect.stringMatching(
        /^layer 2 of 2 \(bottom first\): the merged tree's paths exceed 3, .*maxEntries/,
      ),
    });
    // A layer of four entries is refused as it is read, before any is applied.
    await expect(
      flattenTars([files(['a', 'b', 'c', 'd'])], { maxEntries: 3 }),
    ).rejects.toMatchObject({
      code: 'ERR_INDEX_LIMIT',
      message: expect.stringContaining("a layer's entries exceed 3"),
    });
    // Whiteouts make room.
    const replace = layerTar([
      { type: 'whiteout', path: 'd' },
      { type: 'file', path: 'x', body: 'x' },
      { type: 'file', path: 'y', body: 'y' },
    ]);
    await expect(flattenTars([same, replace], { maxEntries: 3 })).resolves.toMatchObject({
      warnings: [],
    });
  });

  it('keeps names that spell U+FFFD, and applies whiteouts of them', async () => {
    const lower = join(work, `replacement-${n++}.tar`);
    const upper = join(work, `replacement-${n++}.tar`);
    python(
      `import tarfile, io
def write(path, names):
    t = tarfile.open(path, 'w', format=tarfile.GNU_FORMAT)
    for name in names:
        i = tarfile.TarInfo(name); i.size = 1; t.addfile(i, io.BytesIO(b'r'))
    t.close()
write(${JSON.stringify(lower)}, ['gone\ufffd', 'kept\ufffd'])
write(${JSON.stringify(upper)}, ['.wh.gone\ufffd', 'new\ufffd'])`,
    );
    const { tar, warnings } = await flattenTars([
      new Uint8Array(readFileSync(lower)),
      new Uint8Array(readFileSync(upper)),
    ]);
    writeFileSync(`${lower}.flat`, tar);
    expect(warnings).toEqual([]);
    expect(
      pythonMembers([`${lower}.flat`])[0]!
        .map((m) => m.name)
        .sort(),
    ).toEqual(['kept\ufffd', 'new\ufffd']);
  });

  it('links to a surviving target, across layers and directories', async () => {
    const { tree } = await againstReference([
      [
        { type: 'dir', path: 'bin' },
        { type: 'file', path: 'bin/tool', body: 'tool', mode: 0o755 },
      ],
      [
        { type: 'dir', path: 'usr' },
        { type: 'hardlink', path: 'usr/alias', target: 'bin/tool' },
      ],
    ]);
    expect(tree['bin/tool']!.group).toBe('bin/tool');
    expect(tree['usr/alias']).toMatchObject({ group: 'bin/tool', content: content('tool') });
  });

  it('replaces a lower file that is in the way of a parent by a directory', async () => {
    const { tree, warnings } = await againstReference([
      [{ type: 'file', path: 'f', body: 'file' }],
      [{ type: 'file', path: 'f/g/h', body: 'h' }],
    ]);
    expect(Object.keys(tree)).toEqual(['f', 'f/g', 'f/g/h']);
    expect(tree.f).toMatchObject({ type: 'dir', mode: 0o755 });
    expect(warnings).toEqual([
      expect.objectContaining({ code: 'WARN_PARENT_REPLACED', path: 'f' }),
    ]);
  });
});

describe.skipIf(!haveTools)('paths', () => {
  it('cleans ./, absolute and ../ paths and hardlink targets, and warns on clamping', async () => {
    const layers: Spec[][] = [
      [
        { type: 'file', path: '../../x', body: 'x' },
        { type: 'file', path: '/abs/y', body: 'y' },
        { type: 'file', path: './c/../d', body: 'd' },
        { type: 'symlink', path: 's', target: '../../outside' },
      ],
      [
        { type: 'hardlink', path: 'l', target: '/../x' },
        { type: 'whiteout', path: '../abs/y' },
      ],
    ];
    const { tar, warnings } = await flattenTars(layers.map(layerTar));
    const file = join(work, 'paths.tar');
    writeFileSync(file, tar);
    expect(checkStructure(file)).toEqual([]);
    // Python's tarfile shows names as stored (GNU tar would strip a leading '/' itself).
    expect(pythonMembers([file])[0]!.map((m) => [m.name, m.type, m.linkname])).toEqual([
      ['abs', '5', ''],
      ['d', '0', ''],
      ['l', '0', ''],
      ['s', '2', '../../outside'],
      ['x', '1', 'l'],
    ]);
    const root = join(work, 'paths');
    extract(tar, file, root);
    const tree = snapshot(root);
    expect(Object.keys(tree)).toEqual(['abs', 'd', 'l', 's', 'x']);
    expect(tree.x).toMatchObject({ content: content('x'), group: 'l' });
    expect(tree.s).toMatchObject({ type: 'symlink', content: '../../outside' });
    // The whiteout's path is cleaned when the layer is converted (as runtimes clean it before
    // they look for `.wh.`), so flatten has nothing to clamp there.
    expect(warnings.map((w) => [w.code, w.path])).toEqual([
      ['WARN_PATH_CLAMPED', 'x'],
      ['WARN_PATH_CLAMPED', 'x'],
    ]);
  });

  it('recognises a whiteout after cleaning its path; leaves out names that delete nothing, and NULs', async () => {
    const { tar, warnings } = await flattenTars([
      layerTar([
        { type: 'file', path: 'a/b', body: 'b' },
        { type: 'file', path: 'a/c', body: 'c' },
        { type: 'file', path: 'o/p', body: 'p' },
        { type: 'file', path: 'keep', body: 'k' },
      ]),
      layerTar([
        { type: 'file', path: 'a/.wh.b/.', body: '' },
        { type: 'file', path: 'o/.wh..wh..opq/x/..', body: '' },
        { type: 'file', path: 'z/.wh.', body: '' },
        { type: 'file', path: 'z/.wh..', body: '' },
        { type: 'file', path: 'n\0ul', body: 'x' },
      ]),
    ]);
    const file = join(work, 'wh-clean.tar');
    writeFileSync(file, tar);
    expect(pythonMembers([file])[0]!.map((m) => m.name)).toEqual(['a', 'a/c', 'keep', 'o']);
    expect(warnings.map((w) => [w.code, w.path])).toEqual([
      ['WARN_UNSUPPORTED_TYPE', 'z/.wh.'],
      ['WARN_UNSUPPORTED_TYPE', 'z/.wh..'],
      ['WARN_UNENCODABLE', 'n\0ul'],
    ]);
  });

  it('leaves out a path longer than PATH_MAX, whose parents would each repeat it', async () => {
    const deep = `${'d/'.repeat(2100)}f`;
    const ok = `${'e/'.repeat(2000)}f`;
    const { tar, warnings } = await flattenTars([
      layerTar([
        { type: 'file', path: deep, body: 'x' },
        { type: 'file', path: ok, body: 'y' },
      ]),
    ]);
    expect(warnings.map((w) => w.code)).toEqual(['WARN_PATH_TOO_LONG']);
    const file = join(work, 'deep.tar');
    writeFileSync(file, tar);
    const names = pythonMembers([file])[0]!.map((m) => m.name);
    expect(names).toHaveLength(2001);
    expect(names.at(-1)).toBe(ok);
  });

  it('leaves out a hardlink to a missing target or a directory, with a warning', async () => {
    const { tar, warnings } = await flattenTars([
      layerTar([
        { type: 'dir', path: 'd' },
        { type: 'hardlink', path: 'to-dir', target: 'd' },
        { type: 'hardlink', path: 'to-nothing', target: 'nothing' },
        { type: 'file', path: 'ok', body: 'ok' },
      ]),
    ]);
    const file = join(work, 'missing.tar');
    writeFileSync(file, tar);
    expect(pythonMembers([file])[0]!.map((m) => m.name)).toEqual(['d', 'ok']);
    expect(warnings.map((w) => [w.code, w.path])).toEqual([
      ['WARN_LINK_TARGET_MISSING', 'to-dir'],
      ['WARN_LINK_TARGET_MISSING', 'to-nothing'],
    ]);
  });
});

describe.skipIf(!haveTools)('entries flatten leaves out', () => {
  it('warns about unknown types, a non-directory root and unencodable device numbers', async () => {
    const { encodeHeader } = await import('../../src/tar/header.js');
    const { fixChecksum } = await import('../tar/helpers.js');
    const dev = encodeHeader({ path: 'dev/huge', kind: 'char', devminor: 1 });
    // devmajor 2^30 in GNU base-256: decodable, but no ustar field can hold it.
    dev.fill(0, 329, 337);
    dev[329] = 0x80;
    dev.set([0x40, 0, 0, 0], 333);
    fixChecksum(dev);
    const tar = new Uint8Array([
      ...encodeHeader({ path: 'weird', typeflag: 'Z' }),
      ...encodeHeader({ path: './', typeflag: '0' }),
      ...dev,
      ...encodeHeader({ path: 'kept', typeflag: '0' }),
      ...new Uint8Array(1024),
    ]);
    const { tar: out, warnings } = await flattenTars([tar]);
    const file = join(work, 'left-out.tar');
    writeFileSync(file, out);
    expect(pythonMembers([file])[0]!.map((m) => m.name)).toEqual(['dev', 'kept']);
    expect(warnings.map((w) => [w.code, w.path])).toEqual([
      ['WARN_UNSUPPORTED_TYPE', 'weird'],
      ['WARN_UNSUPPORTED_TYPE', ''],
      ['WARN_UNENCODABLE', 'dev/huge'],
    ]);
  });
});

describe.skipIf(!haveTools)('metadata and sparse files', () => {
  it('keeps modes, owners, names, sub-second mtimes, xattrs and long paths', async () => {
    const { encodeHeader, paddingSize } = await import('../../src/tar/header.js');
    const long = `${'deep/'.repeat(40)}ünïcödé-名前.txt`;
    const body = new TextEncoder().encode('meta');
    const tar = new Uint8Array([
      ...encodeHeader({
        path: long,
        mode: 0o4750,
        uid: 1234,
        gid: 2 ** 30,
        uname: 'someone',
        gname: 'g'.repeat(40),
        mtime: { sec: 1_600_000_000, nsec: 250_000_000 },
        size: body.length,
        xattrs: { 'user.k': new Uint8Array([0, 1, 255]) },
      }),
      ...body,
      ...new Uint8Array(paddingSize(body.length)),
      ...encodeHeader({ path: 'dev/null', kind: 'char', devmajor: 1, devminor: 3, mode: 0o666 }),
      ...new Uint8Array(1024),
    ]);
    const { tar: out } = await flattenTars([tar]);
    const file = join(work, 'meta.tar');
    writeFileSync(file, out);
    const members = pythonMembers([file])[0]!;
    const m = members.find((x) => x.name === long)!;
    expect(m).toMatchObject({
      mode: 0o4750,
      uid: 1234,
      gid: 2 ** 30,
      uname: 'someone',
      gname: 'g'.repeat(40),
      mtime: 1_600_000_000.25,
      size: 4,
    });
    expect(m.pax['SCHILY.xattr.user.k']).toBeDefined();
    expect(members.find((x) => x.name === 'dev/null')).toMatchObject({
      type: '3',
      devmajor: 1,
      devminor: 3,
    });
    // Parents the layer never described are written as 0755 directories, before their children.
    expect(members.find((x) => x.name === 'deep')).toMatchObject({ type: '5', mode: 0o755 });
    expect(checkStructure(file)).toEqual([]);
  });

  it('writes sparse files of every GNU format as pax 1.0 sparse entries, holes left out', async () => {
    const src = join(work, 'sparse-src');
    mkdirSync(src);
    python(
      `import sys
f = open(sys.argv[1], 'wb')
f.write(b'a' * 5000); f.seek(300 * 1024); f.write(b'b' * 70000); f.seek(900 * 1024); f.write(b'c')
f.truncate(1000 * 1024)`,
      join(src, 'holes'),
    );
    const expected = new Uint8Array(readFileSync(join(src, 'holes')));
    for (const args of [
      ['--format=gnu'],
      ['--format=oldgnu'],
      ['--format=posix', '--sparse-version=0.0'],
      ['--format=posix', '--sparse-version=0.1'],
      ['--format=posix', '--sparse-version=1.0'],
    ]) {
      const tar = new Uint8Array(
        execFileSync(GNU_TAR, [...args, '--sparse', '-cf', '-', '-C', src, 'holes']),
      );
      const { tar: out } = await flattenTars([tar]);
      const root = join(work, `sparse-${args.join('')}`);
      // The data and the map, not the holes.
      expect(out.length, args.join(' ')).toBeLessThan(100 * 1024);
      writeFileSync(`${root}.tar`, out);
      const [member] = pythonMembers([`${root}.tar`])[0]!;
      expect(member).toMatchObject({ name: 'holes', size: 1000 * 1024 });
      for (const tool of ['gnu', 'bsd'] as const) {
        extract(out, `${root}.tar`, `${root}-${tool}`, tool);
        const got = new Uint8Array(readFileSync(join(`${root}-${tool}`, 'holes')));
        expect(sha256(got), `${args.join(' ')} ${tool}`).toBe(sha256(expected));
      }
    }
  });

  it('writes a layer of 3 KB declaring a 64 GiB sparse file as a small tar, and extracts it as one', async () => {
    // A pax 0.1 sparse entry: 11 bytes of data at both ends of 64 GiB of holes.
    const realSize = 2 ** 36;
    const tar = new Uint8Array(
      execFileSync(
        'python3',
        [
          '-c',
          `import io, sys, tarfile
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as t:
    i = tarfile.TarInfo('GNUSparseFile.0/sp')
    i.size = 11
    i.pax_headers = {'GNU.sparse.size': sys.argv[1], 'GNU.sparse.map': '0,10,%d,1' % (int(sys.argv[1]) - 1), 'GNU.sparse.name': 'sp'}
    t.addfile(i, io.BytesIO(b'0123456789Z'))
sys.stdout.buffer.write(buf.getvalue())`,
          String(realSize),
        ],
        { maxBuffer: 1 << 20 },
      ),
    );
    expect(tar.length).toBeLessThan(16 * 1024);
    const { tar: out } = await flattenTars([tar]);
    expect(out.length).toBeLessThan(16 * 1024);
    const dir = join(work, 'huge-sparse');
    await extractTo(streamOf(out, 5000), dir);
    const st = statSync(join(dir, 'sp'), { bigint: false });
    expect(st.size).toBe(realSize);
    expect(st.blocks * 512).toBeLessThan(1024 * 1024);
    const fd = openSync(join(dir, 'sp'), 'r');
    const ends = new Uint8Array(11);
    readSync(fd, ends, 0, 10, 0);
    readSync(fd, ends, 10, 1, realSize - 1);
    closeSync(fd);
    expect(new TextDecoder().decode(ends)).toBe('0123456789Z');
  });
});

describe('streaming and errors', () => {
  const stack = async (form: 'chunked' | 'flat' = 'chunked') => {
    const store = new MemoryStore();
    const big = pseudoRandom(600_000, 7);
    const { index } = await convertBytes(
      layerTar([
        { type: 'file', path: 'a', body: big },
        { type: 'file', path: 'b', body: 'small' },
      ]),
      store,
      { index: form },
    );
    return { store, index, big };
  };

  it('fetches chunks only as the consumer pulls, within the read-ahead', async () => {
    // A flat index, so that every get is a data chunk.
    const { store, index, big } = await stack('flat');
    let gets = 0;
    const counting: ChunkReader = {
      get: (d) => {
        gets++;
        return store.get(d);
      },
    };
    const reader = flatten([() => streamOf(index)], counting, { hash, readAhead: 2 }).getReader();
    const first = await reader.read(); // the header of a
    expect(first.value!.length).toBe(512);
    expect(gets).toBe(0);
    await reader.read(); // first chunk of a
    expect(gets).toBeLessThanOrEqual(3);
    const rest: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest.push(value);
    }
    expect(gets).toBeGreaterThan(3);
    expect(big.length).toBeGreaterThan(0);
  });

  it('errors with ChunkNotFoundError when a chunk is missing', async () => {
    const { index } = await stack();
    const out = collect(flatten([() => streamOf(index)], new MemoryStore(), { hash }));
    await expect(out).rejects.toBeInstanceOf(ChunkNotFoundError);
  });

  it('errors with RecordFormatError on a malformed index, and calls the source per layer', async () => {
    const { index, store } = await stack();
    const bad = index.slice(0, index.length - 3);
    const out = collect(flatten([() => streamOf(index), () => streamOf(bad)], store, { hash }));
    await expect(out).rejects.toBeInstanceOf(RecordFormatError);
  });

  it('reads the same source twice for a stack of the same layer', async () => {
    const { index, store, big } = await stack();
    let opened = 0;
    const source = () => {
      opened++;
      return streamOf(index);
    };
    const tar = await collect(flatten([source, source], store, { hash }));
    expect(opened).toBe(2);
    expect(tar.length).toBe(512 + big.length + 512 - (big.length % 512) + 1024 + 1024);
  });
});
