/**
 * Deflate on worker threads: the same bytes as each core engine on the calling thread (several
 * streams at once sharing the threads), a failure in the thread as a typed error, a reader
 * that stops reading holds the writer back, a cancel midway leaves the threads usable, and
 * a stream left unfinished does not keep the process alive.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeDeflateEngine } from '../../src/node/deflate.js';
import { DeflateWorkerError, offThreadDeflate } from '../../src/node/off-thread-deflate.js';
import { coreDeflateEngines, type DeflateEngine } from '../../src/oci/gzip-reproduce.js';
import { pseudoRandom, text } from '../helpers/bytes.js';
import { collect } from '../helpers/streams.js';

const ROOT = join(import.meta.dirname, '../..');

/** Text, random bytes and a run: output in many pieces, with matches and literals. */
function input(seed: number): Uint8Array {
  const out = new Uint8Array(1_500_000);
  out.set(text(600_000, seed), 0);
  out.set(pseudoRandom(600_000, seed), 600_000);
  out.fill(9, 1_200_000);
  return out;
}

/** `bytes` in pieces of varying size, as a decoder hands them out. */
function pieces(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  let n = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      const size = [65536, 1, 30_000, 200_000][n++ % 4]!;
      controller.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

const deflate = (engine: DeflateEngine, bytes: Uint8Array, level: number) =>
  collect(pieces(bytes).pipeThrough(engine.createDeflateRaw({ level, memLevel: 8, strategy: 0 })));

describe('offThreadDeflate', () => {
  it('gives each core engine’s own bytes, with several streams at once on the threads', async () => {
    const bytes = input(1);
    for (const wanted of [1, 6]) {
      const engines = coreDeflateEngines();
      // klauspost's are built at levels 5 and 6 only.
      const level = (e: DeflateEngine) => (e.levels?.includes(wanted) === false ? 5 : wanted);
      const want = await Promise.all(engines.map((e) => deflate(e, bytes, level(e))));
      const got = await Promise.all(
        engines.map((e) => deflate(offThreadDeflate(e), bytes, level(e))),
      );
      engines.forEach((e, i) => {
        expect(Buffer.from(got[i]!).equals(want[i]!), `${e.name} level ${level(e)}`).toBe(true);
      });
    }
  }, 60_000);

  it('keeps the engine’s name and limits; an engine the threads lack is returned as it is', () => {
    for (const e of coreDeflateEngines()) {
      const t = offThreadDeflate(e);
      expect(t).not.toBe(e);
      expect([t.name, t.levels, t.memLevels, t.strategies]).toEqual([
        e.name,
        e.levels,
        e.memLevels,
        e.strategies,
      ]);
    }
    const node = nodeDeflateEngine();
    expect(offThreadDeflate(node)).toBe(node);
  });

  it('errors the stream with ERR_DEFLATE_WORKER when the engine fails in its thread', async () => {
    const go = offThreadDeflate(coreDeflateEngines().find((e) => e.name.startsWith('go-'))!);
    // Go's engine has only the default strategy: it refuses this one in the thread.
    const out = pieces(input(2)).pipeThrough(
      go.createDeflateRaw({ level: 6, memLevel: 8, strategy: 2 }),
    );
    const err = await collect(out).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeflateWorkerError);
    expect((err as DeflateWorkerError).code).toBe('ERR_DEFLATE_WORKER');
    expect(String((err as Error).message)).toMatch(/go-compress-flate.*strategy 2/);
  });

  it('holds the writer back while nobody reads the output', async () => {
    const engine = offThreadDeflate(coreDeflateEngines()[0]!);
    const pair = engine.createDeflateRaw({ level: 1, memLevel: 8, strategy: 0 });
    const writer = pair.writable.getWriter();
    // Random bytes: the output is as long as the input, and waits in the queue unread.
    let written = 0;
    for (let i = 0; i < 200; i++) {
      const write = writer.write(pseudoRandom(65536, i));
      const settled = await Promise.race([
        write.then(() => true),
        new Promise((r) => setTimeout(() => r(false), 1000)),
      ]);
      if (!settled) break;
      written += 65536;
    }
    // 1 MiB of output queued, 1 MiB in flight, and what the engine holds back.
    expect(written).toBeGreaterThanOrEqual(1 << 20);
    expect(written).toBeLessThanOrEqual(4 << 20);
    // Reading lets the rest through, exactly.
    const reading = collect(pair.readable);
    await writer.close();
    const bytes = await reading;
    expect(bytes.length).toBeGreaterThan(written);
  }, 30_000);

  it('a cancel of its output cancels the source at once, as a TransformStream does', async () => {
    for (const base of coreDeflateEngines().slice(0, 2)) {
      let cancelled: unknown;
      let sent = 0;
      // Three pieces, then nothing more for as long as the test runs.
      const source = new ReadableStream<Uint8Array>({
        pull: (controller) =>
          sent < 3
            ? controller.enqueue(input(5).slice(sent++ * 100_000, sent * 100_000))
            : new Promise(() => {}),
        cancel: (reason) => {
          cancelled = reason;
        },
      });
      const reader = source
        .pipeThrough(
          offThreadDeflate(base).createDeflateRaw({ level: 1, memLevel: 8, strategy: 0 }),
        )
        .getReader();
      expect((await reader.read()).done).toBe(false);
      const reason = new Error('client gone');
      await reader.cancel(reason);
      await new Promise((r) => setTimeout(r, 200));
      expect(cancelled, base.name).toBe(reason);
    }
  });

  it('after readers cancel midway, the threads go on serving others, byte for byte', async () => {
    const engine = offThreadDeflate(coreDeflateEngines()[0]!);
    for (let i = 0; i < 6; i++) {
      const reader = pieces(input(3))
        .pipeThrough(engine.createDeflateRaw({ level: 6, memLevel: 8, strategy: 0 }))
        .getReader();
      for (let n = 0; n <= i % 3; n++) expect((await reader.read()).done).toBe(false);
      await reader.cancel(new Error('differs'));
    }
    const bytes = input(4);
    const want = await deflate(coreDeflateEngines()[0]!, bytes, 6);
    expect(Buffer.from(await deflate(engine, bytes, 6)).equals(want)).toBe(true);
  }, 30_000);

  it('keeps the process alive while its thread works, and not for a stream only waiting on its reader (built module)', () => {
    /**
     * Runs `script` in a process of its own; its stdout. It may end with its top-level await
     * unsettled (exit code 13): nothing keeps the process alive then, which is the point.
     */
    const node = (script: string) => {
      const r = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { offThreadDeflate, defaultDeflateEngines } from ${JSON.stringify(join(ROOT, 'dist/node.js'))};
          const pair = offThreadDeflate(defaultDeflateEngines()[0]).createDeflateRaw({ level: 9, memLevel: 8, strategy: 0 });
          const writer = pair.writable.getWriter();
          const reader = pair.readable.getReader();
          ${script}`,
        ],
        { timeout: 20_000, encoding: 'utf8' },
      );
      expect([0, 13], r.stderr).toContain(r.status);
      return r.stdout.trim();
    };
    // Nothing but the thread's answer pending: the process waits for it.
    expect(
      node(`writer.write(new Uint8Array(500000).fill(1)); writer.close();
        let n = 0; for (;;) { const r = await reader.read(); if (r.done) break; n += r.value.length; }
        console.log(n > 0 ? 'read' : 'empty');`),
    ).toBe('read');
    // Output for input the thread took comes before the process may end: all of it read, the
    // stream left open (the output up to there does not depend on when it is read).
    for (const engine of [0, 1]) {
      const leftOpen = (keep: string) =>
        node(`const e = offThreadDeflate(defaultDeflateEngines()[${engine === 0 ? 2 : 0}]);
          const p = e.createDeflateRaw({ level: 6, memLevel: 8, strategy: 0 });
          const w = p.writable.getWriter(); const r = p.readable.getReader();
          let x = 7; const bytes = new Uint8Array(600000).map(() => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24) & 63);
          let n = 0;
          process.on('exit', () => console.log(n));
          ${keep}
          await w.write(bytes);
          for (;;) { const x = await r.read(); if (x.done) break; n += x.value.length; }`);
      const all = leftOpen('setTimeout(() => process.exit(0), 1500);');
      expect(Number(all)).toBeGreaterThan(0);
      for (let i = 0; i < 3; i++) expect(leftOpen(''), `engine ${engine} run ${i}`).toBe(all);
    }
    // Writes held back for a reader that never comes: the process ends all the same.
    expect(
      node(`for (let i = 0; i < 64; i++) writer.write(new Uint8Array(65536).map((_, k) => (k * 7919 + i) & 255)).catch(() => {});
        console.log('left');`),
    ).toBe('left');
  });
});
