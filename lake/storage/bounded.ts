import type { ObjectStore } from './index.js';

/**
 * Many small storage calls at once, a bounded number in flight: a table's maintenance deletes thousands of
 * files and reads hundreds of manifest lists, each a round trip (a syscall on a disk, a request on S3) that
 * gains nothing from waiting for the one before, while thousands in flight would exhaust file handles or sockets.
 */
export const STORAGE_CALLS_IN_FLIGHT = 16;

/** `fn` over `items`, at most `limit` calls in flight; results in the items' order. The first error is thrown. */
export async function mapBounded<T, R>(
  items: readonly T[],
  fn: (item: T) => Promise<R>,
  limit: number = STORAGE_CALLS_IN_FLIGHT,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const at = next++;
      results[at] = await fn(items[at]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Deletes every key (a missing one is not an error, as `delete` says), a bounded number at a time. */
export async function deleteAll(store: ObjectStore, keys: readonly string[]): Promise<void> {
  await mapBounded(keys, (key) => store.delete(key));
}
