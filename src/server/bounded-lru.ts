/**
 * Entries kept in memory within a count and a size (in characters), the least recently used going first:
 * what the servers' stores of responses and conversations share. A Map iterates in insertion order, so
 * re-inserting an entry on use keeps the least recently used first.
 */
export class BoundedLru<V> {
  private readonly entries = new Map<string, { value: V; size: number }>();
  private total = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxSize: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Whether `key` is kept (without counting as a use). */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The value, counting as a use. */
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Keeps `value` of `size`; one over the whole size bound (or with no room at all) is not kept. */
  set(key: string, value: V, size: number): boolean {
    if (this.maxEntries <= 0 || size > this.maxSize) return false;
    this.delete(key);
    this.entries.set(key, { value, size });
    this.total += size;
    this.evict(key);
    return true;
  }

  /** Records that the value of `key` grew (or shrank) by `delta`, evicting others if needed. */
  resize(key: string, delta: number): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    entry.size += delta;
    this.total += delta;
    this.evict(key);
  }

  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    this.entries.delete(key);
    this.total -= entry.size;
    return true;
  }

  /** Drops the least recently used entries until both bounds hold, never `keep`. */
  private evict(keep: string): void {
    for (const [oldest] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.total <= this.maxSize) break;
      if (oldest !== keep) this.delete(oldest);
      else if (this.entries.size === 1) break;
    }
  }
}
