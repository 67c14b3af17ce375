import { defineQuery, defineSignal } from '@temporalio/workflow';

/** What the snapshot-holding activity tells its workflow once the slot exists and its snapshot is exported. */
export interface SnapshotExported {
  readonly slot: string;
  readonly consistentPoint: string;
  readonly snapshotName: string;
}

export interface TableProgress {
  readonly table: string;
  readonly chunksTotal: number;
  readonly chunksDone: number;
  readonly rowsDone: number;
  readonly estimatedRows: number;
}

export interface SnapshotProgress {
  readonly phase: 'preflight' | 'publication' | 'exporting' | 'copying' | 'committing' | 'done' | 'restarting';
  readonly attempt: number;
  readonly consistentPoint?: string;
  readonly tables: readonly TableProgress[];
}

export const snapshotExportedSignal = defineSignal<[SnapshotExported]>('snapshotExported');
export const progressQuery = defineQuery<SnapshotProgress>('progress');
