/**
 * The merged filesystem tree of a stack of layers, with OCI layer semantics. Pure: it holds
 * whatever directory attributes and leaf objects the caller gives it, and knows nothing of
 * tar, indexes or streams.
 *
 * Paths are cleaned (see `cleanPath`): segments joined by `/`, `''` is the root. Symlinks are
 * never followed; a path names a node by its segments alone.
 *
 * @module
 */
import type { WarningSink } from './warnings.js';

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
  private readonly warn: WarningSink;

  /**
   * @param rootAttrs - attributes of the root directory.
   * @param warn - receives `WARN_PARENT_REPLACED` and `WARN_WHITEOUT_BLOCKED`.
   */
  constructor(rootAttrs: D, warn: WarningSink = () => {}) {
    this.root = { type: 'dir', attrs: rootAttrs, implicit: true, children: new Map() };
    this.warn = warn;
  }

  /**
   * The node at a path, without creating anything.
   * @param path - a cleaned path.
   * @returns the node, or `undefined` when the path or one of its parents does not exist or a
   *   parent is not a directory.
   */
  get(path: string): TreeNode<D, L> | undefined {
    let node: TreeNode<D, L> = this.root;
    if (path === '') return node;
    for (const name of path.split('/')) {
      if (node.type !== 'dir') return undefined;
      const child: TreeNode<D, L> | undefined = node.children.get(name);
      if (!child) return undefined;
      node = child;
    }
    return node;
  }

  /**
   * A whiteout: removes the node at `path` and everything below it. Removing the root empties
   * it. A path that does not exist is not an error.
   * @param path - a cleaned path.
   */
  remove(path: string): void {
    if (path === '') {
      this.root.children.clear();
      return;
    }
    const cut = path.lastIndexOf('/');
    this.whiteoutDir(cut < 0 ? '' : path.slice(0, cut), path)?.children.delete(path.slice(cut + 1));
  }

  /**
   * An opaque whiteout: empties the directory at `path` (its attributes stay). Does nothing
   * when there is no directory there.
   * @param path - a cleaned path.
   */
  makeOpaque(path: string): void {
    this.whiteoutDir(path, path)?.children.clear();
  }

  /**
   * The directory a whiteout acts in, or `undefined`. A non-directory on the way (a symbolic
   * link, which is not followed) is worth a warning: a runtime would have followed a link to
   * a directory and deleted there.
   */
  private whiteoutDir(dirPath: string, path: string): DirNode<D, L> | undefined {
    let node: DirNode<D, L> = this.root;
    if (dirPath === '') return node;
    const names = dirPath.split('/');
    for (let i = 0; i < names.length; i++) {
      const child: TreeNode<D, L> | undefined = node.children.get(names[i]!);
      if (!child) return undefined;
      if (child.type !== 'dir') {
        this.warn({
          code: 'WARN_WHITEOUT_BLOCKED',
          path,
          message: `${JSON.stringify(names.slice(0, i + 1).join('/'))} is not a directory (symbolic links are not followed): the whiteout deletes nothing`,
        });
        return undefined;
      }
      node = child;
    }
    return node;
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
    const { parent, name } = this.parentOf(path, implicitAttrs);
    const existing = parent.children.get(name);
    if (existing?.type === 'dir') {
      existing.attrs = attrs;
      existing.implicit = false;
    } else {
      parent.children.set(name, { type: 'dir', attrs, implicit: false, children: new Map() });
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
    const { parent, name } = this.parentOf(path, implicitAttrs);
    parent.children.set(name, { type: 'leaf', inode });
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

  /** The directory that holds `path`, creating parents as needed (non-directories in the way become implicit directories). */
  private parentOf(path: string, implicitAttrs: D): { parent: DirNode<D, L>; name: string } {
    const names = path.split('/');
    let dir = this.root;
    for (let i = 0; i < names.length - 1; i++) {
      const name = names[i]!;
      let child = dir.children.get(name);
      if (child?.type !== 'dir') {
        if (child) {
          this.warn({
            code: 'WARN_PARENT_REPLACED',
            path: names.slice(0, i + 1).join('/'),
            message: `a non-directory was replaced by a directory to hold ${JSON.stringify(path)}`,
          });
        }
        child = { type: 'dir', attrs: implicitAttrs, implicit: true, children: new Map() };
        dir.children.set(name, child);
      }
      dir = child;
    }
    return { parent: dir, name: names[names.length - 1]! };
  }
}

function sortedNames(dir: DirNode<unknown, object>): string[] {
  return [...dir.children.keys()].sort();
}
