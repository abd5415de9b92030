/**
 * klauspost/pgzip and klauspost/compress's `flate`, built from `pgzip.go` with the `go` tool
 * once per test run against Debian's packages of them (the versions Debian's umoci and skopeo
 * are built with), for comparing layerdiff's pgzip engine with the real thing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGo } from '../go/go.js';

/** Where Debian's Go library packages put their sources (a GOPATH). */
const DEBIAN_GOPATH = '/usr/share/gocode';

/** True when the `go` tool and Debian's pgzip and klauspost/compress sources are installed. */
export function pgzipAvailable(): boolean {
  const ok = ['pgzip', 'compress/flate'].every((p) =>
    existsSync(join(DEBIAN_GOPATH, 'src/github.com/klauspost', p)),
  );
  if (!ok && process.env.CI) {
    throw new Error('CI is missing golang-github-klauspost-pgzip-dev or -compress-dev');
  }
  return ok;
}

let binary: string | undefined;

/** Builds the helper (once, in GOPATH mode against Debian's sources) and returns its path. */
function helper(): string {
  binary ??= buildGo(dirname(fileURLToPath(import.meta.url)), 'pgzip.go', {
    GO111MODULE: 'off',
    GOPATH: DEBIAN_GOPATH,
  });
  return binary;
}

/** klauspost/compress's raw deflate of `input` (one stream) at `level`, in `writeSize` writes. */
export function klauspostDeflate(input: Uint8Array, level: number, writeSize = 32768): Uint8Array {
  return run(['raw', String(level), String(writeSize)], input);
}

/**
 * pgzip's gzip of `input` at `level` (mtime 1700000000), in `writeSize` writes, in blocks of
 * `blockSize` (pgzip's default when not given).
 */
export function pgzipGzip(
  input: Uint8Array,
  level: number,
  writeSize = 32768,
  blockSize?: number,
): Uint8Array {
  const args = ['gzip', String(level), String(writeSize)];
  return run(blockSize ? [...args, String(blockSize)] : args, input);
}

function run(args: string[], input: Uint8Array): Uint8Array {
  return new Uint8Array(execFileSync(helper(), args, { input, maxBuffer: 1 << 30 }));
}
