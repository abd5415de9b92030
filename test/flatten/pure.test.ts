/**
 * The pure parts of flatten, without streams: path cleaning, the merge tree, the sparse
 * expander, entry classification.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EntryDataError } from '../../src/errors.js';
import { type Attrs, entryAction, implicitDirAttrs, SharedAttrs } from '../../src/flatten/entry.js';
import { MergeTree } from '../../src/flatten/merge-tree.js';
import { cleanPath } from '../../src/flatten/path.js';
import { RefList } from '../../src/flatten/ref-list.js';
import { paxSparseMap, SparseMapCheck } from '../../src/flatten/sparse.js';
import type { FlattenWarning } from '../../src/flatten/warnings.js';
import type { EntryMeta } from '../../src/format/records.js';

describe('cleanPath', () => {
  it.each([
    ['a/b', 'a/b', false],
    ['./a/b/', 'a/b', false],
    ['/a//b/./c', 'a/b/c', false],
    ['a/../b', 'b', false],
    ['../../x', 'x', true],
    ['/../x', 'x', true],
    ['a/../../x', 'x', true],
    ['./', '', false],
    ['', '', false],
    ['..', '', true],
    ['a/b/..', 'a', false],
    ['.../x', '.../x', false],
    ['a/.', 'a', false],
    ['a/./b', 'a/b', false],
    ['.a/b.', '.a/b.', false],
  ])('%j -> %j (clamped %j)', (raw, path, clamped) => {
    expect(cleanPath(raw)).toEqual({ path, clamped });
  });

  it('agrees with resolving every segment, on paths that need it and paths that do not', () => {
    // The model: Go's path.Clean("/" + p) without the leading slash, segment by segment.
    const model = (raw: string) => {
      const out: string[] = [];
      let clamped = false;
      for (const s of raw.split('/')) {
        if (s === '..') {
          if (out.length === 0) clamped = true;
          out.pop();
        } else if (s !== '' && s !== '.') out.push(s);
      }
      return { path: out.join('/'), clamped };
    };
    const segment = fc.constantFrom('a', 'bc', '.', '..', '', '...', '.x', 'x.', '..y');
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), (segments) => {
        const raw = segments.join('/');
        expect(cleanPath(raw)).toEqual(model(raw));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('SharedAttrs', () => {
  const attrs = (mode: number, sec = 1, xattrs?: Record<string, Uint8Array>): Attrs => ({
    ...implicitDirAttrs({ sec, nsec: 0 }),
    mode,
    ...(xattrs ? { xattrs } : {}),
  });

  it('hands out one object for equal attributes among the last four, never with xattrs', () => {
    const shared = new SharedAttrs();
    const a = shared.of(attrs(0o644));
    const b = shared.of(attrs(0o755));
    expect(shared.of(attrs(0o644))).toBe(a);
    expect(shared.of(attrs(0o755))).toBe(b);
    expect(shared.of(attrs(0o644, 2))).not.toBe(a);
    for (const mode of [0o600, 0o700, 0o711]) shared.of(attrs(mode));
    // a was seen before b, 0o644 at 2 s and three more: it has left the four kept.
    expect(shared.of(attrs(0o644))).not.toBe(a);
    const withX = attrs(0o644, 1, { 'user.k': Uint8Array.of(1) });
    expect(shared.of(withX)).toBe(withX);
    expect(shared.of(attrs(0o644, 1, { 'user.k': Uint8Array.of(1) }))).not.toBe(withX);
  });
});

describe('RefList', () => {
  it('gives back every reference as pushed, across records and pieces of 65,536', () => {
    const list = new RefList();
    const n = 150_000;
    const ref = (i: number) => {
      const digest = new Uint8Array(32);
      new DataView(digest.buffer).setUint32(0, i);
      digest[31] = i % 251;
      digest[17] = 0xff;
      return { digest, length: i % 7 === 0 ? 2 ** 53 - 1 - i : i + 1 };
    };
    for (let i = 0; i < n; ) {
      const batch = Array.from({ length: Math.min(1000 + (i % 37), n - i) }, (_, k) => ref(i + k));
      list.push(batch);
      i += batch.length;
    }
    list.trim();
    expect(list.count).toBe(n);
    for (const i of [0, 1, 999, 65_535, 65_536, 65_537, 131_071, 131_072, n - 1]) {
      expect(list.at(i)).toEqual(ref(i));
    }
    const empty = new RefList();
    empty.trim();
    expect(empty.count).toBe(0);
  });
});

describe('MergeTree', () => {
  const tree = () => {
    const warnings: FlattenWarning[] = [];
    const t = new MergeTree<string, { id: string }>('root', (w) => warnings.push(w));
    return { t, warnings };
  };
  const paths = (t: MergeTree<string, { id: string }>) =>
    [...t.walk()].map(([p, n]) => (n.type === 'dir' ? `${p}/(${n.attrs})` : `${p}=${n.inode.id}`));

  it('counts its nodes through every kind of change', () => {
    const name = fc.constantFrom('a', 'b', 'c');
    const path = fc.array(name, { minLength: 1, maxLength: 4 }).map((p) => p.join('/'));
    const op = fc.oneof(
      fc.record({ op: fc.constant('leaf' as const), path }),
      fc.record({ op: fc.constant('dir' as const), path }),
      fc.record({ op: fc.constant('remove' as const), path: fc.oneof(path, fc.constant('')) }),
      fc.record({ op: fc.constant('opaque' as const), path: fc.oneof(path, fc.constant('')) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const { t } = tree();
        for (const { op, path } of ops) {
          if (op === 'leaf') t.setLeaf(path, { id: path }, 'implicit');
          else if (op === 'dir') t.setDirectory(path, 'explicit', 'implicit');
          else if (op === 'remove') t.remove(path);
          else t.makeOpaque(path);
          expect(t.size).toBe([...t.walk()].length);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('creates implicit parents, merges directories, replaces leaves, walks in order', () => {
    const { t, warnings } = tree();
    t.setLeaf('b/c/file', { id: '1' }, 'implicit');
    t.setDirectory('b', 'explicit', 'implicit');
    t.setLeaf('a', { id: '2' }, 'implicit');
    t.setLeaf('a', { id: '3' }, 'implicit');
    expect(paths(t)).toEqual(['a=3', 'b/(explicit)', 'b/c/(implicit)', 'b/c/file=1']);
    expect(warnings).toEqual([]);
  });

  it('replaces a leaf in the way of a parent, with a warning', () => {
    const { t, warnings } = tree();
    t.setLeaf('f', { id: '1' }, 'implicit');
    t.setLeaf('f/g', { id: '2' }, 'implicit');
    expect(paths(t)).toEqual(['f/(implicit)', 'f/g=2']);
    expect(warnings.map((w) => [w.code, w.path])).toEqual([['WARN_PARENT_REPLACED', 'f']]);
  });

  it('removes subtrees, empties opaque directories, ignores what is not there', () => {
    const { t, warnings } = tree();
    t.setLeaf('d/x', { id: '1' }, 'i');
    t.setLeaf('d/e/y', { id: '2' }, 'i');
    t.setLeaf('k', { id: '3' }, 'i');
    t.remove('d/e');
    t.remove('nothing/here');
    t.remove('k/under-a-leaf');
    expect(paths(t)).toEqual(['d/(i)', 'd/x=1', 'k=3']);
    t.makeOpaque('d');
    t.makeOpaque('k');
    expect(paths(t)).toEqual(['d/(i)', 'k=3']);
    t.remove('');
    expect(paths(t)).toEqual([]);
    // A whiteout through a leaf (such as a symlink to a directory, which a runtime would
    // follow) deletes nothing, and says so; one of a missing path is silent.
    expect(warnings.map((w) => [w.code, w.path])).toEqual([
      ['WARN_WHITEOUT_BLOCKED', 'k/under-a-leaf'],
      ['WARN_WHITEOUT_BLOCKED', 'k'],
    ]);
  });

  it('keeps a shared inode when one of its paths is replaced or removed', () => {
    const { t } = tree();
    const inode = { id: 'shared' };
    t.setLeaf('a', inode, 'i');
    t.setLeaf('b', inode, 'i');
    t.remove('a');
    t.setLeaf('c', inode, 'i');
    expect(paths(t)).toEqual(['b=shared', 'c=shared']);
  });

  describe('symlinks in parent paths', () => {
    type Leaf = { id: string; link?: string };
    const linked = () => {
      const warnings: FlattenWarning[] = [];
      const t = new MergeTree<string, Leaf>(
        'root',
        (w) => warnings.push(w),
        (l) => l.link,
      );
      return { t, warnings };
    };
    const list = (t: MergeTree<string, Leaf>) =>
      [...t.walk()].map(([p, n]) => (n.type === 'dir' ? `${p}/` : `${p}=${n.inode.id}`));

    it('are followed inside the tree; past a missing segment or a file, lexically', () => {
      const { t, warnings } = linked();
      t.setLeaf('usr/lib/old', { id: 'o' }, 'i');
      t.setLeaf('f', { id: 'file' }, 'i');
      t.setLeaf('lib', { id: 'l', link: 'usr/lib' }, 'i');
      t.setLeaf('abs', { id: 'a', link: '/usr/../usr/lib' }, 'i');
      t.setLeaf('lex', { id: 'x', link: 'missing/../f/../usr' }, 'i');
      // Padding costs no steps: nine links of 2,000 `./` each resolve.
      for (let i = 0; i < 9; i++) {
        t.setLeaf(
          `c${i}`,
          { id: `c${i}`, link: `${'./'.repeat(2000)}${i < 8 ? `c${i + 1}` : 'usr'}` },
          'i',
        );
      }
      t.setLeaf('c0/lib/padded', { id: 'p' }, 'i');
      t.setLeaf('lib/new', { id: 'n' }, 'i');
      t.remove('abs/old');
      t.setLeaf('lex/lib/more', { id: 'm' }, 'i');
      expect(list(t)).toEqual([
        'abs=a',
        ...Array.from({ length: 9 }, (_, i) => `c${i}=c${i}`),
        'f=file',
        'lex=x',
        'lib=l',
        'usr/',
        'usr/lib/',
        'usr/lib/more=m',
        'usr/lib/new=n',
        'usr/lib/padded=p',
      ]);
      expect(warnings).toEqual([]);
    });

    it('cost a bounded amount: loops, long targets and long resolved paths are left out', () => {
      const { t, warnings } = linked();
      t.setLeaf('a', { id: 'a', link: 'b' }, 'i');
      t.setLeaf('b', { id: 'b', link: 'a' }, 'i');
      t.setLeaf('a/x', { id: 'x' }, 'i');
      // A loop through a long target: stopped by the step limit, not after 255 long walks.
      t.setLeaf('s', { id: 's', link: `${'./'.repeat(2000)}s` }, 'i');
      t.setLeaf('s/x', { id: 'x' }, 'i');
      t.setLeaf('long', { id: 'l', link: 'x/'.repeat(2100) }, 'i');
      t.setLeaf('long/x', { id: 'x' }, 'i');
      t.setLeaf('deep', { id: 'd', link: 'y/'.repeat(1500) }, 'i');
      // 1,206 bytes as written, 4,207 as resolved.
      t.setLeaf(`deep/${'w/'.repeat(600)}z`, { id: 'z' }, 'i');
      expect(warnings.map((w) => [w.code, w.path])).toEqual([
        ['WARN_SYMLINK_LOOP', 'a/x'],
        ['WARN_SYMLINK_LOOP', 's/x'],
        ['WARN_PATH_TOO_LONG', 'long/x'],
        ['WARN_PATH_TOO_LONG', `deep/${'w/'.repeat(600)}z`],
      ]);
      expect(list(t)).toEqual(['a=a', 'b=b', 'deep=d', 'long=l', 's=s']);
    });
  });

  it('walks the deepest tree PATH_MAX allows, and refuses a path beyond it', () => {
    const { t, warnings } = tree();
    const deep = Array.from({ length: 2047 }, () => 'd').join('/');
    t.setLeaf(`${deep}/f`, { id: 'x' }, 'i');
    let n = 0;
    for (const _ of t.walk()) n++;
    expect(n).toBe(2048);
    t.setLeaf(`${deep}/d/f`, { id: 'y' }, 'i');
    expect(warnings.map((w) => w.code)).toEqual(['WARN_PATH_TOO_LONG']);
  });
});

/** Runs a check over pieces of the body, then ends it. */
function check(c: SparseMapCheck, body: Uint8Array, piece = 3): void {
  for (let i = 0; i < body.length; i += piece) c.push(body.subarray(i, i + piece));
  c.finish();
}

const concatAll = (parts: Uint8Array[]): Uint8Array => {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
};

describe('SparseMapCheck', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  const inHeaders = {
    format: 'gnu-old',
    realSize: 12,
    map: [
      [2, 3],
      [8, 2],
      [12, 0],
    ] as Array<[number, number]>,
  };

  it('takes a map in the headers that fits its data, and a body of exactly that size', () => {
    expect(() => check(new SparseMapCheck(inHeaders, 5, 'f'), bytes('abcde'))).not.toThrow();
    expect(() => check(new SparseMapCheck(inHeaders, 5, 'f'), bytes('abcdef'))).toThrow(
      /longer than its size/,
    );
    expect(() => check(new SparseMapCheck(inHeaders, 5, 'f'), bytes('abcd'))).toThrow(
      /shorter than its size/,
    );
  });

  it('reads a pax 1.0 map from the body, in any split', () => {
    const map = bytes('2\n1\n2\n6\n1\n');
    const body = new Uint8Array(512 + 3);
    body.set(map);
    body.set(bytes('xyz'), 512);
    for (const piece of [1, 7, 600]) {
      const c = new SparseMapCheck({ format: 'pax-1.0', realSize: 8 }, body.length, 'f');
      expect(() => check(c, body, piece)).not.toThrow();
    }
  });

  it.each([
    [
      'segments out of order',
      {
        format: 'pax-0.1',
        realSize: 10,
        map: [
          [5, 1],
          [2, 1],
        ],
      },
      2,
    ],
    ['a segment beyond the size', { format: 'pax-0.1', realSize: 4, map: [[2, 3]] }, 3],
    ['a map not covering the data', { format: 'pax-0.0', realSize: 10, map: [[0, 2]] }, 3],
  ] as const)('rejects %s', (_, sparse, stored) => {
    expect(
      () => new SparseMapCheck({ ...sparse, map: sparse.map.map(([a, b]) => [a, b]) }, stored, 'f'),
    ).toThrow(EntryDataError);
  });

  it('rejects malformed and oversized pax 1.0 maps', () => {
    const run =
      (text: string, stored = 1024, max?: number) =>
      () => {
        const body = new Uint8Array(stored);
        body.set(new TextEncoder().encode(text).subarray(0, stored));
        check(new SparseMapCheck({ format: 'pax-1.0', realSize: 100 }, stored, 'f', max), body);
      };
    expect(run('x\n')).toThrow(EntryDataError);
    expect(run('1\n\n')).toThrow(EntryDataError);
    expect(run(`${'9'.repeat(20)}\n`)).toThrow(EntryDataError);
    expect(run('3\n', 1024, 2)).toThrow(/exceeds the limit/);
    expect(run('1\n0\n', 4)).toThrow(/ends inside its sparse map/);
    expect(run('1\n0\n5\n', 512)).toThrow(/covers 5 bytes but 0/);
  });
});

describe('paxSparseMap', () => {
  it.each([0, 1, 3, 10_000])(
    'writes %i segments as GNU tar does, padded to 512 bytes, which the check reads back',
    (n) => {
      const map: Array<[number, number]> = [];
      for (let i = 0; i < n; i++) map.push([i * 2 ** 30, i % 7]);
      const { size, pieces } = paxSparseMap(map);
      const text = [n, ...map.flat()].map((v) => `${v}\n`).join('');
      const out = concatAll([...pieces()]);
      expect(out.length).toBe(size);
      expect(size % 512).toBe(0);
      expect(size - text.length).toBeGreaterThanOrEqual(0);
      expect(size - text.length).toBeLessThan(512);
      expect(new TextDecoder().decode(out.subarray(0, text.length))).toBe(text);
      expect(out.subarray(text.length).every((b) => b === 0)).toBe(true);
      // The map and its data make a pax 1.0 body that the check takes.
      const data = map.reduce((t, [, length]) => t + length, 0);
      const realSize = n === 0 ? 0 : (n - 1) * 2 ** 30 + ((n - 1) % 7);
      const c = new SparseMapCheck({ format: 'pax-1.0', realSize }, size + data, 'f');
      expect(() => check(c, concatAll([out, new Uint8Array(data)]), 4096)).not.toThrow();
    },
  );
});

describe('entryAction', () => {
  const meta = (typeflag: string, path = 'p'): EntryMeta => ({
    path,
    typeflag,
    mode: 0o100644,
    uid: 1,
    gid: 2,
    uname: 'u',
    gname: 'g',
    mtime: { sec: 5, nsec: 6 },
    size: 0,
    linkname: 'target',
    devmajor: 7,
    devminor: 8,
    pax: {},
    xattrs: {},
  });

  it('classifies typeflags', () => {
    const kind = (flag: string, path?: string) => {
      const a = entryAction(meta(flag, path));
      return a.type === 'leaf' ? a.inode.kind : a.type;
    };
    expect(
      ['0', '\0', '7', 'S', '1', '2', '3', '4', '5', 'D', '6', 'V', 'x'].map((f) => kind(f)),
    ).toEqual([
      'file',
      'file',
      'file',
      'file',
      'hardlink',
      'symlink',
      'char',
      'block',
      'directory',
      'directory',
      'fifo',
      'unsupported',
      'unsupported',
    ]);
    expect(kind('\0', 'old-dir/')).toBe('directory');
  });

  it('keeps permission bits only, copies xattrs, and starts a file with empty refs', () => {
    const m = meta('0');
    m.xattrs = { 'user.a': new Uint8Array([1]) };
    const a = entryAction(m);
    if (a.type !== 'leaf') throw new Error('not a leaf');
    expect(a.inode.attrs.mode).toBe(0o644);
    expect(a.inode.attrs.xattrs['user.a']).not.toBe(m.xattrs['user.a']);
    expect(a.inode.refs).toBeInstanceOf(RefList);
    expect(a.inode.refs!.count).toBe(0);
  });
});
