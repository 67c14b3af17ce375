import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client } from '@temporalio/client';
import { parseDuration, type PgCdcConfig } from '../core/config/index.js';
import type { Logger } from '../core/log/index.js';
import { scheduleIds, searchAttributesOf, workflowIds } from '../core/temporal/index.js';
import type { CompactionInput, CompactionSettings } from '../workflows/compaction-messages.js';
import type { compactionWorkflow } from '../workflows/compaction.js';

/**
 * Compaction as `init`, `start` and `compact` set it up: its settings from `compaction.*`, and one Temporal
 * Schedule per table (`compact:<schema>.<table>`) that starts the table's compaction workflow every
 * `compaction.schedule`. Ops pause, trigger or backfill them in the Temporal UI or with `temporal schedule`.
 */
export function compactionSettings(config: PgCdcConfig): CompactionSettings {
  const { compaction } = config;
  return {
    targetFileSizeBytes: compaction.target_file_size_bytes,
    minSmallFiles: compaction.min_small_files,
    minDeleteRatio: compaction.min_delete_ratio,
    retainSnapshots: compaction.retain_snapshots,
    changelogRetentionMs: compaction.changelog_retention === 0 ? 0 : parseDuration(compaction.changelog_retention),
    orphanGraceMs: parseDuration(compaction.orphan_grace),
    retainVersions: compaction.retain_versions,
  };
}

export function compactionInput(config: PgCdcConfig, table: string, options: Partial<CompactionInput> = {}) {
  return { ...options, table, settings: compactionSettings(config) } satisfies CompactionInput;
}

/**
 * Creates each table's schedule, or brings an existing one up to the current settings (a schedule an operator
 * paused stays paused: only its interval and its action's input change).
 */
export async function ensureCompactionSchedules(options: {
  client: Client;
  config: PgCdcConfig;
  taskQueue: string;
  tables: readonly string[];
  log: Logger;
}): Promise<void> {
  const { client, config, taskQueue, log } = options;
  const every = config.compaction.schedule;
  for (const table of options.tables) {
    const scheduleId = scheduleIds.compaction(table);
    const action = {
      type: 'startWorkflow' as const,
      workflowType: 'compactionWorkflow',
      // The schedule adds the start time to this id: `compact:<table>-<time>`.
      workflowId: workflowIds.compaction(table),
      taskQueue,
      args: [compactionInput(config, table)] as Parameters<typeof compactionWorkflow>,
      typedSearchAttributes: searchAttributesOf({ kind: 'compaction', table }),
    };
    const spec = { intervals: [{ every }] };
    try {
      // A run still going when the next is due is not doubled: the next waits for the interval after.
      await client.schedule.create({ scheduleId, spec, action, policies: { overlap: 'SKIP' } });
      log.info({ table, scheduleId, every }, 'compaction schedule created');
    } catch (error) {
      if (!(error instanceof ScheduleAlreadyRunning)) throw error;
      await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
      log.debug({ table, scheduleId, every }, 'compaction schedule updated');
    }
  }
}

/** Deletes the tables' schedules (the lake they compacted is gone); a schedule already gone is no error. */
export async function deleteCompactionSchedules(client: Client, tables: readonly string[]): Promise<number> {
  let deleted = 0;
  for (const table of tables) {
    try {
      await client.schedule.getHandle(scheduleIds.compaction(table)).delete();
      deleted++;
    } catch (error) {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
    }
  }
  return deleted;
}
