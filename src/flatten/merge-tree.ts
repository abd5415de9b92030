/**
 * The merged filesystem tree of a stack of layers, with OCI layer semantics. Pure: it holds
 * whatever directory attributes and leaf objects the caller gives it, and knows nothing of
 * tar, indexes or streams.
 *
 * Paths are cleaned (see `cleanPath`): segments joined by `/`, `''` is the root. Symlinks in
 * the directory part of a path are followed inside the tree, as container runtimes resolve
 * them (umoci and containerd with securejoin): a target starting with `/` starts at the root,
 * `..` stops there, and more than 255 links is a loop. A path's last segment is never
 * followed: an entry or whiteout there replaces or removes the symlink itself. A segment that
 * is missing or not a directory is passed lexically (`missing/../t` is `t`). Resolution is
 * bounded: no link target over `PATH_MAX` is followed, no resolution steps through more than
 * 16,384 segments, and no entry whose path (as written or as resolved) is over `PATH_MAX` is
 * made.
 *
 * @module
 */
import type { FlattenWarningCode, WarningSink } from './warnings.js';

/** A directory of the merged tree. */
export interface DirNode<D, L> {
  type: 'dir';
  attrs: D;
  /** True while the directory exists only because an entry below it needed it. */
  implicit: boolean;
  children: Map<string, TreeNode<D, L>>;
}

/**
 * A non-directory. Several leaves may hold the same `inode` object: that is a hardlink group,
 * and it survives whatever later happens to the path the group was first made under.
 */
export interface LeafNode<L> {
  type: 'leaf';
  inode: L;
}

/** A node of the merged tree. */
export type TreeNode<D, L> = DirNode<D, L> | LeafNode<L>;

/**
 * A merged tree. Apply each layer bottom to top: first its deletions ({@link MergeTree.remove},
 * {@link MergeTree.makeOpaque}), which therefore only ever hide lower layers, then its entries in
 * order ({@link MergeTree.setDirectory}, {@link MergeTree.setLeaf}).
 *
 * @typeParam D - attributes of a directory.
 * @typeParam L - a leaf's inode: compared by identity to find hardlink groups.
 */
export class MergeTree<D, L extends object> {
  /** The root directory (never written out itself). */
  readonly root: DirNode<D, L>;
  /** Nodes below the root. */
  private nodes = 0;
  private readonly warn: WarningSink;
  private readonly linkTarget: (inode: L) => string | undefined;

  /**
   * @param rootAttrs - attributes of the root directory.
   * @param warn - receives `WARN_PARENT_REPLACED`, `WARN_SYMLINK_LOOP` and
   *   `WARN_WHITEOUT_BLOCKED`.
   * @param linkTarget - a leaf's symlink target, or `undefined` for a leaf that is no symlink.
   */
  constructor(
    rootAttrs: D,
    warn: WarningSink = () => {},
    linkTarget: (inode: L) => string | undefined = () => undefined,
  ) {
    this.root = { type: 'dir', attrs: rootAttrs, implicit: true, children: new Map() };
    this.warn = warn;
    this.linkTarget = linkTarget;
  }

  /** Nodes in the tree, the root aside: every path a layer left, and each implicit parent. */
  get size(): number {
    return this.nodes;
  }

  /**
   * The node at a path, without creating anything; symlinks among its parents are followed.
   * @param path - a cleaned path.
   * @returns the node, or `undefined` when the path or one of its parents does not exist or a
   *   parent is not a directory.
   */
  get(path: string): TreeNode<D, L> | undefined {
    if (path === '') return this.root;
    const { parents, name } = split(path);
    return this.resolveDir(parents, path)?.children.get(name);
  }

  /**
   * A whiteout: removes the node at `path` and everything below it. Removing the root empties
   * it. A path that does not exist is not an error.
   * @param path - a cleaned path.
   */
  remove(path: string): void {
    if (path === '') {
      this.empty(this.root);
      return;
    }
    const { parents, name } = split(path);
    const dir = this.resolveDir(parents, path, { whiteout: true });
    if (dir) this.put(dir, name, undefined);
  }

  /**
   * An opaque whiteout: empties the directory at `path` (its attributes stay). Does nothing
   * when there is no directory there.
   * @param path - a cleaned path.
   */
  makeOpaque(path: string): void {
    // The directory is the parent of the `.wh..wh..opq` entry: all of its path is followed.
    const dir = this.resolveDir(path === '' ? [] : path.split('/'), path, { whiteout: true });
    if (dir) this.empty(dir);
  }

  /**
   * A directory entry: over a directory it merges (the new attributes win, the children stay);
   * over anything else it replaces it.
   * @param path - a cleaned path (`''` sets the root's attributes).
   * @param attrs - the directory's attributes.
   * @param implicitAttrs - attributes of any parent that has to be created.
   */
  setDirectory(path: string, attrs: D, implicitAttrs: D): void {
    if (path === '') {
      this.root.attrs = attrs;
      this.root.implicit = false;
      return;
    }
    const at = this.parentOf(path, implicitAttrs);
    if (!at) return;
    const { parent, name } = at;
    const existing = parent.children.get(name);
    if (existing?.type === 'dir') {
      existing.attrs = attrs;
      existing.implicit = false;
    } else {
      this.put(parent, name, { type: 'dir', attrs, implicit: false, children: new Map() });
    }
  }

  /**
   * A non-directory entry: replaces whatever is at `path` (a directory's children go with it).
   * Hardlink the leaf to another by passing the same `inode` object.
   * @param path - a cleaned path, not `''`.
   * @param inode - the leaf's inode.
   * @param implicitAttrs - attributes of any parent that has to be created.
   */
  setLeaf(path: string, inode: L, implicitAttrs: D): void {
    const at = this.parentOf(path, implicitAttrs);
    if (at) this.put(at.parent, at.name, { type: 'leaf', inode });
  }

  /** Sets (or, given `undefined`, deletes) the child `name` of `dir`, counting nodes. */
  private put(dir: DirNode<D, L>, name: string, node: TreeNode<D, L> | undefined): void {
    const old = dir.children.get(name);
    if (old) this.nodes -= count(old);
    if (node) {
      dir.children.set(name, node);
      this.nodes++;
    } else {
      dir.children.delete(name);
    }
  }

  /** Removes every child of `dir`, counting nodes. */
  private empty(dir: DirNode<D, L>): void {
    for (const child of dir.children.values()) this.nodes -= count(child);
    dir.children.clear();
  }

  /**
   * Every node but the root, parents before children, siblings in code-unit order of their
   * names. Iterative, so that deep trees cannot overflow the call stack.
   * @returns `[path, node]` pairs; a directory's path has no trailing `/`.
   */
  *walk(): Generator<[string, TreeNode<D, L>]> {
    const stack: Array<{ prefix: string; dir: DirNode<D, L>; names: string[]; next: number }> = [
      { prefix: '', dir: this.root, names: sortedNames(this.root), next: 0 },
    ];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next >= top.names.length) {
        stack.pop();
        continue;
      }
      const name = top.names[top.next++]!;
      const node = top.dir.children.get(name);
      if (!node) continue;
      const path = top.prefix + name;
      yield [path, node];
      if (node.type === 'dir') {
        stack.push({ prefix: `${path}/`, dir: node, names: sortedNames(node), next: 0 });
      }
    }
  }

  /**
   * The directory that holds `path`, creating parents as needed (non-directories in the way
   * become implicit directories); `undefined` when the path cannot be resolved (a symlink
   * loop, a path over `PATH_MAX`).
   */
  private parentOf(
    path: string,
    implicitAttrs: D,
  ): { parent: DirNode<D, L>; name: string } | undefined {
    // Checked before anything is walked: a path this long is refused whatever it resolves to.
    if (path.length > PATH_MAX / 3 && byteLength(path) > PATH_MAX) {
      this.warn({
        code: 'WARN_PATH_TOO_LONG',
        path: path.slice(0, 256),
        message: `a path of over ${PATH_MAX} bytes is left out`,
      });
      return undefined;
    }
    const { parents, name } = split(path);
    const parent = this.resolveDir(parents, path, { create: implicitAttrs, last: name });
    return parent && { parent, name };
  }

  /**
   * Follows directory segments from the root as a runtime does (securejoin): through
   * symlinks (see the module notes), and lexically past a segment that is missing or not a
   * directory, so that `missing/../t` is `t`. The cost is bounded: no symlink target over
   * `PATH_MAX` is followed, and no resolution takes more than {@link MAX_STEPS} segments.
   * @param names - the segments, all of them directories (or symlinks to some).
   * @param path - the path they are part of, for warnings.
   * @param use - `create`: attributes of the directories to make where they are missing (a
   *   file in the way is replaced), and `last`, the name that will go in the directory (the
   *   whole path may not exceed `PATH_MAX`); `whiteout`: a whiteout looks, and says when a
   *   file in the way stops it. With neither, such a path resolves to nothing, silently.
   * @returns the directory, or `undefined`.
   */
  private resolveDir(
    names: readonly string[],
    path: string,
    use: { create?: D; last?: string; whiteout?: boolean } = {},
  ): DirNode<D, L> | undefined {
    const loud = use.create !== undefined || use.whiteout === true;
    const give = (code: FlattenWarningCode, message: string): undefined => {
      if (loud) this.warn({ code, path, message });
      return undefined;
    };
    const dirs: Array<DirNode<D, L>> = [this.root];
    /** The names of `dirs` after the root, and the bytes of their paths (with a `/` each). */
    const at: string[] = [];
    const bytes: number[] = [0];
    /** Segments past the last directory that exists, taken lexically. */
    const pending: string[] = [];
    const cursors: Array<{ parts: readonly string[]; next: number }> = [{ parts: names, next: 0 }];
    let links = 0;
    let steps = 0;
    while (cursors.length > 0) {
      const top = cursors[cursors.length - 1]!;
      if (top.next >= top.parts.length) {
        cursors.pop();
        continue;
      }
      const name = top.parts[top.next++]!;
      if (++steps > MAX_STEPS) {
        return give(
          'WARN_SYMLINK_LOOP',
          `resolving it takes over ${MAX_STEPS} steps (symbolic links in a loop, or too many); left out`,
        );
      }
      if (name === '' || name === '.') continue;
      if (name === '..') {
        if (pending.length > 0) pending.pop();
        else if (dirs.length > 1) {
          dirs.pop();
          at.pop();
          bytes.pop();
        }
        continue;
      }
      if (pending.length > 0) {
        pending.push(name);
        continue;
      }
      const child = dirs[dirs.length - 1]!.children.get(name);
      if (child?.type === 'leaf') {
        const parts = this.linkParts(child.inode);
        if (parts) {
          if (++links > MAX_LINKS) {
            return give('WARN_SYMLINK_LOOP', `more than ${MAX_LINKS} symbolic links; left out`);
          }
          if (parts === TOO_LONG) {
            return give(
              'WARN_PATH_TOO_LONG',
              `a symbolic link on the way has a target over ${PATH_MAX} bytes; left out`,
            );
          }
          if (parts.absolute) {
            dirs.length = 1;
            at.length = 0;
            bytes.length = 1;
          }
          cursors.push({ parts: parts.segments, next: 0 });
          continue;
        }
      }
      if (child?.type === 'dir') {
        dirs.push(child);
        at.push(name);
        bytes.push(bytes[bytes.length - 1]! + this.nameBytes(child, name) + 1);
        continue;
      }
      pending.push(name);
    }
    const dir = dirs[dirs.length - 1]!;
    if (use.create !== undefined) {
      let total = bytes[bytes.length - 1]! + byteLength(use.last ?? '');
      for (const name of pending) {
        if (total > PATH_MAX) break;
        total += byteLength(name) + 1;
      }
      if (total > PATH_MAX) {
        return give('WARN_PATH_TOO_LONG', `its resolved path is over ${PATH_MAX} bytes; left out`);
      }
    }
    if (pending.length === 0) return dir;
    const inWay = dir.children.get(pending[0]!);
    const inWayPath = [...at, pending[0]!].join('/');
    if (use.create === undefined) {
      if (inWay && use.whiteout) {
        this.warn({
          code: 'WARN_WHITEOUT_BLOCKED',
          path,
          message: `${JSON.stringify(inWayPath)} is not a directory: the whiteout deletes nothing`,
        });
      }
      return undefined;
    }
    if (inWay) {
      this.warn({
        code: 'WARN_PARENT_REPLACED',
        path: inWayPath,
        message: `a non-directory was replaced by a directory to hold ${JSON.stringify(path)}`,
      });
    }
    let made = dir;
    for (const name of pending) {
      const next: DirNode<D, L> = {
        type: 'dir',
        attrs: use.create,
        implicit: true,
        children: new Map(),
      };
      this.put(made, name, next);
      made = next;
    }
    return made;
  }

  /**
   * A symlink leaf's target as segments to step through (`''` and `.` dropped, so padding
   * costs nothing), once per inode; `undefined` for another leaf.
   */
  private linkParts(inode: L): LinkParts | typeof TOO_LONG | undefined {
    const cached = this.splits.get(inode);
    if (cached) return cached;
    const target = this.linkTarget(inode);
    if (target === undefined) return undefined;
    const parts =
      byteLength(target) >= PATH_MAX
        ? TOO_LONG
        : {
            absolute: target.startsWith('/'),
            segments: target.split('/').filter((s) => s !== '' && s !== '.'),
          };
    this.splits.set(inode, parts);
    return parts;
  }

  private readonly splits = new WeakMap<L, LinkParts | typeof TOO_LONG>();

  /** The UTF-8 length of a directory's name, worked out once per directory. */
  private nameBytes(dir: DirNode<D, L>, name: string): number {
    let n = this.dirNameBytes.get(dir);
    if (n === undefined) {
      n = byteLength(name);
      this.dirNameBytes.set(dir, n);
    }
    return n;
  }

  private readonly dirNameBytes = new WeakMap<DirNode<D, L>, number>();
}

/** A symlink target, split once. */
interface LinkParts {
  absolute: boolean;
  segments: readonly string[];
}

/** Marks a symlink whose target is too long to follow. */
const TOO_LONG = Symbol('too long');

/** Linux's longest path, in bytes. */
const PATH_MAX = 4096;

/** Segments one resolution may step through (a path of `PATH_MAX` has at most 2,048). */
const MAX_STEPS = 16384;

const UTF8 = new TextEncoder();

/** Bytes of a string in UTF-8. */
function byteLength(text: string): number {
  return /^[\x00-\x7f]*$/.test(text) ? text.length : UTF8.encode(text).length;
}

/** Symbolic links followed in one path at most, as Linux's `MAXSYMLINKS` (and securejoin). */
const MAX_LINKS = 255;

/** A non-root path's parent segments and last segment. */
function split(path: string): { parents: string[]; name: string } {
  const parents = path.split('/');
  const name = parents.pop()!;
  return { parents, name };
}

function sortedNames(dir: DirNode<unknown, object>): string[] {
  return [...dir.children.keys()].sort();
}

/** Nodes in the subtree of `node`, itself included. */
function count<D, L>(node: TreeNode<D, L>): number {
  let n = 0;
  const stack: TreeNode<D, L>[] = [node];
  for (let top = stack.pop(); top; top = stack.pop()) {
    n++;
    if (top.type === 'dir') for (const child of top.children.values()) stack.push(child);
  }
  return n;
}
