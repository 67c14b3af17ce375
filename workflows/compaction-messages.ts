import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { MaintenanceRequest, MaintenanceResult, TablePart, TablePlan } from '../lake/compaction/maintain.js';

/**
 * The compaction workflow `compact:<schema>.<table>` and the table actor's `maintain` Update it reaches the table's
 * single writer through. Settings travel in the input: the schedule's action carries them as `init`/`start` last
 * wrote it from `compaction.*`, and `pg-cdc compact` passes the config it loaded.
 */
export interface CompactionSettings {
  readonly targetFileSizeBytes: number;
  readonly minSmallFiles: number;
  readonly minDeleteRatio: number;
  readonly retainSnapshots: number;
  /** Changes older than this leave the changelog at a rewrite; 0 keeps them all. */
  readonly changelogRetentionMs: number;
  /** Unreferenced files younger than this are left alone: a commit in flight may still reference them. */
  readonly orphanGraceMs: number;
  /** Manifest and catalog versions kept by count; absent in the settings a schedule of an older pg-cdc carries. */
  readonly retainVersions?: number;
}

export interface CompactionInput {
  readonly table: string;
  readonly settings: CompactionSettings;
  /** Plan and report only: nothing is written. */
  readonly dryRun?: boolean;
  /** Rewrite even a part the thresholds do not call due. */
  readonly force?: boolean;
}

export interface CompactionReport {
  readonly table: string;
  readonly dryRun: boolean;
  readonly plan: TablePlan;
  /** The parts rewritten (or that would be, in a dry run). */
  readonly rewrite: readonly TablePart[];
  /** undefined in a dry run. */
  readonly result?: MaintenanceResult;
}

export type CompactionPhase = 'planning' | 'rewriting' | 'committing' | 'done';

/** The actor commits a compaction's rewrites and expires snapshots between two epochs. */
export const maintainUpdate = defineUpdate<MaintenanceResult, [MaintenanceRequest]>('maintain');

export const compactionStateQuery = defineQuery<{ readonly phase: CompactionPhase; readonly plan?: TablePlan }>(
  'state',
);
