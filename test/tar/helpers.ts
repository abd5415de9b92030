import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { TarEntry, TarToken } from '../../src/tar/index.js';
import { createTarTokenizer, type TarTokenizerOptions } from '../../src/tar/index.js';
import { concat as concatBytes } from '../helpers/bytes.js';
import { readAll } from '../helpers/streams.js';

export const GNU_TAR = '/usr/bin/tar';
export const BSDTAR = '/usr/bin/bsdtar';
export const hasBsdtar = (): boolean => existsSync(BSDTAR);

/** Splits `bytes` into pieces of the given sizes (cycled), the last piece taking the rest. */
export function split(bytes: Uint8Array, sizes: number[] | number): Uint8Array[] {
  const list = typeof sizes === 'number' ? [sizes] : sizes.length === 0 ? [bytes.length] : sizes;
  const out: Uint8Array[] = [];
  let o = 0;
  let k = 0;
  while (o < bytes.length) {
    const n = Math.max(1, list[k++ % list.length]!);
    out.push(bytes.subarray(o, o + n));
    o += n;
  }
  return out;
}

/** Runs pieces through the tokenizer stream and collects every token. */
export async function tokenizePieces(
  pieces: Uint8Array[],
  options?: TarTokenizerOptions,
): Promise<TarToken[]> {
  let i = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < pieces.length) controller.enqueue(pieces[i++]!);
      else controller.close();
    },
  });
  return readAll(source.pipeThrough(createTarTokenizer(options)));
}

export function tokenize(
  bytes: Uint8Array,
  sizes: number[] | number = bytes.length || 1,
  options?: TarTokenizerOptions,
): Promise<TarToken[]> {
  return tokenizePieces(split(bytes, sizes), options);
}

export { concatBytes };

/** Concatenates the bytes of every token, which must give back the input. */
export function reassemble(tokens: TarToken[]): Uint8Array {
  return concatBytes(
    tokens.map((t) =>
      t.type === 'header'
        ? t.raw
        : t.type === 'end'
          ? t.padding
          : (t as { bytes: Uint8Array }).bytes,
    ),
  );
}

export interface EntrySummary {
  entry: TarEntry;
  raw: Uint8Array;
  offset: number;
  body: Uint8Array;
  padding: Uint8Array;
}

/** Groups tokens into entries, checking the token grammar on the way. */
export function summarize(tokens: TarToken[]): { entries: EntrySummary[]; tail: Uint8Array } {
  const entries: EntrySummary[] = [];
  const tail: Uint8Array[] = [];
  let body: Uint8Array[] | undefined;
  let current: Omit<EntrySummary, 'body' | 'padding'> | undefined;
  for (const t of tokens) {
    if (t.type === 'header') {
      if (current || tail.length) throw new Error('header out of place');
      current = { entry: t.entry, raw: t.raw, offset: t.offset };
      body = [];
    } else if (t.type === 'body') {
      if (!current || !body) throw new Error('body out of place');
      if (t.bytes.length === 0) throw new Error('empty body token');
      body.push(t.bytes);
    } else if (t.type === 'end') {
      if (!current || !body) throw new Error('end out of place');
      const b = concatBytes(body);
      if (b.length !== current.entry.bodySize) throw new Error('body size mismatch');
      entries.push({ ...current, body: b, padding: t.padding });
      current = undefined;
      body = undefined;
    } else {
      if (current) throw new Error('tail inside an entry');
      tail.push(t.bytes);
    }
  }
  if (current) throw new Error('unfinished entry');
  return { entries, tail: concatBytes(tail) };
}

export interface PyMember {
  name: string;
  type: string;
  size: number;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  sparse: Array<[number, number]> | null;
  pax: Record<string, string>;
}

const PY_DUMP = `
import json, sys, tarfile
res = []
for f in sys.argv[1:]:
  out = []
  res.append(out)
  with tarfile.open(f) as t:
    for m in t:
        out.append(dict(name=m.name, type=m.type.decode('latin-1'), size=m.size, linkname=m.linkname,
            mode=m.mode, uid=m.uid, gid=m.gid, mtime=m.mtime, uname=m.uname, gname=m.gname,
            devmajor=m.devmajor, devminor=m.devminor, sparse=m.sparse, pax=m.pax_headers))
print(json.dumps(res))
`;

/** Independent reference: the members Python's tarfile reads from each tar file. */
export function pythonMembers(files: string[]): PyMember[][] {
  return JSON.parse(
    execFileSync('python3', ['-c', PY_DUMP, ...files], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    }),
  );
}

/** Runs a Python script (with argv) and fails loudly on error. */
export function python(script: string, ...args: string[]): string {
  return execFileSync('python3', ['-c', script, ...args], { encoding: 'utf8' });
}

/** Names GNU tar lists for a tar file (literal quoting). */
export function gnuTarNames(file: string): string[] {
  const r = spawnSync(GNU_TAR, ['--quoting-style=literal', '-tf', file], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l !== '');
}

export function readBytes(file: string): Uint8Array {
  return new Uint8Array(readFileSync(file));
}

/** True when two byte arrays are equal (fast; vitest's deep equality on big arrays is slow). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(
    Buffer.from(b.buffer, b.byteOffset, b.length),
  );
}

function digest(bytes: Uint8Array): string {
  return `${bytes.length}:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A summary with every byte array replaced by its length and SHA-256, cheap to compare. */
export function fingerprint(tokens: TarToken[]) {
  const { entries, tail } = summarize(tokens);
  return {
    entries: entries.map((e) => ({
      entry: e.entry,
      offset: e.offset,
      raw: digest(e.raw),
      body: digest(e.body),
      padding: digest(e.padding),
    })),
    tail: digest(tail),
  };
}

/** Writes `value` (text or bytes, NUL-padded) into a header field. */
export function setField(
  block: Uint8Array,
  start: number,
  len: number,
  value: string | Uint8Array | number[],
): Uint8Array {
  const bytes =
    typeof value === 'string'
      ? Uint8Array.from(value, (c) => c.charCodeAt(0))
      : Uint8Array.from(value);
  block.fill(0, start, start + len);
  block.set(bytes.subarray(0, len), start);
  return block;
}

/** Recomputes a header block's checksum (unsigned sum, GNU layout). */
export function fixChecksum(block: Uint8Array): Uint8Array {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += block[i]!;
  setField(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/**
 * A raw header block with the given fields (octal numbers, ustar magic unless told),
 * checksummed.
 */
export function rawHeader(f: {
  name?: string;
  typeflag?: string;
  size?: number | number[];
  mode?: string;
  magic?: 'ustar' | 'gnu' | 'v7';
  linkname?: string;
}): Uint8Array {
  const b = new Uint8Array(512);
  setField(b, 0, 100, f.name ?? 'file');
  setField(b, 100, 8, f.mode ?? '0000644\0');
  setField(b, 108, 8, '0000000\0');
  setField(b, 116, 8, '0000000\0');
  const size = f.size ?? 0;
  setField(b, 124, 12, typeof size === 'number' ? `${size.toString(8).padStart(11, '0')}\0` : size);
  setField(b, 136, 12, '14000000000\0');
  setField(b, 156, 1, f.typeflag ?? '0');
  setField(b, 157, 100, f.linkname ?? '');
  const magic = f.magic ?? 'ustar';
  if (magic === 'ustar') setField(b, 257, 8, 'ustar\x0000');
  if (magic === 'gnu') setField(b, 257, 8, 'ustar  \0');
  return fixChecksum(b);
}

/** A complete extension or file entry: header, data, padding. */
export function rawEntry(
  header: Parameters<typeof rawHeader>[0],
  data: string | Uint8Array = '',
): Uint8Array {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const h = rawHeader({ size: bytes.length, ...header });
  const pad = (512 - (bytes.length % 512)) % 512;
  return concatBytes([h, bytes, new Uint8Array(pad)]);
}

export const END = new Uint8Array(1024);
