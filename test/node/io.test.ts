import { execFileSync } from 'node:child_process';
import {
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { FileError } from '../../src/node/file-error.js';
import {
  type AtomicFile,
  atomicFile,
  fileSource,
  pipeToOutput,
  stdoutSink,
} from '../../src/node/io.js';
import { collect } from '../helpers/streams.js';

const dir = mkdtempSync(join(tmpdir(), 'layerdiff-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const openFds = () => readdirSync('/proc/self/fd').length;

describe('fileSource', () => {
  it('closes its file handle when a read fails', async () => {
    const before = openFds();
    // Opening a directory succeeds; reading it fails with EISDIR.
    await expect(collect(fileSource(dir))).rejects.toMatchObject({ code: 'EISDIR' });
    expect(openFds()).toBe(before);
  });

  it('names the file and the problem when it cannot be opened or read, blocking or not', async () => {
    const missing = join(dir, 'missing.idx');
    for (const blocking of [false, true]) {
      const isDir = await collect(fileSource(dir, { blocking })).catch((e: unknown) => e);
      expect((isDir as Error).message).toBe(`cannot read ${dir}: is a directory`);
      expect(isDir).toMatchObject({ code: 'EISDIR', path: dir, syscall: 'read' });
      const err = await collect(fileSource(missing, { blocking })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FileError);
      expect((err as Error).message).toBe(`cannot read ${missing}: no such file or directory`);
      expect(err).toMatchObject({ code: 'ENOENT', path: missing, syscall: 'open' });
    }
  });
});

/** Writes `bytes` to an atomic file, closes it and commits it. */
async function writeAndCommit(f: AtomicFile, bytes: Uint8Array): Promise<void> {
  const w = f.writable.getWriter();
  await w.write(bytes);
  await w.close();
  await f.commit();
}

describe('atomicFile', () => {
  it.each([false, true])(
    'gathers small writes and publishes the whole file on commit (blocking %s)',
    async (blocking) => {
      const path = join(dir, `out-${blocking}.bin`);
      const f = await atomicFile(path, { blocking });
      const w = f.writable.getWriter();
      const parts = Array.from({ length: 3000 }, (_, i) => new Uint8Array(37).fill(i & 255));
      for (const p of parts) await w.write(p);
      await w.write(new Uint8Array(200_000).fill(9));
      await w.close();
      await f.commit();
      const got = readFileSync(path);
      expect(got.length).toBe(3000 * 37 + 200_000);
      expect(got[36]).toBe(0);
      expect(got[37]).toBe(1);
      expect(got[got.length - 1]).toBe(9);
      expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    },
  );

  it('refuses to commit before the writable closed, and abort removes the partial file', async () => {
    const path = join(dir, 'partial.bin');
    const f = await atomicFile(path);
    const w = f.writable.getWriter();
    await w.write(new Uint8Array(10));
    await expect(f.commit()).rejects.toThrow(/before the writable closed/);
    await w.abort(new Error('stop'));
    expect(readdirSync(dir).filter((n) => n.startsWith('partial.bin'))).toEqual([]);
  });

  it('writes a FIFO or device directly, never renaming over it', async () => {
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    // The reader must be open before the writer's open returns.
    const reader = open(fifo, 'r');
    const f = await atomicFile(fifo);
    const fh = await reader;
    const got = fh.readFile();
    await writeAndCommit(f, new Uint8Array(100_000).fill(7));
    const bytes = await got;
    await fh.close();
    expect(bytes.length).toBe(100_000);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);

    const nul = await atomicFile('/dev/null');
    await writeAndCommit(nul, new Uint8Array(10));
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
  });

  it('replaces the target of a symbolic link, keeping the link', async () => {
    const target = join(dir, 'target.bin');
    const link = join(dir, 'link.bin');
    writeFileSync(target, 'old');
    symlinkSync(target, link);
    const f = await atomicFile(link);
    await writeAndCommit(f, new TextEncoder().encode('new'));
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(target);
    expect(readFileSync(target, 'utf8')).toBe('new');
  });

  it('creates the target of a symbolic link that points to nothing yet, as > does', async () => {
    const link = join(dir, 'dangling.bin');
    symlinkSync('made-by-commit.bin', link);
    const f = await atomicFile(link);
    await writeAndCommit(f, new TextEncoder().encode('new'));
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'made-by-commit.bin'), 'utf8')).toBe('new');
  });

  it('names the output asked for, not its temporary file, when it cannot be created', async () => {
    const path = join(dir, 'no-such-dir', 'x.idx');
    const err = await atomicFile(path).catch((e: Error) => e);
    expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect((err as Error).message).toBe(`cannot write ${path}: no such file or directory`);
    expect(err).toBeInstanceOf(FileError);
    expect(err).toMatchObject({ path, syscall: 'open' });
  });
});

describe('pipeToOutput', () => {
  it('cancels the stream when the output cannot be created', async () => {
    let cancelled: unknown;
    const stream = new ReadableStream<Uint8Array>({
      cancel(reason) {
        cancelled = reason;
      },
    });
    const path = join(dir, 'no-such-dir', 'out.bin');
    await expect(pipeToOutput(stream, path)).rejects.toThrow(`cannot write ${path}`);
    expect((cancelled as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});

describe('stdoutSink', () => {
  it('a stream error fails the write waiting for drain and every later one, and crashes nothing', async () => {
    // A Node stream that accepts one write, then never drains and fails (a pipe whose reader left).
    const out = new Writable({ highWaterMark: 1, write: () => {} });
    const writer = stdoutSink(out).getWriter();
    const first = writer.write(new Uint8Array(10));
    const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    out.emit('error', epipe);
    await expect(first).rejects.toBe(epipe);
    await expect(writer.write(new Uint8Array(1))).rejects.toBe(epipe);
  });

  it('a stream closed without an error fails a waiting write too; a closed sink stops listening', async () => {
    const out = new Writable({ highWaterMark: 1, write: () => {} });
    const writer = stdoutSink(out).getWriter();
    const waiting = writer.write(new Uint8Array(10));
    out.destroy();
    await expect(waiting).rejects.toThrow(/closed/);

    const fine = new Writable({ write: (_chunk, _enc, done) => done() });
    const before = fine.listenerCount('error');
    const w = stdoutSink(fine).getWriter();
    await w.write(new Uint8Array(3));
    await w.close();
    expect(fine.listenerCount('error')).toBe(before);
    expect(fine.listenerCount('close')).toBe(0);
  });
});
