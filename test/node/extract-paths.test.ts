/**
 * The pure parts under extract(): entry path checks and sparse body placement.
 */
import { describe, expect, it } from 'vitest';
import { checkEntryPath } from '../../src/node/entry-path.js';
import { PathTrie } from '../../src/node/path-trie.js';
import { SparseBody } from '../../src/node/sparse-body.js';

describe('checkEntryPath', () => {
  it.each([
    ['a', 'a'],
    ['./a/b/', 'a/b'],
    ['a//b/./c', 'a/b/c'],
    ['./', ''],
    ['.', ''],
    ['...', '...'],
    ['..a/b..', '..a/b..'],
  ])('accepts %j as %j', (input, path) => {
    expect(checkEntryPath(input)).toEqual({ ok: true, path, parts: path ? path.split('/') : [] });
  });

  it.each([
    ['', 'empty'],
    ['/etc/passwd', 'absolute'],
    ['//x', 'absolute'],
    ['..', '".."'],
    ['../x', '".."'],
    ['a/../../x', '".."'],
    ['a/../b', '".."'],
    ['a/..', '".."'],
    ['a\0b', 'NUL'],
  ])('refuses %j', (input, reason) => {
    const r = checkEntryPath(input);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toContain(reason);
  });
});

describe('PathTrie', () => {
  it('sets, gets and deletes paths, and drops whole subtrees', () => {
    const t = new PathTrie<number>();
    for (const [p, v] of [
      ['a', 1],
      ['a/b', 2],
      ['a/b/c', 3],
      ['ab', 4],
      ['', 0],
    ] as const) {
      t.set(p, v);
    }
    expect(t.get('a/b')).toBe(2);
    expect(t.has('a/b/c/d')).toBe(false);
    t.delete('a');
    expect(t.has('a')).toBe(false);
    expect(t.get('a/b/c')).toBe(3);
    t.deleteTree('a/b');
    expect([...t.entries()].sort()).toEqual([
      ['', 0],
      ['ab', 4],
    ]);
    // `ab` is not below `a`.
    t.set('a/x', 5);
    t.deleteTree('a');
    expect(t.get('ab')).toBe(4);
    t.deleteTree('');
    expect([...t.entries()]).toEqual([]);
  });

  it('lists parents before their children', () => {
    const t = new PathTrie<boolean>();
    for (const p of ['x/y/z', 'x', 'x/y', 'w']) t.set(p, true);
    const order = [...t.entries()].map(([p]) => p);
    expect(order.indexOf('x')).toBeLessThan(order.indexOf('x/y'));
    expect(order.indexOf('x/y')).toBeLessThan(order.indexOf('x/y/z'));
    expect(order).toHaveLength(4);
  });

  it('tells whether a path and every path above it has a value that passes a test', () => {
    const t = new PathTrie<boolean>();
    t.set('a', true);
    t.set('a/b', true);
    t.set('a/b/c', false);
    t.set('a/x/y', true); // `a/x` has no value
    const made = (v: boolean) => v;
    expect(t.everyAlong('', made)).toBe(true);
    expect(t.everyAlong('a/b', made)).toBe(true);
    expect(t.everyAlong('a/b/c', made)).toBe(false);
    expect(t.everyAlong('a/x/y', made)).toBe(false);
    expect(t.everyAlong('a/b/missing', made)).toBe(false);
  });
});

describe('SparseBody', () => {
  const at = { offset: 0, path: 's' };
  const bytes = (s: string) => new TextEncoder().encode(s);
  const place = (body: SparseBody, pieces: string[]) =>
    pieces.flatMap((p) =>
      body.push(bytes(p)).map((x) => [x.position, new TextDecoder().decode(x.bytes)]),
    );

  it('places header-mapped data across pieces', () => {
    const body = new SparseBody(
      {
        format: 'pax-0.1',
        realSize: 100,
        map: [
          [10, 3],
          [50, 2],
          [100, 0],
        ],
      },
      5,
      at,
      1024,
    );
    expect(place(body, ['ab', 'cde'])).toEqual([
      [10, 'ab'],
      [12, 'c'],
      [50, 'de'],
    ]);
    body.finish();
  });

  it('reads a pax 1.0 map from the body, skipping its padding', () => {
    const text = '2\n4\n2\n90\n1\n';
    const padded = text + '\0'.repeat(512 - text.length);
    const body = new SparseBody({ format: 'pax-1.0', realSize: 91 }, 515, at, 1024);
    expect(place(body, [padded.slice(0, 3), padded.slice(3, 600), 'xyz'])).toEqual([
      [4, 'xy'],
      [90, 'z'],
    ]);
    body.finish();
  });

  it('refuses maps that do not fit the body or the size', () => {
    const mk = (map: Array<[number, number]>, size: number) => () =>
      new SparseBody({ format: 'gnu-old', realSize: 10, map }, size, at, 1024);
    expect(mk([[0, 3]], 4)).toThrow(/places 3 bytes/);
    expect(mk([[8, 3]], 3)).toThrow(/past realsize/);
    expect(
      mk(
        [
          [5, 1],
          [0, 1],
        ],
        2,
      ),
    ).toThrow(/out of order/);
    const short = new SparseBody({ format: 'gnu-old', realSize: 10, map: [[0, 4]] }, 4, at, 1024);
    short.push(bytes('ab'));
    expect(() => short.finish()).toThrow(/before the sparse map was filled/);
    const big = new SparseBody({ format: 'pax-1.0', realSize: 10 }, 4096, at, 8);
    expect(() => big.push(bytes('1234567890'))).toThrow(
      expect.objectContaining({ code: 'ERR_TAR_LIMIT' }),
    );
    const bad = new SparseBody({ format: 'pax-1.0', realSize: 10 }, 4096, at, 1024);
    expect(() => bad.push(bytes('1\nx'))).toThrow(
      expect.objectContaining({ code: 'ERR_TAR_FORMAT' }),
    );
  });
});
