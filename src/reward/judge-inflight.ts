/**
 * The judge's requests in flight, found by their messages without serializing or hashing them: a judge
 * without a cache needs no request key but to share one call between identical requests, and a key is a
 * few KiB of JSON and a sha256 per call, at thousands of calls a second. The table is a tree keyed by each
 * message's role, then its content, in turn, under a `scope` (which keyer, i.e. which constraint, the
 * request goes with). A key is found by its length, then compared: a text of KiBs is never hashed (a hash
 * reads the whole text; two texts of one length that differ usually do so within their first characters).
 * Only plain `{role, content}` messages can be found here (see {@link plainMessages}); a caller keys any
 * other request by its cache key.
 */

interface Node<T> {
  /** The key this node is found by under its parent. */
  key: string;
  value: T | undefined;
  /** Children by their key's length. */
  next: Map<number, Node<T>[]> | undefined;
}

/** Whether every message is a plain `{role, content}` object of two strings (what this table can hold). */
export function plainMessages(messages: readonly { role: string; content: string }[]): boolean {
  for (const m of messages) {
    const proto: unknown = Object.getPrototypeOf(m);
    if (proto !== Object.prototype && proto !== null) return false;
    if (typeof m.role !== 'string' || typeof m.content !== 'string') return false;
    let fields = 0;
    for (const _ in m) fields++;
    if (fields !== 2) return false;
  }
  return true;
}

/** The keys a request is found by: each message's role, then its content. */
export function pathOf(messages: readonly { role: string; content: string }[]): string[] {
  const path: string[] = [];
  for (const m of messages) path.push(m.role, m.content);
  return path;
}

/** Values by scope and path (see {@link pathOf}: taken once, so a caller changing its messages later changes nothing). */
export class InFlightTable<T> {
  private readonly roots = new Map<unknown, Node<T>>();

  get(scope: unknown, path: readonly string[]): T | undefined {
    let node = this.roots.get(scope);
    for (let i = 0; i < path.length && node !== undefined; i++) node = find(node, path[i]!);
    return node?.value;
  }

  set(scope: unknown, path: readonly string[], value: T): void {
    let node = this.roots.get(scope);
    if (node === undefined) {
      node = { key: '', value: undefined, next: undefined };
      this.roots.set(scope, node);
    }
    for (const key of path) node = find(node, key) ?? add(node, key);
    node.value = value;
  }

  /** Removes the entry, and the nodes left empty on its path. */
  delete(scope: unknown, path: readonly string[]): void {
    const root = this.roots.get(scope);
    if (root === undefined) return;
    const nodes: Node<T>[] = [root];
    for (const key of path) {
      const next = find(nodes[nodes.length - 1]!, key);
      if (next === undefined) return;
      nodes.push(next);
    }
    nodes[nodes.length - 1]!.value = undefined;
    for (let i = path.length; i > 0; i--) {
      const below = nodes[i]!;
      if (below.value !== undefined || (below.next !== undefined && below.next.size > 0)) return;
      remove(nodes[i - 1]!, below);
    }
    if (root.value === undefined && (root.next === undefined || root.next.size === 0))
      this.roots.delete(scope);
  }
}

function find<T>(node: Node<T>, key: string): Node<T> | undefined {
  const bucket = node.next?.get(key.length);
  if (bucket === undefined) return undefined;
  for (const child of bucket) if (child.key === key) return child;
  return undefined;
}

function add<T>(node: Node<T>, key: string): Node<T> {
  const child: Node<T> = { key, value: undefined, next: undefined };
  node.next ??= new Map();
  const bucket = node.next.get(key.length);
  if (bucket === undefined) node.next.set(key.length, [child]);
  else bucket.push(child);
  return child;
}

function remove<T>(node: Node<T>, child: Node<T>): void {
  const bucket = node.next?.get(child.key.length);
  if (bucket === undefined) return;
  const i = bucket.indexOf(child);
  if (i >= 0) bucket.splice(i, 1);
  if (bucket.length === 0) node.next!.delete(child.key.length);
}
