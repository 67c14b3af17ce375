import { proxyActivities, type RetryPolicy } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { SnapshotTable } from '../activities/snapshot.js';
import { NON_RETRYABLE_CODES } from '../core/errors/catalog.js';
import type { LsnText } from '../core/lsn/index.js';
import type { SnapshotExported } from './snapshot-messages.js';
import { inPool } from './pool.js';

export interface SnapshotTableInput {
  readonly table: SnapshotTable;
  /**
   * The snapshot the stream worker exported and holds open for this copy; `consistentPoint` is a position below
   * which every transaction committed is in it (read before waiting for the older transactions to end).
   */
  readonly snapshot: SnapshotExported;
  /**
   * What that snapshot sees, recorded with the base: its `pg_current_snapshot()` and the position read after it,
   * below which every transaction it sees committed. They say which streamed transactions belong on top.
   */
  readonly late: { readonly xids: string; readonly seenBelow: LsnText };
  readonly parallelWorkers: number;
}

export interface SnapshotTableResult {
  readonly table: string;
  readonly rows: number;
  readonly files: number;
  readonly snapshotId: string;
}

const RETRY: RetryPolicy = {
  initialInterval: '1s',
  maximumInterval: '30s',
  maximumAttempts: 5,
  nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
};

const control = proxyActivities<Activities>({ startToCloseTimeout: '5 minutes', retry: RETRY });
const copying = proxyActivities<Activities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '1 minute',
  retry: RETRY,
});

/**
 * The base of one table that joined while `pg-cdc start` streams (`snapshot-table:<schema>.<table>`): the same
 * chunks, copies and base commit as `init`'s snapshot, under a snapshot the stream worker exported and holds. The
 * stream worker spools the table's changes meanwhile and applies those the snapshot does not see on top
 * (docs/streaming.md, "Tables that join while streaming"). If the exporting transaction ends early, a copy fails
 * with SNAPSHOT_GONE and so does this workflow; the stream worker starts the table over with a new snapshot.
 */
export async function snapshotTableWorkflow(input: SnapshotTableInput): Promise<SnapshotTableResult> {
  const { table, snapshot } = input;
  const chunks = await control.planChunks([table]);
  const results = await inPool(chunks, input.parallelWorkers, (chunk) => copying.copyChunk({ chunk, table, snapshot }));
  return control.commitSnapshotTable({
    table,
    files: results.map((r) => r.dataFile),
    snapshot,
    late: input.late,
  });
}
