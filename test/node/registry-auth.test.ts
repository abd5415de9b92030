/**
 * Where `authFileCredentials` looks, and how it reads the keys podman, skopeo and docker
 * write. Reading real files through the command line is in test/registry/auth.test.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  authFileCredentials,
  authFilePaths,
  normalizeAuthKey,
} from '../../src/node/registry-auth.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-authfile-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('auth files', () => {
  it('are looked for where containers/image and docker look, in its order', () => {
    expect(authFilePaths({ env: { HOME: '/h' }, uid: 1000 })).toEqual([
      '/run/containers/1000/auth.json',
      '/h/.config/containers/auth.json',
      '/h/.docker/config.json',
    ]);
    expect(
      authFilePaths({
        env: { HOME: '/h', XDG_RUNTIME_DIR: '/run/u', XDG_CONFIG_HOME: '/c', DOCKER_CONFIG: '/d' },
      }),
    ).toEqual(['/run/u/containers/auth.json', '/c/containers/auth.json', '/d/config.json']);
    expect(
      authFilePaths({
        env: { HOME: '/h', XDG_RUNTIME_DIR: '/run/u', REGISTRY_AUTH_FILE: '/a.json' },
      }),
    ).toEqual(['/a.json', '/h/.config/containers/auth.json', '/h/.docker/config.json']);
    expect(authFilePaths({ authFile: '/only.json', env: { HOME: '/h' } })).toEqual(['/only.json']);
  });

  it('key registries with or without scheme and /v1/, Docker Hub by any of its names', () => {
    expect(normalizeAuthKey('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normalizeAuthKey('registry-1.docker.io')).toBe('docker.io');
    expect(normalizeAuthKey('http://Registry.Example:5000/v2')).toBe('registry.example:5000');
    expect(normalizeAuthKey('quay.io/org/repo')).toBe('quay.io/org/repo');
    // A namespace named v1 is a namespace; only a docker key (with a scheme) drops its path.
    expect(normalizeAuthKey('quay.io/org/v1')).toBe('quay.io/org/v1');
    expect(normalizeAuthKey('https://quay.io/org/v1/')).toBe('quay.io');
  });

  it('give the most specific entry of the first file that has one', async () => {
    const a = join(work, 'a.json');
    const b = join(work, 'docker');
    mkdirSync(b);
    const auth = (s: string) => Buffer.from(s).toString('base64');
    writeFileSync(
      a,
      JSON.stringify({
        auths: {
          'quay.io': { auth: auth('org:wide') },
          'quay.io/team': { auth: auth('team:pw') },
          'quay.io/team/app': { auth: auth('app:pw:with:colons') },
        },
      }),
    );
    writeFileSync(
      join(b, 'config.json'),
      JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: auth('hub:pw') } } }),
    );
    const source = authFileCredentials({
      env: { HOME: work, REGISTRY_AUTH_FILE: a, DOCKER_CONFIG: b },
    });
    expect(await source('quay.io', 'team/app')).toEqual({
      username: 'app',
      password: 'pw:with:colons',
    });
    expect(await source('quay.io', 'team/other')).toEqual({ username: 'team', password: 'pw' });
    expect(await source('quay.io', 'elsewhere/x')).toEqual({ username: 'org', password: 'wide' });
    expect(await source('docker.io', 'library/debian')).toEqual({
      username: 'hub',
      password: 'pw',
    });
    expect(await source('ghcr.io', 'x/y')).toBeUndefined();
  });

  it('ask the credential store before auths, and say a path they cannot read', async () => {
    const notDir = join(work, 'plain-file');
    writeFileSync(notDir, 'x');
    // A directory on the way that is a file: as good as absent.
    expect(await authFileCredentials({ env: { HOME: notDir }, uid: 0 })('r.example', 'x')).toBe(
      undefined,
    );
    const unreadable = join(work, 'not-json.json');
    writeFileSync(unreadable, '{"auths": {"r.example": {"auth": "c2VjcmV0OnB3"}}, oops');
    await expect(
      authFileCredentials({ authFile: unreadable })('r.example', 'x'),
    ).rejects.toMatchObject({
      code: 'ERR_REGISTRY_AUTH',
      message: expect.not.stringMatching(/c2VjcmV0|oops/),
    });
  });

  it('refuse a credential helper name that is not a plain name', async () => {
    const file = join(work, 'helper.json');
    writeFileSync(file, JSON.stringify({ credHelpers: { 'r.example': '../../bin/sh' } }));
    await expect(authFileCredentials({ authFile: file })('r.example', 'x')).rejects.toMatchObject({
      code: 'ERR_REGISTRY_AUTH',
      message: expect.stringMatching(
        /docker-credential-\.\.\/\.\.\/bin\/sh: a credential helper name/,
      ),
    });
  });
});
