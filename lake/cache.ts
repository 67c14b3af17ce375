/**
 * A bounded map for what never changes once written (metadata files, manifest versions, a snapshot's files): an
 * entry is keyed by the name that identifies it, so it is never stale, only evicted. The oldest entry goes first
 * when the map is full; a process that reads many tables re-reads some, and its memory stays bounded.
 */
export class BoundedCache<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly limit: number) {}

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  /** Stores `value` under `key` and returns it. */
  remember(key: K, value: V): V {
    if (!this.entries.has(key) && this.entries.size >= this.limit) {
      this.entries.delete(this.entries.keys().next().value as K);
    }
    this.entries.set(key, value);
    return value;
  }

  delete(key: K): void {
    this.entries.delete(key);
  }
}
