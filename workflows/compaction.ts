import { proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NON_RETRYABLE_CODES } from '../core/errors/catalog.js';
import type { TablePart, TablePlan } from '../lake/compaction/maintain.js';
import type { TableRewrite } from '../lake/compaction/rewrite.js';
import {
  compactionStateQuery,
  type CompactionInput,
  type CompactionPhase,
  type CompactionReport,
} from './compaction-messages.js';

const planning = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '1s',
    maximumInterval: '30s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
  },
});

// The rewrite reads and writes the whole table: bounded by heartbeats, not by a guess at its duration.
const rewriting = proxyActivities<Activities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '5s',
    maximumInterval: '5 minutes',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
  },
});

// Waits for the actor: at most one epoch commit ahead of it, then the commit itself.
const committing = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '2s',
    maximumInterval: '1 minute',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [...NON_RETRYABLE_CODES],
  },
});

/** The parts worth rewriting: due by the thresholds, or any part with files when forced. */
function partsToRewrite(plan: TablePlan, force: boolean): TablePart[] {
  const parts: TablePart[] = [];
  if (plan.state.due || (force && plan.state.dataFiles > 0)) parts.push('state');
  if (plan.changes && (plan.changes.due || (force && plan.changes.dataFiles > 0))) parts.push('changes');
  return parts;
}

/**
 * CompactionWorkflow `compact:<schema>.<table>`, started by the table's Temporal Schedule or `pg-cdc compact`:
 * plan (which parts are due), rewrite them (heartbeating activities that run while epochs keep committing), then
 * hand the rewrites to the table's actor, its single writer, which commits them between two epochs and expires
 * snapshots beyond `retain_snapshots`. A dry run stops after the plan.
 */
export async function compactionWorkflow(input: CompactionInput): Promise<CompactionReport> {
  const progress: { phase: CompactionPhase; plan?: TablePlan } = { phase: 'planning' };
  setHandler(compactionStateQuery, () => ({ ...progress }));
  const { settings } = input;
  const plan = await planning.planCompaction({
    table: input.table,
    thresholds: {
      targetFileSizeBytes: settings.targetFileSizeBytes,
      minSmallFiles: settings.minSmallFiles,
      minDeleteRatio: settings.minDeleteRatio,
    },
  });
  progress.plan = plan;
  const parts = partsToRewrite(plan, input.force === true);
  if (input.dryRun) {
    progress.phase = 'done';
    return { table: input.table, dryRun: true, plan, rewrite: parts };
  }

  progress.phase = 'rewriting';
  // Workflow time is deterministic: the retention cut is the same on every replay.
  const changesSince =
    settings.changelogRetentionMs > 0 ? new Date(Date.now() - settings.changelogRetentionMs).toISOString() : undefined;
  const rewrites: TableRewrite[] = [];
  for (const part of parts) {
    const rewrite = await rewriting.rewriteForCompaction({
      table: input.table,
      part,
      targetFileSizeBytes: settings.targetFileSizeBytes,
      ...(part === 'changes' && changesSince !== undefined ? { changesSince } : {}),
    });
    if (rewrite) rewrites.push(rewrite);
  }

  progress.phase = 'committing';
  const { workflowId, runId } = workflowInfo();
  const result = await committing.requestMaintenance({
    requestId: `${workflowId}:${runId}`,
    table: input.table,
    rewrites,
    retainSnapshots: settings.retainSnapshots,
    orphanGraceMs: settings.orphanGraceMs,
    ...(settings.retainVersions === undefined ? {} : { retainVersions: settings.retainVersions }),
  });
  progress.phase = 'done';
  return { table: input.table, dryRun: false, plan, rewrite: parts, result };
}
