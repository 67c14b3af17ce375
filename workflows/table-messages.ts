import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { LsnText } from '../core/lsn/index.js';
import type { EpochCommit } from '../lake/state/types.js';

/** One sealed epoch of one table, waiting in the spool of the host whose queue is named. */
export interface EpochRequest {
  readonly table: string;
  readonly epoch: number;
  /** The table's spool directory on that host (holds source.json and e<epoch>/batch.json). */
  readonly spoolDir: string;
  readonly hostTaskQueue: string;
}

export interface TableActorInput {
  readonly table: string;
  /** Where the table stands in the lake when this run starts. */
  readonly epoch: number;
  readonly committedLsn: LsnText;
  readonly schemaVersion: number;
}

export interface TableActorState extends TableActorInput {
  readonly epochsThisRun: number;
  readonly lastCommit?: EpochCommit;
}

/** Commits one epoch; returns once it is in the lake. Update id `flush:<table>:<epoch>` makes a resend harmless. */
export const commitEpochUpdate = defineUpdate<EpochCommit, [EpochRequest]>('commitEpoch');
export const stateQuery = defineQuery<TableActorState>('state');
