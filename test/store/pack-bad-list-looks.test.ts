/**
 * A pack store's look for lists of bad records grown since it read them (at most once per
 * LIST_CHECK_MS, started by `has` and `put`): it runs in the background, reads only the lines
 * appended since the last read, and `close` waits for it. The calls of node:fs/promises the
 * look makes are watched, and held back on demand, through a mock.
 */
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LIST_CHECK_MS, PackStore } from '../../src/node/pack-store.js';
import { type PackRecord, packRecords } from '../helpers/packs.js';
import { chunk } from './conformance.js';

const { io } = vi.hoisted(() => ({
  io: {
    /** When set, a `stat` or an `open` (as named) of a `.bad` file waits for this. */
    hold: undefined as
      | { call: 'stat' | 'open'; until: Promise<void>; reached: () => void }
      | undefined,
    /** Reads of `.bad` files: where each started, and how many bytes it got. */
    listReads: [] as { at: number; bytes: number }[],
    /** When set, the next `stat` of a `.bad` file throws at once (not a rejected promise). */
    statThrows: false,
    /** `.bad` and `.idx` files open now (opened through the mock). */
    openFiles: 0,
    /** Opens of `.bad` and `.idx` files since this was set to a list. */
    opened: undefined as string[] | undefined,
  },
}));

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const held = async (call: 'stat' | 'open', path: string) => {
    const hold = io.hold;
    if (hold?.call === call && path.endsWith('.bad')) {
      io.hold = undefined;
      hold.reached();
      await hold.until;
    }
  };
  return {
    ...fs,
    stat: ((path: string, options?: { bigint?: boolean }) => {
      if (io.statThrows && String(path).endsWith('.bad')) {
        io.statThrows = false;
        throw new Error('stat failed');
      }
      return held('stat', String(path)).then(() => fs.stat(path, options));
    }) as typeof fs.stat,
    open: async (...args: Parameters<typeof fs.open>) => {
      const path = String(args[0]);
      const watched = /\.(bad|idx)$/.test(path);
      await held('open', path);
      const fh = await fs.open(...args);
      if (!watched) return fh;
      io.openFiles++;
      io.opened?.push(basename(path));
      const close = fh.close.bind(fh);
      fh.close = async () => {
        io.openFiles--;
        await close();
      };
      if (path.endsWith('.bad')) {
        const read = fh.read.bind(fh);
        fh.read = (async (buf: Uint8Array, offset: number, length: number, position: number) => {
          const got = await read(buf, offset, length, position);
          io.listReads.push({ at: position, bytes: got.bytesRead });
          return got;
        }) as typeof fh.read;
      }
      return fh;
    },
  };
});

const roots: string[] = [];
afterAll(() => Promise.all(roots.map((r) => rm(r, { recursive: true, force: true }))));
beforeEach(() => {
  io.hold = undefined;
  io.listReads = [];
  io.opened = undefined;
  io.statThrows = false;
  vi.useFakeTimers({ toFake: ['Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** A store of three chunks in one pack, its records, and the pack's list. */
async function storeOf(seed: number) {
  const root = await mkdtemp(join(tmpdir(), 'layerdiff-looks-'));
  roots.push(root);
  const s = await PackStore.open(root);
  const cs = Array.from({ length: 3 }, (_, i) => chunk(20_000 + i * 1000, seed + i));
  for (const c of cs) await s.put(c.digest, c.bytes);
  await s.close();
  const records = cs.map((c) => packRecords(root).find((r) => r.digest === c.digest)!);
  return { root, cs, records, list: records[0]!.pack.replace(/\.pack$/, '.bad') };
}

/** A record's line in a list. */
const lineOf = (r: PackRecord, offset = r.entry.offset) => `${r.digest} ${offset}\n`;
/** A digest no store here holds. */
const ABSENT = chunk(100, 999).digest;
/** The look for lists a store has under way, if any. */
const lookOf = (s: PackStore) => (s as unknown as { looking?: Promise<void> }).looking;

/** Makes the next `stat` or `open` of a list wait until `release` is called. */
function holdNext(call: 'stat' | 'open') {
  let release!: () => void;
  let reached!: () => void;
  const until = new Promise<void>((r) => {
    release = r;
  });
  const hit = new Promise<void>((r) => {
    reached = r;
  });
  io.hold = { call, until, reached };
  return { release, reached: hit };
}

/** Starts a look (LIST_CHECK_MS later, `has` starts one), and returns it. */
async function startLook(s: PackStore): Promise<{ look: Promise<void> }> {
  vi.setSystemTime(Date.now() + LIST_CHECK_MS);
  await s.has(ABSENT);
  const look = lookOf(s);
  expect(look).toBeDefined();
  return { look: look! };
}

/** A turn of the event loop: every promise already settled has run its callbacks. */
const turn = () => new Promise<void>((r) => setImmediate(r));

describe('PackStore, the look for lists of bad records', () => {
  it('has and put answer from what the store knows while a look runs, and count what it found once it ends', async () => {
    const { root, cs, records, list } = await storeOf(100);
    const s = await PackStore.open(root);
    expect(await s.has(cs[0]!.digest)).toBe(true);
    writeFileSync(list, lineOf(records[0]!));
    const { release, reached } = holdNext('stat');
    vi.setSystemTime(Date.now() + LIST_CHECK_MS);
    let answered = false;
    const first = s.has(ABSENT).then((held) => {
      answered = true;
      return held;
    });
    await reached;
    await turn();
    // The call that started the look did not wait for it; nor do the next ones.
    expect(answered).toBe(true);
    expect(await first).toBe(false);
    expect(lookOf(s)).toBeDefined();
    expect(await s.has(cs[0]!.digest)).toBe(true);
    expect(await s.put(cs[0]!.digest, cs[0]!.bytes)).toBe(false);
    release();
    await lookOf(s);
    expect(await s.has(cs[0]!.digest)).toBe(false);
    expect(await s.has(cs[1]!.digest)).toBe(true);
    await s.close();
  });

  it('a look that fails does not stop the next', async () => {
    const { root, cs, records, list } = await storeOf(200);
    const s = await PackStore.open(root);
    writeFileSync(list, lineOf(records[1]!));
    io.statThrows = true;
    await startLook(s);
    await lookOf(s);
    expect(io.statThrows).toBe(false);
    expect(await s.has(cs[1]!.digest)).toBe(true);
    expect(lookOf(s)).toBeUndefined();
    await startLook(s);
    await lookOf(s);
    expect(await s.has(cs[1]!.digest)).toBe(false);
    await s.close();
  });

  it('a list that grows is read from where the last read left off; one replaced, from the start', async () => {
    const { root, records, list } = await storeOf(300);
    const [a, b, c] = records as [PackRecord, PackRecord, PackRecord];
    const name = basename(list, '.bad');
    // Lines that name a record's digest at a wrong offset (checked against the index, and
    // not taken), and the first part of a line being appended.
    const wrong = Array.from({ length: 50 }, (_, i) => lineOf(a, 100 + i)).join('');
    const cut = lineOf(b).slice(0, 30);
    writeFileSync(list, wrong + cut);
    const s = await PackStore.open(root);
    expect(io.listReads.reduce((n, r) => n + r.bytes, 0)).toBe(wrong.length + cut.length);
    expect(s.listedBadCount(name)).toBe(0);
    // Unchanged: looked at, not read.
    io.listReads = [];
    await startLook(s);
    await lookOf(s);
    expect(io.listReads).toEqual([]);
    // The cut line ends, and another follows: only those bytes are read.
    appendFileSync(list, lineOf(b).slice(30) + lineOf(c));
    await startLook(s);
    await lookOf(s);
    expect(io.listReads[0]!.at).toBe(wrong.length);
    expect(io.listReads.reduce((n, r) => n + r.bytes, 0)).toBe(lineOf(b).length + lineOf(c).length);
    expect(s.isListedBad(name, b.entry.digest, b.entry.offset)).toBe(true);
    expect(s.isListedBad(name, c.entry.digest, c.entry.offset)).toBe(true);
    expect(s.isListedBad(name, a.entry.digest, a.entry.offset)).toBe(false);
    // Another file in the list's place, longer than what was read: read from the start.
    io.listReads = [];
    writeFileSync(`${list}.new`, lineOf(a) + wrong + wrong);
    renameSync(`${list}.new`, list);
    await startLook(s);
    await lookOf(s);
    expect(io.listReads[0]!.at).toBe(0);
    expect(s.isListedBad(name, a.entry.digest, a.entry.offset)).toBe(true);
    await s.close();
  });

  it.each(['stat', 'open'] as const)(
    'close waits for a look under way (held at the %s of a list), and nothing is opened after it ends',
    async (call) => {
      const { root, records, list } = await storeOf(400);
      // Files left open by tests before (that failed) are not this store's.
      const before = io.openFiles;
      const s = await PackStore.open(root);
      // A list the look reads, each line checked against the pack's index.
      writeFileSync(list, records.map((r) => lineOf(r)).join(''));
      const { release, reached } = holdNext(call);
      const { look } = await startLook(s);
      await reached;
      let looked = false;
      void look.then(() => {
        looked = true;
      });
      io.opened = [];
      let closed = false;
      const closing = s.close().then(() => {
        closed = true;
      });
      // Held until the store is closed, or a while (a close that waits for the look).
      const timer = setTimeout(release, 100);
      void closing.then(() => {
        clearTimeout(timer);
        release();
      });
      await closing;
      expect(closed).toBe(true);
      expect(looked).toBe(true);
      expect(io.openFiles).toBe(before);
      // And no file is opened after `close` ended.
      const seen = io.opened.length;
      await turn();
      await turn();
      expect(io.opened.length).toBe(seen);
      expect(io.openFiles).toBe(before);
    },
  );
});
