/**
 * The order rules of an index, as a small state machine that checks one record at a time.
 * Pure; the decoder stream runs every record through it, so consumers of decoded records
 * can rely on the structure (and on bodies adding up to their declared sizes).
 *
 * @module
 */
import { RecordFormatError } from '../errors.js';
import { type Compression, type IndexRecord, isKnownVersion, unknownVersion } from './records.js';

/** Padding after a body of `size` bytes, up to the next 512-byte boundary. */
export function paddingLength(size: number): number {
  return (512 - (size % 512)) % 512;
}

/** Checks that records come in the order `docs/FORMAT.md` specifies, with consistent totals. */
export class IndexGrammar {
  private state: 'start' | 'top' | 'body' | 'padded' | 'tail' | 'done' = 'start';
  private bodyLeft = 0;
  private bodySize = 0;
  private entries = 0;
  private deletions = 0;
  private chunks = 0;
  private dataBytes = 0;
  /** Bytes of the tar described so far: headers, bodies, padding, tail. */
  private tarBytes = 0;
  private compression: Compression = 'none';
  /** The index's format version, once its layer record has been accepted. */
  version: number | undefined;

  /** True once the end record has been accepted. */
  get complete(): boolean {
    return this.state === 'done';
  }

  /**
   * Accepts the next record or throws.
   * @param r - the record.
   * @param offset - its byte offset in the index, for error messages.
   * @throws {@link RecordFormatError} when the record is out of place or inconsistent.
   */
  accept(r: IndexRecord, offset: number): void {
    const fail = (msg: string): never => {
      throw new RecordFormatError(msg, offset);
    };
    if (this.state === 'done') fail('record after the end record');
    if (this.state === 'start') {
      if (r.type !== 'layer') {
        throw new RecordFormatError(`index must start with a layer record, not ${r.type}`, offset);
      }
      if (!isKnownVersion(r.version)) fail(unknownVersion('index format', r.version));
      this.version = r.version;
      this.compression = r.compression;
      this.state = 'top';
      return;
    }
    if (r.type === 'chunks') {
      if (this.state !== 'body' && this.state !== 'tail') fail('chunks record outside a body');
      for (const ref of r.refs) {
        if (this.state === 'body') {
          if (ref.length > this.bodyLeft) fail('chunks add up to more than the entry size');
          this.bodyLeft -= ref.length;
        }
        this.dataBytes += ref.length;
        this.tarBytes += ref.length;
      }
      this.chunks += r.refs.length;
      return;
    }
    if (r.type === 'padding') {
      if (this.state !== 'body' || this.bodyLeft !== 0) fail('padding record out of place');
      if (r.bytes.length !== paddingLength(this.bodySize))
        fail('padding record has the wrong length');
      if (r.bytes.every((b) => b === 0)) fail('padding record is all zeros');
      this.state = 'padded';
      return;
    }
    if (this.state === 'body' && this.bodyLeft !== 0) {
      fail(`body ends ${this.bodyLeft} bytes short of its entry size`);
    }
    if (this.state === 'tail' && r.type !== 'end') fail(`${r.type} record after the tail`);
    switch (r.type) {
      case 'layer':
        throw new RecordFormatError('second layer record', offset);
      case 'entry':
      case 'delete':
        if (r.type === 'entry') this.entries++;
        else this.deletions++;
        this.state = 'body';
        this.bodySize = r.entry.size;
        this.bodyLeft = r.entry.size;
        this.tarBytes += r.raw.length + paddingLength(r.entry.size);
        return;
      case 'tail':
        this.state = 'tail';
        return;
      case 'end':
        if (r.entries !== this.entries)
          fail(`end record counts ${r.entries} entries, index has ${this.entries}`);
        if (r.deletions !== this.deletions) {
          fail(`end record counts ${r.deletions} deletions, index has ${this.deletions}`);
        }
        if (r.chunks !== this.chunks)
          fail(`end record counts ${r.chunks} chunks, index has ${this.chunks}`);
        if (r.dataBytes !== this.dataBytes) {
          fail(`end record counts ${r.dataBytes} data bytes, index has ${this.dataBytes}`);
        }
        // The blob is described exactly when the layer record says it was compressed.
        if (
          (r.blob?.compression ?? 'none') !== this.compression ||
          r.blob?.compression === 'none'
        ) {
          fail(
            `end record ${r.blob ? `describes a ${r.blob.compression} blob` : 'describes no blob'}, layer record says ${this.compression}`,
          );
        }
        if (r.size !== this.tarBytes)
          fail(`end record gives a tar size of ${r.size} bytes, index describes ${this.tarBytes}`);
        this.state = 'done';
        return;
    }
  }
}
