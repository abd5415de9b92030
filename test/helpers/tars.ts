/** Small tars of regular files, built with our own header encoder, for tests. */
import { encodeHeader, paddingSize } from '../../src/tar/header.js';
import { concat } from './bytes.js';

/** A ustar tar of regular files (mode 0644, mtime 1), with the two end blocks. */
export function tarOf(files: Array<[string, Uint8Array]>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [path, body] of files) {
    parts.push(encodeHeader({ path, size: body.length, mode: 0o644, mtime: { sec: 1, nsec: 0 } }));
    parts.push(body, new Uint8Array(paddingSize(body.length)));
  }
  parts.push(new Uint8Array(1024));
  return concat(parts);
}
