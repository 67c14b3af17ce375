import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import {
  compactionFilesRewritten,
  compactionRuns,
  compactionSeconds,
  filesDeleted,
  secondsSince,
  snapshotsExpired,
} from '../core/metrics/index.js';
import { workflowIds } from '../core/temporal/index.js';
import type { Logger } from '../core/log/index.js';
import {
  commitMaintenance,
  planTableMaintenance,
  rewritePart,
  type MaintenanceRequest,
  type MaintenanceResult,
  type TablePart,
  type TablePlan,
} from '../lake/compaction/maintain.js';
import type { CompactionThresholds } from '../lake/compaction/policy.js';
import type { TableRewrite } from '../lake/compaction/rewrite.js';
import { maintainUpdate } from '../workflows/compaction-messages.js';
import { asActivity } from './failures.js';
import type { LakeAccess } from './lake.js';

export interface CompactionActivityDeps {
  readonly log: Logger;
  readonly lake: () => Promise<LakeAccess>;
}

const HEARTBEAT_MS = 5_000;

/** Runs `body` while heartbeating every few seconds with what `progress` says, so a hung rewrite is noticed. */
async function heartbeating<T>(progress: () => unknown, body: () => Promise<T>): Promise<T> {
  const beat = setInterval(() => Context.current().heartbeat(progress()), HEARTBEAT_MS);
  try {
    return await body();
  } finally {
    clearInterval(beat);
  }
}

/** What one maintenance commit did, in the process's metrics. */
function recordMaintenance(result: MaintenanceResult): void {
  for (const commit of result.commits) {
    if (!commit.committed) continue;
    compactionRuns.inc({ outcome: 'committed' });
    compactionFilesRewritten.inc(commit.filesRemoved);
  }
  if (result.stale.length > 0) compactionRuns.inc({ outcome: 'stale' }, result.stale.length);
  for (const expiry of Object.values(result.expired)) {
    snapshotsExpired.inc(expiry.expiredSnapshots);
    filesDeleted.inc({ kind: 'data' }, expiry.deletedDataFiles);
    filesDeleted.inc({ kind: 'metadata' }, expiry.deletedMetadataFiles);
  }
  for (const count of Object.values(result.orphansDeleted)) filesDeleted.inc({ kind: 'orphan' }, count);
}

export function createCompactionActivities(deps: CompactionActivityDeps) {
  const commitWith = async (request: MaintenanceRequest): Promise<MaintenanceResult> => {
    const ctx = await (await deps.lake()).compaction();
    const started = performance.now();
    const result = await heartbeating(
      () => ({ table: request.table }),
      () => commitMaintenance(ctx, request),
    ).catch((error: unknown) => {
      compactionRuns.inc({ outcome: 'failed' });
      throw error;
    });
    compactionSeconds.observe({ step: 'commit' }, secondsSince(started));
    recordMaintenance(result);
    deps.log.info(
      { table: request.table, commits: result.commits.length, stale: result.stale },
      'compaction committed',
    );
    return result;
  };
  return {
    /** How due each part of the table is; reads the lake's metadata only. */
    async planCompaction(input: { table: string; thresholds: CompactionThresholds }): Promise<TablePlan> {
      return asActivity(async () =>
        planTableMaintenance(await (await deps.lake()).compaction(), input.table, input.thresholds),
      );
    },

    /** The heavy half: writes new files, commits nothing, so it runs beside the table's epochs. */
    async rewriteForCompaction(input: {
      table: string;
      part: TablePart;
      targetFileSizeBytes: number;
      changesSince?: string;
    }): Promise<TableRewrite | null> {
      return asActivity(async () => {
        let files = { written: 0, planned: 0 };
        const ctx = await (await deps.lake()).compaction();
        const started = performance.now();
        const rewrite = await heartbeating(
          () => ({ part: input.part, ...files }),
          () =>
            rewritePart(ctx, input.table, input.part, {
              targetFileSizeBytes: input.targetFileSizeBytes,
              ...(input.changesSince === undefined ? {} : { changesSince: input.changesSince }),
              onFile: (written, planned) => (files = { written, planned }),
            }),
        );
        compactionSeconds.observe({ step: 'rewrite' }, secondsSince(started));
        deps.log.info(
          { table: input.table, part: input.part, rows: rewrite?.rows, files: rewrite?.files.length },
          'compaction rewrite written',
        );
        return rewrite ?? null;
      });
    },

    /**
     * Hands the rewrites to the table's actor, which commits them between two epochs, and waits for its answer. A
     * retry re-attaches to the same Update (its id is the request's), so nothing commits twice.
     */
    async requestMaintenance(request: MaintenanceRequest): Promise<MaintenanceResult> {
      return asActivity(async () => {
        const { client } = Context.current();
        const handle = client.workflow.getHandle(workflowIds.table(request.table));
        const running = await handle.describe().then(
          (described) => described.status.name === 'RUNNING',
          (error: unknown) => {
            if (error instanceof WorkflowNotFoundError) return false;
            throw error;
          },
        );
        if (!running) {
          // No stream writes the table (`start` never ran, or the actor ended with it): nothing to wait for. The
          // commit is still a compare-and-swap on the table, so a stream starting meanwhile loses nothing.
          deps.log.info({ table: request.table }, 'no table actor is running: compaction commits directly');
          return commitWith(request);
        }
        return heartbeating(
          () => ({ waitingFor: workflowIds.table(request.table) }),
          () =>
            handle.executeUpdate(maintainUpdate, {
              args: [request],
              updateId: request.requestId,
            }),
        );
      });
    },

    /** Run by the actor, between two epochs: swaps the rewritten files in and expires old snapshots. */
    async commitMaintenance(request: MaintenanceRequest): Promise<MaintenanceResult> {
      return asActivity(() => commitWith(request));
    },
  };
}
