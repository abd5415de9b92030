/**
 * Running the built command line (`dist/cli.js`) from tests, and making layers for it with GNU
 * tar at test time.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The built command line. */
export const CLI = join(ROOT, 'dist/cli.js');
/** The built Node entry point. */
export const NODE_ENTRY = join(ROOT, 'dist/node.js');

/** Throws a clear error when `dist/` has not been built. */
export function requireDist(): void {
  for (const file of [CLI, NODE_ENTRY]) {
    if (!existsSync(file)) {
      throw new Error(`${file} is missing: run \`npm run build\` before these tests`);
    }
  }
}

/** What a finished process left. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** How {@link runCli} and {@link runProcess} run a process. */
export interface RunOptions {
  cwd?: string;
  /** Bytes for stdin. */
  stdin?: Uint8Array;
  /** The process is killed after this long. @default 20000 */
  timeoutMs?: number;
  /** Variables set (or, when undefined, unset) over this process's environment. */
  env?: Record<string, string | undefined>;
}

/**
 * Runs `node dist/cli.js ...args` to completion.
 * @param args - the command line after `cli.js`.
 * @param options - working directory, stdin, time limit and environment.
 */
export function runCli(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return runProcess(process.execPath, [CLI, ...args], options);
}

/** Runs a process to completion, collecting its output. */
export function runProcess(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '', ...options.env },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    // A process that hangs (say, a handle left open after an error) fails its test with
    // signal SIGKILL instead of timing out the whole file and outliving it.
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({
        code,
        signal,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.on('error', () => {}); // the child may exit before reading all of stdin
    child.stdin.end(options.stdin);
  });
}

/**
 * Writes `files` (and `symlinks`, path to target) under `dir/src-<name>` and archives them with
 * GNU tar, reproducibly.
 * @returns the tar's path.
 */
export function makeTar(
  dir: string,
  name: string,
  files: Record<string, Uint8Array>,
  symlinks: Record<string, string> = {},
): string {
  const src = join(dir, `src-${name}`);
  for (const [path, bytes] of Object.entries(files)) {
    mkdirSync(dirname(join(src, path)), { recursive: true });
    writeFileSync(join(src, path), bytes);
  }
  for (const [path, target] of Object.entries(symlinks)) {
    mkdirSync(dirname(join(src, path)), { recursive: true });
    symlinkSync(target, join(src, path));
  }
  const tar = join(dir, `${name}.tar`);
  execFileSync('tar', [
    '--sort=name',
    '--mtime=@1700000000',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--format=gnu',
    '-cf',
    tar,
    '-C',
    src,
    '.',
  ]);
  return tar;
}

/** Lists every file under a directory, recursively, as paths relative to it. */
export function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath ?? d.path, d.name).slice(dir.length + 1))
    .sort();
}
