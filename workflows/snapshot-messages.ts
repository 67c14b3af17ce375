import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { LsnText } from '../core/lsn/index.js';

/** What the snapshot-holding activity tells its workflow once the slot exists and its snapshot is exported. */
export interface SnapshotExported {
  readonly slot: string;
  readonly consistentPoint: LsnText;
  readonly snapshotName: string;
}

export interface TableProgress {
  readonly table: string;
  readonly chunksTotal: number;
  readonly chunksDone: number;
  readonly rowsDone: number;
  readonly estimatedRows: number;
}

/**
 * A copyChunk activity's heartbeat details: how far its copy has got. `init` adds them to the finished chunks' rows
 * for its progress, and the Temporal UI shows them on the pending activity.
 */
export interface ChunkHeartbeat {
  readonly table: string;
  readonly chunk: number;
  readonly rowsCopied: number;
}

export interface SnapshotProgress {
  readonly phase: 'preflight' | 'publication' | 'exporting' | 'copying' | 'committing' | 'done' | 'restarting';
  readonly attempt: number;
  readonly consistentPoint?: LsnText;
  readonly tables: readonly TableProgress[];
}

export const snapshotExportedSignal = defineSignal<[SnapshotExported]>('snapshotExported');
export const progressQuery = defineQuery<SnapshotProgress>('progress');
