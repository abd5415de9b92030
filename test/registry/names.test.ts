import { describe, expect, it } from 'vitest';
import { parseImageReference, registryApiHost } from '../../src/registry/names.js';

const digest = `sha256:${'ab'.repeat(32)}`;

describe('parseImageReference', () => {
  it('takes host[:port]/repository[:tag][@digest]', () => {
    expect(parseImageReference('127.0.0.1:5000/team/app:v1.2')).toEqual({
      registry: '127.0.0.1:5000',
      repository: 'team/app',
      tag: 'v1.2',
    });
    expect(parseImageReference(`ghcr.io/org/tool@${digest}`)).toEqual({
      registry: 'ghcr.io',
      repository: 'org/tool',
      digest,
    });
    expect(parseImageReference(`registry.example:443/a/b/c:t@${digest}`)).toEqual({
      registry: 'registry.example:443',
      repository: 'a/b/c',
      tag: 't',
      digest,
    });
    expect(parseImageReference('localhost/app')).toEqual({
      registry: 'localhost',
      repository: 'app',
      tag: 'latest',
    });
    expect(parseImageReference('[::1]:5000/app:x')).toEqual({
      registry: '[::1]:5000',
      repository: 'app',
      tag: 'x',
    });
  });

  it('refuses a reference without a registry host, or with a malformed part', () => {
    for (const ref of [
      'ubuntu',
      'ubuntu:22.04',
      'library/ubuntu',
      '/app',
      'host.example/',
      'host.example/App',
      'host.example/a//b',
      'host.example/app:',
      'host.example/app:-x',
      `host.example/app:${'t'.repeat(129)}`,
      'host.example/app@sha256:12',
      `host.example/app@sha512:${'a'.repeat(128)}`,
      'ho st:5000/app',
      `host.example/${'a'.repeat(256)}`,
    ]) {
      expect(() => parseImageReference(ref), ref).toThrow(/image reference/);
    }
  });
});

describe('Docker Hub', () => {
  it('is asked at registry-1.docker.io, and its one-part names are library/ images', () => {
    expect(parseImageReference('docker.io/debian:12')).toEqual({
      registry: 'docker.io',
      repository: 'library/debian',
      tag: '12',
    });
    expect(parseImageReference('index.docker.io/org/app').repository).toBe('org/app');
    expect(parseImageReference('ghcr.io/app').repository).toBe('app');
    expect(registryApiHost('docker.io')).toBe('registry-1.docker.io');
    expect(registryApiHost('Index.Docker.io')).toBe('registry-1.docker.io');
    expect(registryApiHost('ghcr.io')).toBe('ghcr.io');
  });
});
