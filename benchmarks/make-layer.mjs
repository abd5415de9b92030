// @ts-check
/**
 * Writes a deterministic synthetic OCI-style layer tar of about `sizeMiB` MiB, streaming (never
 * more than one file body in memory): many small compressible text files, a hundred
 * medium random files and one large random file. Random bytes come from AES-256-CTR
 * keystreams (fast, deterministic, incompressible), text from a fixed word list.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeHeader } from 'layerdiff';

const WORDS = 'the layer chunk store index diff tar file data record digest stream pull push'.split(
  ' ',
);

/** @param {string} seed @param {number} n */
function randomBytes(seed, n) {
  const key = createHash('sha256').update(seed).digest();
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return new Uint8Array(c.update(Buffer.alloc(n)));
}

/** @param {number} seed @param {number} n */
function text(seed, n) {
  let x = seed >>> 0 || 1;
  let s = '';
  while (s.length < n) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    s += `${WORDS[(x >>> 0) % WORDS.length]}${x & 7 ? ' ' : '\n'}`;
  }
  return new TextEncoder().encode(s.slice(0, n));
}

/**
 * A tar being written: `put` appends bytes, `file` a regular file (header, body, padding),
 * `size` tells the bytes written so far, `close` ends the file and returns them.
 * @param {string} path
 */
async function tarWriter(path) {
  const fh = await open(path, 'w');
  let written = 0;
  /** @param {Uint8Array} b */
  const put = async (b) => {
    await fh.write(b);
    written += b.length;
  };
  /** @param {string} name @param {Uint8Array} body */
  const file = async (name, body) => {
    await put(encodeHeader({ path: name, size: body.length, mode: 0o644, mtime: 1700000000 }));
    await put(body);
    const pad = (512 - (body.length % 512)) % 512;
    if (pad) await put(new Uint8Array(pad));
  };
  const close = async () => {
    await fh.close();
    return written;
  };
  return { put, file, size: () => written, close };
}

/**
 * @param {string} path - where to write the tar.
 * @param {number} sizeMiB - approximate size.
 * @returns {Promise<number>} bytes written.
 */
export async function makeLayer(path, sizeMiB) {
  const { put, file, size, close } = await tarWriter(path);
  const budget = sizeMiB * 1024 * 1024;
  await put(encodeHeader({ path: 'usr/', kind: 'directory', mode: 0o755, mtime: 1700000000 }));
  for (let i = 0; i < 2000; i++)
    await file(`usr/share/doc/f${i}.txt`, text(i + 1, 1024 + ((i * 7919) % 63000)));
  for (let i = 0; i < 100; i++) {
    await file(`usr/lib/lib${i}.so`, randomBytes(`lib${i}`, (1 + (i % 8)) * 1024 * 1024));
  }
  const rest = Math.max(1024 * 1024, budget - size());
  await put(encodeHeader({ path: 'opt/big.bin', size: rest, mode: 0o644, mtime: 1700000000 }));
  const key = createHash('sha256').update('big').digest();
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zero = Buffer.alloc(4 * 1024 * 1024);
  for (let left = rest; left > 0; left -= zero.length) {
    await put(new Uint8Array(c.update(left >= zero.length ? zero : zero.subarray(0, left))));
  }
  const pad = (512 - (rest % 512)) % 512;
  await put(new Uint8Array(pad + 1024));
  return close();
}

/**
 * Writes a deterministic layer of many small files, as a package-heavy layer has: `files` text
 * files of 1 to 8 KiB, fifty to a directory. What it measures is the work per entry (headers,
 * records, one chunk each) and the memory that grows with the entry count.
 * @param {string} path - where to write the tar.
 * @param {number} files - how many files.
 * @returns {Promise<number>} bytes written.
 */
export async function makeSmallFilesLayer(path, files) {
  const { put, file, close } = await tarWriter(path);
  for (let i = 0; i < files; i++) {
    const dir = `usr/share/doc/pkg${Math.floor(i / 50)}/`;
    if (i % 50 === 0) {
      await put(encodeHeader({ path: dir, kind: 'directory', mode: 0o755, mtime: 1700000000 }));
    }
    await file(`${dir}f${i}.txt`, text(i + 1, 1024 + ((i * 7919) % 7168)));
  }
  await put(new Uint8Array(1024));
  return close();
}

/**
 * The benchmark layer of `sizeMiB` in `dir` (`layer-<sizeMiB>.tar`), generated if missing.
 * @param {string} dir - the benchmarks' directory.
 * @param {number} sizeMiB - approximate size.
 * @returns {Promise<string>} its path.
 */
export async function benchLayer(dir, sizeMiB) {
  const tar = join(dir, `layer-${sizeMiB}.tar`);
  if (!existsSync(tar)) {
    console.error(`generating ${tar} ...`);
    await makeLayer(`${tar}.part`, sizeMiB);
    await rename(`${tar}.part`, tar);
  }
  return tar;
}
