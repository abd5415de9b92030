/**
 * Runs the platform-neutral build (dist/index.js) in real browsers, headless Chromium and
 * Firefox: page.js, bundled with the build by esbuild for the browser platform (a `node:`
 * import anywhere in the core would fail the bundle), converts and rebuilds a GNU-tar-made
 * layer (plain, gzip and zstd; test/web/suite.js) served from 127.0.0.1, and posts its outcome
 * back. Needs `npm run build` first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import { bundleBytes } from '../bundle/helpers.js';
import { convertBytes } from '../helpers/layers.js';
import { answerWithRanges, serve } from '../helpers/servers.js';
import { toolsAvailable } from '../helpers/tools.js';
import { makeWebFixtures } from '../web/fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const dist = join(root, 'dist');
/** How long a page may take, from the browser's start to its posted outcome. */
const PAGE_MS = 90_000;

/** What page.js posts to `/result`. */
interface Outcome {
  ok: boolean;
  error?: string;
  userAgent: string;
  lines: string[];
}

const work = mkdtempSync(join(tmpdir(), 'layerdiff-browser-'));
/** Range requests for `/layer.zip` the current page made. */
let ranges = 0;
/** Files the server gives, by path. */
const files = new Map<string, { bytes: Uint8Array; type: string }>();

beforeAll(async () => {
  if (!existsSync(join(dist, 'index.js'))) {
    throw new Error('dist/index.js is missing: run `npm run build` before this test');
  }
  const fixtures = join(work, 'fixtures');
  mkdirSync(fixtures);
  makeWebFixtures(fixtures);
  const read = (name: string) => new Uint8Array(readFileSync(join(fixtures, name)));
  const bundled = await build({
    entryPoints: [join(here, 'page.js'), join(here, 'worker.js')],
    outdir: join(work, 'bundle'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'error',
    alias: { layerdiff: join(dist, 'index.js'), 'web-suite': join(root, 'test/web/suite.js') },
  });
  const tar = read('layer.tar');
  const store = new MemoryStore();
  const { index } = await convertBytes(tar, store);
  const zip = await bundleBytes(index, store);
  // A page whose module fails to load or throws before it posts says so at once, not at the
  // timeout.
  const page = `<!doctype html><meta charset="utf-8"><script>
addEventListener('error', (e) => fetch('/result', { method: 'POST', body: JSON.stringify({
  ok: false, error: String(e.error ?? e.message ?? e.target?.src), userAgent: navigator.userAgent,
  lines: [] }) }), true);
</script><script type="module" src="/page.js"></script>`;
  for (const [path, bytes, type] of [
    ['/', new TextEncoder().encode(page), 'text/html'],
    [
      '/page.js',
      bundled.outputFiles.find((f) => f.path.endsWith('page.js'))!.contents,
      'text/javascript',
    ],
    [
      '/worker.js',
      bundled.outputFiles.find((f) => f.path.endsWith('worker.js'))!.contents,
      'text/javascript',
    ],
    ['/cdc.wasm', new Uint8Array(readFileSync(join(dist, 'cdc.wasm'))), 'application/wasm'],
    ['/layer.tar', tar, 'application/x-tar'],
    ['/layer.tar.gz', read('layer.tar.gz'), 'application/gzip'],
    ['/layer.tar.zst', read('layer.tar.zst'), 'application/zstd'],
    ['/expected.json', read('expected.json'), 'application/json'],
    ['/layer.zip', zip, 'application/zip'],
  ] as const) {
    files.set(path, { bytes, type });
  }
}, 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** How to start each browser headless on a page, with a profile of its own under `profile`. */
const BROWSERS: Record<string, (url: string, profile: string) => { args: string[]; env: object }> =
  {
    // As root, Chromium runs only without its sandbox.
    chromium: (url, profile) => ({
      args: ['--headless', '--no-sandbox', '--disable-gpu', `--user-data-dir=${profile}`, url],
      env: {},
    }),
    // Firefox wants a home it can write to.
    'firefox-esr': (url, profile) => ({
      args: ['--headless', '--no-remote', '-profile', profile, url],
      env: { HOME: profile, MOZ_HEADLESS: '1' },
    }),
  };

/** Serves the files, takes the page's outcome, and ends the browser (its whole group). */
async function runPage(browser: string): Promise<Outcome> {
  ranges = 0;
  let child: ChildProcess | undefined;
  let timer: NodeJS.Timeout | undefined;
  const profile = mkdtempSync(join(work, `${browser}-`));
  try {
    return await new Promise<Outcome>((resolveOutcome, reject) => {
      const handle = (req: IncomingMessage, res: ServerResponse) => {
        if (req.method === 'POST' && req.url === '/result') {
          const parts: Buffer[] = [];
          req.on('data', (d: Buffer) => parts.push(d));
          req.on('end', () => {
            res.end();
            try {
              resolveOutcome(JSON.parse(Buffer.concat(parts).toString('utf8')) as Outcome);
            } catch (err) {
              reject(err);
            }
          });
          return;
        }
        const file = files.get(req.url ?? '');
        if (!file) {
          res.writeHead(404).end();
          return;
        }
        const sent = answerWithRanges(req, res, file.bytes, file.type);
        if (sent?.partial && req.url === '/layer.zip') ranges++;
      };
      serve(handle).then((host) => {
        const { args, env } = BROWSERS[browser]!(`http://${host}/`, profile);
        let stderr = '';
        child = spawn(browser, args, {
          detached: true,
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...process.env, ...env },
        });
        child.stderr!.on('data', (d: Buffer) => {
          stderr = (stderr + d.toString()).slice(-4000);
        });
        child.on('error', reject);
        child.on('exit', (code, signal) =>
          reject(
            new Error(`${browser} ended (${code ?? signal}) before the page posted:\n${stderr}`),
          ),
        );
        timer = setTimeout(
          () => reject(new Error(`no outcome from ${browser} in ${PAGE_MS} ms:\n${stderr}`)),
          PAGE_MS,
        );
      }, reject);
    });
  } finally {
    clearTimeout(timer);
    // The whole group: the browser's own processes outlive its first one.
    if (child?.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
}

describe('browsers', () => {
  for (const browser of Object.keys(BROWSERS)) {
    it.skipIf(!toolsAvailable(browser))(
      `${browser}: converts and rebuilds a GNU tar layer (plain, gzip, zstd, fetched, over HTTP Range; in a Web Worker too)`,
      async () => {
        const outcome = await runPage(browser);
        const report = [outcome.userAgent, ...outcome.lines, outcome.error ?? ''].join('\n');
        expect(outcome.ok, report).toBe(true);
        expect(report).toContain('LZ4 diff: ');
        expect(report).toContain('bundle over HTTP Range: rebuilt ');
        expect(ranges, 'range requests for the bundle').toBeGreaterThan(1);
        expect(report).toContain('worker: LZ4 diff: ');
        expect(report).toContain('Web Worker: ok');
      },
      PAGE_MS + 30_000,
    );
  }
});
