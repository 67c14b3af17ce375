import { casConflicts, storageBytesWritten, storageRequests, timeStage } from '../../core/metrics/index.js';
import type { ObjectStore } from './index.js';

/**
 * The store every caller gets from `openLake`, counting what it asks of the real one: requests by operation (S3
 * bills each), bytes written, writes timed as the `object_put` sink stage, and lost `putIfAbsent` races as
 * compare-and-swap conflicts. Behaviour is the wrapped store's, unchanged.
 */
export function instrumentStore(store: ObjectStore): ObjectStore {
  const labels = (op: string) => ({ store: store.kind, op });
  const size = (body: Uint8Array | string): number =>
    typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  return {
    kind: store.kind,
    // The store's own counts (by billing kind, S3 only) stay the store's; these families count by operation.
    uri: (key) => store.uri(key),
    keyOf: (uri) => store.keyOf(uri),
    localPath: (key) => store.localPath(key),
    readPath: (key) => store.readPath(key),
    readRoot: store.readRoot,
    duckdbSetup: () => store.duckdbSetup(),
    stagingPath: (key) => store.stagingPath(key),
    async publishStaged(key, path) {
      storageRequests.inc(labels('publish'));
      await timeStage('object_put', () => store.publishStaged(key, path));
    },
    requestCounts: () => store.requestCounts(),
    async put(key, body) {
      storageRequests.inc(labels('put'));
      await timeStage('object_put', () => store.put(key, body));
      storageBytesWritten.inc({ store: store.kind }, size(body));
    },
    async putIfAbsent(key, body) {
      storageRequests.inc(labels('put_if_absent'));
      const created = await timeStage('object_put', () => store.putIfAbsent(key, body));
      if (created) storageBytesWritten.inc({ store: store.kind }, size(body));
      else casConflicts.inc({ kind: 'object' });
      return created;
    },
    get(key) {
      storageRequests.inc(labels('get'));
      return store.get(key);
    },
    list(prefix) {
      storageRequests.inc(labels('list'));
      return store.list(prefix);
    },
    delete(key) {
      storageRequests.inc(labels('delete'));
      return store.delete(key);
    },
    exists(key) {
      storageRequests.inc(labels('head'));
      return store.exists(key);
    },
    modifiedAt(key) {
      storageRequests.inc(labels('head'));
      return store.modifiedAt(key);
    },
  };
}
