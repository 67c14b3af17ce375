/**
 * What `init` shows while the snapshot runs: the workflow's count of finished chunks (its progress query) plus the
 * rows the running chunks report in their heartbeats.
 */
import { defaultPayloadConverter, type WorkflowHandle } from '@temporalio/client';
import type { ChunkHeartbeat, SnapshotProgress } from '../workflows/snapshot-messages.js';
import type { ProgressItem } from './progress.js';

type PendingActivity = NonNullable<Awaited<ReturnType<WorkflowHandle['describe']>>['raw']['pendingActivities']>[number];

/** Rows copied so far by the chunks still running, by table: from their last heartbeats (none before the first). */
export function rowsInFlight(pending: readonly PendingActivity[]): Map<string, number> {
  const rows = new Map<string, number>();
  for (const activity of pending) {
    const details = activity.heartbeatDetails?.payloads?.[0];
    if (activity.activityType?.name !== 'copyChunk' || !details) continue;
    const beat = defaultPayloadConverter.fromPayload<Partial<ChunkHeartbeat> | null>(details);
    // A worker of an earlier version heartbeats the chunk number alone.
    if (typeof beat?.table !== 'string' || typeof beat.rowsCopied !== 'number') continue;
    rows.set(beat.table, (rows.get(beat.table) ?? 0) + beat.rowsCopied);
  }
  return rows;
}

export const toItems = (progress: SnapshotProgress, inFlight: ReadonlyMap<string, number>): ProgressItem[] =>
  progress.tables.map((table) => ({
    label: table.table,
    done: table.rowsDone + (inFlight.get(table.table) ?? 0),
    total: table.estimatedRows,
    finished: table.chunksTotal > 0 && table.chunksDone === table.chunksTotal,
    detail: `chunks ${table.chunksDone}/${table.chunksTotal}`,
  }));
