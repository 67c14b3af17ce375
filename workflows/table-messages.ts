import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ErrorCode } from '../core/errors/catalog.js';
import type { LsnText } from '../core/lsn/index.js';
import type { EpochCommit } from '../lake/state/types.js';

/** One sealed epoch of one table, waiting in the spool of the host whose queue is named. */
export interface EpochRequest {
  readonly table: string;
  readonly epoch: number;
  /** The table's spool directory on that host (holds source.json and e<epoch>/batch.json). */
  readonly spoolDir: string;
  readonly hostTaskQueue: string;
  /** Commit LSNs of the epoch's first and last transaction: where a failure of it holds the slot. */
  readonly firstLsn?: LsnText;
  readonly lastLsn?: LsnText;
}

/** The last failed commit of an epoch, until that epoch commits. */
export interface EpochFailure {
  readonly epoch: number;
  /** The error code (core/errors/catalog.ts); EPOCH_COMMIT_FAILED when the activity ended without one (timeout). */
  readonly code: ErrorCode;
  readonly message: string;
  readonly hint?: string;
  /** false: a retry cannot help until the cause is fixed (the catalog's permanent and bad-input codes). */
  readonly retryable: boolean;
  readonly firstLsn?: LsnText;
  readonly lastLsn?: LsnText;
  readonly at: string;
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
  /** Set while the table's next epoch has failed; cleared when it commits. */
  readonly failure?: EpochFailure;
}

/**
 * Commits one epoch; returns once it is in the lake. Update id `flush:<table>:<epoch>:<sender>` (core/temporal): a
 * sender's resend attaches to its own update; another sender's waits for it and finds the epoch committed.
 */
export const commitEpochUpdate = defineUpdate<EpochCommit, [EpochRequest]>('commitEpoch');
export const stateQuery = defineQuery<TableActorState>('state');
