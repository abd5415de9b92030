/**
 * A map keyed by normalized relative paths (`a/b/c`, `''` for the root) whose whole subtree
 * under a path can be dropped at once: what an extraction knows about a directory it removes
 * goes in one step, not by scanning everything it knows. Pure.
 *
 * @module
 */

interface Node<V> {
  children?: Map<string, Node<V>>;
  value?: V;
  set: boolean;
}

/** A map from normalized relative paths to values, with subtree removal. */
export class PathTrie<V> {
  private root: Node<V> = { set: false };

  /** Sets the value of a path. */
  set(path: string, value: V): void {
    let node = this.root;
    for (const part of parts(path)) {
      node.children ??= new Map();
      let next = node.children.get(part);
      if (!next) {
        next = { set: false };
        node.children.set(part, next);
      }
      node = next;
    }
    node.value = value;
    node.set = true;
  }

  /** Tells whether a path has a value. */
  has(path: string): boolean {
    return this.find(path)?.set === true;
  }

  /** The value of a path, if it has one. */
  get(path: string): V | undefined {
    const node = this.find(path);
    return node?.set ? node.value : undefined;
  }

  /** Removes a path's value (its subtree stays). */
  delete(path: string): void {
    const node = this.find(path);
    if (!node) return;
    node.set = false;
    node.value = undefined;
  }

  /** Removes a path's value and every value below it. */
  deleteTree(path: string): void {
    if (path === '') {
      this.root = { set: false };
      return;
    }
    const all = parts(path);
    const last = all.pop()!;
    let node: Node<V> | undefined = this.root;
    for (const part of all) {
      node = node.children?.get(part);
      if (!node) return;
    }
    node.children?.delete(last);
  }

  /**
   * Whether `path` and every path above it (the root left out) has a value that passes `test`.
   * True for the root itself.
   */
  everyAlong(path: string, test: (value: V) => boolean): boolean {
    let node: Node<V> | undefined = this.root;
    for (const part of parts(path)) {
      node = node.children?.get(part);
      if (!node?.set || !test(node.value as V)) return false;
    }
    return true;
  }

  /** Every path with a value, with it, parents before children. */
  *entries(): Generator<[string, V]> {
    const stack: Array<[string, Node<V>]> = [['', this.root]];
    while (stack.length > 0) {
      const [path, node] = stack.pop()!;
      if (node.set) yield [path, node.value as V];
      for (const [part, child] of node.children ?? []) {
        stack.push([path === '' ? part : `${path}/${part}`, child]);
      }
    }
  }

  private find(path: string): Node<V> | undefined {
    let node: Node<V> | undefined = this.root;
    for (const part of parts(path)) {
      node = node.children?.get(part);
      if (!node) return undefined;
    }
    return node;
  }
}

function parts(path: string): string[] {
  return path === '' ? [] : path.split('/');
}
