/**
 * What the registry tests share: the images they serve and pull, a free port, and a running
 * `layerdiff serve`.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { CLI } from '../cli/run.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { buildLayout, buildMultiPlatform, gnuGzip } from '../oci/helpers.js';
import { layerTar } from '../pipeline/flatten-helpers.js';

/** A layer tar of one 300,000-byte random file, different for each seed. */
export const tar = (seed: number): Uint8Array =>
  layerTar([
    { type: 'dir', path: 'opt' },
    { type: 'file', path: `opt/tool-${seed}`, body: pseudoRandom(300_000, seed), mode: 0o755 },
  ]);

/**
 * Builds, under `work`, the layout `src` (tag `exact`: an uncompressed layer and one that
 * Python's gzip compressed, both reproduced; tag `changed`: one GNU gzip layer, which nothing
 * reproduces) and `multi` (tag `v1`: two platforms and an attestation).
 */
export function buildImages(work: string): { src: string; multi: string } {
  const src = join(work, 'src');
  const gnu = gnuGzip(tar(3));
  buildLayout(src, [
    {
      tag: 'exact',
      layers: [
        { tar: tar(1), compress: 'none' },
        { tar: tar(2), compress: { python: 6 } },
      ],
    },
    {
      tag: 'changed',
      layers: [
        {
          tar: tar(3),
          compress: { blob: gnu, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' },
        },
      ],
    },
  ]);
  const multi = join(work, 'multi');
  buildMultiPlatform(
    multi,
    [
      {
        platform: { os: 'linux', architecture: 'amd64' },
        layers: [{ tar: tar(4), compress: { python: 1 } }],
      },
      {
        platform: { os: 'linux', architecture: 'arm64' },
        layers: [{ tar: tar(5), compress: 'none' }],
      },
    ],
    { tag: 'v1' },
  );
  return { src, multi };
}

/** A free port on 127.0.0.1 (asked of the kernel, then released for the server to take). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A running `layerdiff serve`, its address, and what it printed. */
export interface Served {
  child: ChildProcessWithoutNullStreams;
  /** `127.0.0.1:<port>`. */
  host: string;
  stdout: string;
  stderr: () => string;
}

/** Starts `layerdiff serve` on a free port and waits (at most 20 s) until it listens. */
export function startServe(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => {
    err += b.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start: ${err}`));
    }, 20_000);
    child.on('exit', (code) => reject(new Error(`serve exited (${code}): ${err}`)));
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on http:\/\/(127\.0\.0\.1:\d+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, host: m[1]!, stdout: out, stderr: () => err });
      }
    });
  });
}

/** Stops a server with SIGTERM and returns its exit code (killed after 10 s). */
export function stopServe(s: Served): Promise<number | null> {
  if (s.child.exitCode !== null) return Promise.resolve(s.child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => s.child.kill('SIGKILL'), 10_000);
    s.child.removeAllListeners('exit');
    s.child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    s.child.kill('SIGTERM');
  });
}
