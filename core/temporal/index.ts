/**
 * Names shared by workflows, workers and clients. Workflow ids are deterministic so that starting the same
 * piece of work twice finds the running (or finished) execution instead of doing it again.
 */
export const DEFAULT_TASK_QUEUE = 'pg-cdc';

export * from './search-attributes.js';

/**
 * Temporal Schedule ids: one compaction schedule per table, whose runs are `compact:<table>-<time>`; one ACL sync
 * schedule per source database, whose runs are `acl-sync:<db>-<time>`.
 */
export const scheduleIds = {
  compaction: (qualifiedName: string) => `compact:${qualifiedName}`,
  aclSync: (database: string) => `acl-sync:${database}`,
  /** One per lake: the source database the lake replicates. */
  promotion: (database: string) => `promote:${database}`,
} as const;

export const workflowIds = {
  preflight: (slot: string) => `preflight:${slot}`,
  snapshot: (slot: string) => `snapshot:${slot}`,
  /** The snapshot of one table that joined while `pg-cdc start` streams. */
  snapshotTable: (qualifiedName: string) => `snapshot-table:${qualifiedName}`,
  table: (qualifiedName: string) => `table:${qualifiedName}`,
  /**
   * The id of an epoch's `commitEpoch` Update, per sender (a stream worker's run, and its resends after a failed
   * update): a failed update keeps its outcome under its id, so a sender that tries again needs a new one. The actor
   * commits each epoch once whoever sends it.
   */
  flush: (qualifiedName: string, epoch: number, sender: string) => `flush:${qualifiedName}:${epoch}:${sender}`,
  breakGlass: (principal: string, resource: string) => `breakglass:${principal}:${resource}`,
  compaction: (qualifiedName: string) => `compact:${qualifiedName}`,
  aclSync: (database: string) => `acl-sync:${database}`,
  /** One per lake: the source database the lake replicates. */
  promotion: (database: string) => `promote:${database}`,
} as const;
