/**
 * The lockstep driver with stream promises of another realm, as when the library runs in a vm
 * context (Jest's node environment, vitest's vm pools) while the web stream classes are the
 * host's. It once raced a read against a ready value, which such a promise always loses: the
 * loop never waited again, and spun forever. Run in a child process with a time limit, since a
 * spinning microtask loop would stop this process's own timers too.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT, requireDist } from '../cli/run.js';

const SCRIPT = `
import vm from 'node:vm';
import { gzipSync, deflateRawSync } from 'node:zlib';
const Foreign = vm.runInNewContext('Promise');
const Real = globalThis.DecompressionStream;
// A DecompressionStream whose reads answer with promises of another realm.
globalThis.DecompressionStream = class {
  constructor(format) {
    const t = new Real(format);
    this.writable = t.writable;
    const readable = t.readable;
    this.readable = {
      getReader() {
        const r = readable.getReader();
        return {
          read: () => Foreign.resolve(r.read()),
          cancel: (why) => Foreign.resolve(r.cancel(why)),
          releaseLock: () => r.releaseLock(),
        };
      },
    };
  }
};
const L = await import(process.argv[1]);
const text = new TextEncoder().encode('hello world\\n'.repeat(100000));
const inflated = await L.webChunkCodec().decode({ coding: 'deflate-raw', bytes: deflateRawSync(text) });
const gunzipped = await L.readBytes(L.webGunzip(L.streamOfBytes(gzipSync(text))));
console.log(inflated.length, gunzipped.length);
`;

describe('pullThrough with promises of another realm', () => {
  it('inflates and gunzips, neither spinning nor growing', () => {
    requireDist();
    const entry = pathToFileURL(join(ROOT, 'dist/index.js')).href;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT, entry], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.stdout.trim()).toBe('1200000 1200000');
  });
});
