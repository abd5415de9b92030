/**
 * The xattr name patterns of extract: glob matching on whole names, include and exclude lists
 * with their defaults, and the checks on the lists. Pure: runs anywhere.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { DEFAULT_XATTRS_EXCLUDE, globMatch, xattrSelector } from '../../src/node/xattr-filter.js';

describe('globMatch', () => {
  it.each([
    ['user.*', 'user.a', true],
    ['user.*', 'user.', true],
    ['user.*', 'user', false],
    ['user.*', 'xuser.a', false],
    // * crosses dots, as GNU tar's fnmatch does.
    ['*', 'trusted.overlay.opaque', true],
    ['trusted.*', 'trusted.overlay.opaque', true],
    ['user*c', 'user.b.c', true],
    ['user*c', 'user.b.cd', false],
    ['security.capability', 'security.capability', true],
    ['security.capability', 'security.capabilityx', false],
    ['security.capabilit', 'security.capability', false],
    ['user.?', 'user.a', true],
    ['user.?', 'user.ab', false],
    ['user.?', 'user.', false],
    // ? is one character, not one UTF-16 unit.
    ['user.?', 'user.😀', true],
    ['*.*.*', 'a.b.c', true],
    ['*.*.*', 'a.b', false],
    ['*a*b*c', 'xxaxxbxxbxc', true],
    ['*a*b*c', 'xxaxxbxxbx', false],
    ['**', '', true],
    // No classes or escapes: [ and \ are themselves.
    ['user.[ab]', 'user.a', false],
    ['user.[ab]', 'user.[ab]', true],
    ['user.\\*', 'user.\\x', true],
    ['user.\\*', 'user.*', false],
  ])('%j against %j: %j', (pattern, name, expected) => {
    expect(globMatch(pattern, name)).toBe(expected);
  });

  it('takes time bounded by the product of the lengths on a name built to backtrack', () => {
    const name = `${'a'.repeat(20_000)}b`;
    expect(globMatch('*a*a*a*a*a*a*a*a*c', name)).toBe(false);
    expect(globMatch('*a*a*a*a*a*a*a*a*b', name)).toBe(true);
  });
});

describe('xattrSelector', () => {
  const names = [
    'user.a',
    'user.overlay.opaque',
    'trusted.overlay.opaque',
    'trusted.overlay.redirect',
    'trusted.overlayish',
    'security.capability',
    'security.selinux',
  ];
  const selected = (filter: Parameters<typeof xattrSelector>[0]) =>
    names.filter(xattrSelector(filter));

  it('takes every name but overlayfs’s own by default', () => {
    expect(DEFAULT_XATTRS_EXCLUDE).toEqual(['trusted.overlay.*', 'user.overlay.*']);
    expect(selected({})).toEqual([
      'user.a',
      'trusted.overlayish',
      'security.capability',
      'security.selinux',
    ]);
  });

  it('lets exclude win over include', () => {
    expect(selected({ include: ['security.*', 'user.a'], exclude: ['security.selinux'] })).toEqual([
      'user.a',
      'security.capability',
    ]);
    expect(selected({ include: ['trusted.overlay.opaque'] })).toEqual([]);
  });

  it('replaces the default excludes with those given', () => {
    expect(selected({ exclude: [] })).toEqual(names);
    expect(selected({ exclude: ['security.selinux'] })).toEqual(
      names.filter((n) => n !== 'security.selinux'),
    );
    expect(selected({ exclude: ['security.selinux', ...DEFAULT_XATTRS_EXCLUDE] })).toEqual([
      'user.a',
      'trusted.overlayish',
      'security.capability',
    ]);
  });

  it('applies none with an empty include list', () => {
    expect(selected({ include: [] })).toEqual([]);
  });

  it.each([
    [{ include: 'user.*' }, 'x.include must be an array of patterns'],
    [{ exclude: null }, 'x.exclude must be an array of patterns'],
    [{ include: ['user.*', ''] }, 'x.include[1] must be a non-empty string'],
    [{ exclude: [7] }, 'x.exclude[0] must be a non-empty string'],
  ])('refuses %j', (filter, message) => {
    expect(() => xattrSelector(filter as never, 'x')).toThrow(new UsageError(message));
  });
});
