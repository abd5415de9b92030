import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TOKEN_LIFETIME_MS,
  isBasicChallenge,
  mergeScopes,
  parseBearerChallenge,
  tokenLifetime,
  tokenOf,
  tokenRequest,
} from '../../src/registry/token.js';

describe('bearer challenges', () => {
  it('parses what registries send', () => {
    expect(
      parseBearerChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull"',
      ),
    ).toEqual({
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/debian:pull',
    });
    expect(
      parseBearerChallenge('bearer realm=http://127.0.0.1:9/t, service = "a \\"b\\""'),
    ).toEqual({
      realm: 'http://127.0.0.1:9/t',
      service: 'a "b"',
    });
  });

  it('refuses other schemes, malformed ones and realms that are not http(s)', () => {
    for (const h of [
      null,
      'Basic realm="x"',
      'Bearer',
      'Bearer service="s"',
      'Bearer realm="file:///etc/passwd"',
      'Bearer realm="not a url"',
      'Bearer realm="https://a/t",,',
      'Bearer realm="https://a/t" junk',
      `Bearer realm="https://a/t",x="${'y'.repeat(5000)}"`,
    ]) {
      expect(parseBearerChallenge(h), String(h).slice(0, 40)).toBeUndefined();
    }
  });

  it('asks the realm for the service and the scopes, its own merged with the challenge ones', () => {
    expect(
      tokenRequest({ realm: 'https://a/t?x=1', service: 's v' }, ['repository:r:pull']),
    ).toEqual({ url: 'https://a/t?x=1&service=s+v&scope=repository%3Ar%3Apull', init: {} });
    const challenge = { realm: 'https://a/t', scope: 'repository:r:pull repository:o:pull' };
    expect(tokenRequest(challenge, ['repository:r:pull,push', 'repository:m:pull'])?.url).toBe(
      'https://a/t?scope=repository%3Ar%3Apull%2Cpush&scope=repository%3Ao%3Apull&scope=repository%3Am%3Apull',
    );
  });

  it('merges the actions asked of one resource', () => {
    expect(
      mergeScopes([
        'repository:a/b:pull',
        'registry:catalog:*',
        'repository:a/b:push,pull',
        '',
        'repository(plugin):c:pull',
      ]),
    ).toEqual(['repository:a/b:pull,push', 'registry:catalog:*', 'repository(plugin):c:pull']);
  });

  it('asks with a password as Basic, and with an identity token as an OAuth2 refresh', async () => {
    const challenge = { realm: 'https://a/t', service: 'reg', scope: 'repository:x/y:pull' };
    expect(tokenRequest(challenge, [], { username: 'ann', password: 'pä:ss' })).toEqual({
      url: 'https://a/t?service=reg&scope=repository%3Ax%2Fy%3Apull&account=ann',
      init: { headers: { authorization: `Basic ${Buffer.from('ann:pä:ss').toString('base64')}` } },
    });
    const refresh = tokenRequest(challenge, [], { identityToken: 'rt-1' })!;
    expect(refresh.url).toBe('https://a/t');
    expect(refresh.init.method).toBe('POST');
    expect(Object.fromEntries(new URLSearchParams(String(refresh.init.body)))).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'rt-1',
      client_id: 'layerdiff',
      scope: 'repository:x/y:pull',
      service: 'reg',
    });
    // Nothing a header cannot carry: a ":" in the username, control characters anywhere.
    for (const [username, password] of [
      ['a:b', 'p'],
      ['a', 'p\r\nX-Injected: 1'],
      ['a\n', 'p'],
    ] as const) {
      expect(tokenRequest(challenge, [], { username, password })).toBeUndefined();
    }
  });

  it('tells a Basic challenge', () => {
    expect(isBasicChallenge('Basic realm="r"')).toBe(true);
    expect(isBasicChallenge('basic')).toBe(true);
    for (const h of [null, 'Bearer realm="x"', 'Basically', '']) {
      expect(isBasicChallenge(h), String(h)).toBe(false);
    }
  });

  it('takes token or access_token, only when it can go in a header', () => {
    expect(tokenOf({ token: 'abc' })).toBe('abc');
    expect(tokenOf({ access_token: 'def' })).toBe('def');
    expect(tokenOf({ token: '', access_token: 'def' })).toBe('def');
    for (const v of [null, 'abc', {}, { token: 5 }, { token: 'a b' }, { token: 'a\r\nX: y' }]) {
      expect(tokenOf(v)).toBeUndefined();
    }
  });

  it('reads a token lifetime, 60 s when none can be read', () => {
    expect(tokenLifetime({ token: 'a', expires_in: 300 })).toBe(300_000);
    expect(tokenLifetime({ token: 'a', expires_in: 0.5 })).toBe(500);
    for (const v of [null, {}, { expires_in: '300' }, { expires_in: 0 }, { expires_in: -5 }]) {
      expect(tokenLifetime(v), JSON.stringify(v)).toBe(DEFAULT_TOKEN_LIFETIME_MS);
    }
    expect(tokenLifetime({ expires_in: 10 ** 9 })).toBe(DEFAULT_TOKEN_LIFETIME_MS);
    expect(tokenLifetime({ expires_in: Number.NaN })).toBe(DEFAULT_TOKEN_LIFETIME_MS);
  });
});
