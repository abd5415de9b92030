import { describe, expect, it } from 'vitest';
import { parseBearerChallenge, tokenOf, tokenUrl } from '../../src/registry/token.js';

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

  it('asks the realm for the service and the scope, or the fallback scope', () => {
    expect(tokenUrl({ realm: 'https://a/t?x=1', service: 's v' }, 'repository:r:pull')).toBe(
      'https://a/t?x=1&service=s+v&scope=repository%3Ar%3Apull',
    );
  });

  it('takes token or access_token, only when it can go in a header', () => {
    expect(tokenOf({ token: 'abc' })).toBe('abc');
    expect(tokenOf({ access_token: 'def' })).toBe('def');
    expect(tokenOf({ token: '', access_token: 'def' })).toBe('def');
    for (const v of [null, 'abc', {}, { token: 5 }, { token: 'a b' }, { token: 'a\r\nX: y' }]) {
      expect(tokenOf(v)).toBeUndefined();
    }
  });
});
