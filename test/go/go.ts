/**
 * Go's own `compress/flate` and `compress/gzip`, built from `goflate.go` with the `go` tool
 * once per test run, for comparing layerdiff's Go-compatible encoder with the real thing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Builds a Go program with the `go` tool into a temporary directory and returns the binary's
 * path: `target` (a package or file) in `dir`, with `env` added to the environment.
 */
export function buildGo(dir: string, target: string, env: Record<string, string> = {}): string {
  const out = join(mkdtempSync(join(tmpdir(), 'layerdiff-go-')), 'helper');
  execFileSync('go', ['build', '-o', out, target], {
    cwd: dir,
    // Go needs a build cache; CI's environment may have no HOME to put it under.
    env: {
      ...process.env,
      CGO_ENABLED: '0',
      GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'layerdiff-gocache'),
      ...env,
    },
    stdio: 'pipe',
  });
  return out;
}

let binary: string | undefined;

/** Builds the helper (once) and returns its path. */
function goflate(): string {
  binary ??= buildGo(dirname(fileURLToPath(import.meta.url)), '.');
  return binary;
}

/** The version of the `go` tool the helper is built with, e.g. `go1.19.8`. */
export function goVersion(): string {
  return execFileSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' }).trim();
}

/** Go's raw deflate of `input` at `level`, written in `writeSize` pieces. */
export function goDeflate(input: Uint8Array, level: number, writeSize = 32768): Uint8Array {
  return new Uint8Array(
    execFileSync(goflate(), ['raw', String(level), String(writeSize)], {
      input,
      maxBuffer: 1 << 30,
    }),
  );
}

/** Go's gzip of `input` at `level` (mtime 1700000000, FNAME `name` when given). */
export function goGzip(input: Uint8Array, level: number, name?: string): Uint8Array {
  const args = ['gzip', String(level), '32768', ...(name ? [name] : [])];
  return new Uint8Array(execFileSync(goflate(), args, { input, maxBuffer: 1 << 30 }));
}
