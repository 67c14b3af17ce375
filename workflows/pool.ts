/**
 * Run `work` over `items` with at most `limit` in flight, keeping result order. Deterministic: the order in which
 * activities are scheduled depends only on the inputs and on the order in which results come back, which
 * Temporal replays exactly.
 */
export async function inPool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return results;
}
