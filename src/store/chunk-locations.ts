/**
 * Where the chunks a pack store holds are, by a dense number: pack, record offset and stored
 * size. Pure; kept in pages of 4,096 (16 bytes a chunk), so that a store of many chunks never
 * copies them to grow: arrays that doubled held three times that while they grew (for a store
 * of 2 million chunks, 96 MB at once instead of 32 as its pack indexes load, by arithmetic).
 *
 * @module
 */

const PAGE_BITS = 12;
const PAGE = 1 << PAGE_BITS;

/** Chunk locations, numbered from 0 in the order they are added. */
export class ChunkLocations {
  /** Pack number and stored size, two words a chunk. */
  private readonly packAndSize: Uint32Array[] = [];
  /** Record offsets (up to 2^53). */
  private readonly offsets: Float64Array[] = [];
  private count = 0;

  /**
   * Adds a location.
   * @returns its number.
   */
  add(pack: number, offset: number, stored: number): number {
    const id = this.count++;
    const page = id >>> PAGE_BITS;
    if (page === this.offsets.length) {
      this.packAndSize.push(new Uint32Array(2 * PAGE));
      this.offsets.push(new Float64Array(PAGE));
    }
    const i = id & (PAGE - 1);
    this.packAndSize[page]![2 * i] = pack;
    this.packAndSize[page]![2 * i + 1] = stored;
    this.offsets[page]![i] = offset;
    return id;
  }

  /** The pack number of location `id`. */
  pack(id: number): number {
    return this.packAndSize[id >>> PAGE_BITS]![2 * (id & (PAGE - 1))]!;
  }

  /** The stored size of location `id`. */
  stored(id: number): number {
    return this.packAndSize[id >>> PAGE_BITS]![2 * (id & (PAGE - 1)) + 1]!;
  }

  /** The record offset of location `id`. */
  offset(id: number): number {
    return this.offsets[id >>> PAGE_BITS]![id & (PAGE - 1)]!;
  }
}
